#include "placement/placement.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <unordered_set>

namespace tessera {

namespace {

constexpr int kMaxWidth = 32;
constexpr uint64_t kDomainSeed = 0x6a09e667f3bcc908;
constexpr uint64_t kDriveSeed = 0xbb67ae8584caa73b;
constexpr uint64_t kStripeSeed = 0x3c6ef372fe94f82b;

// MurmurHash3's 64-bit finalizer: a bijection with full avalanche.
inline uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

inline uint64_t stripe_hash(uint64_t stripe_key) { return mix(stripe_key ^ kStripeSeed); }

// u in (0, 1) from the top 53 bits of a hash.
inline double unit(uint64_t hash) { return (static_cast<double>(hash >> 11) + 0.5) * 0x1.0p-53; }

// Lower is better: an exponential variate with rate `weight`, so P(a domain wins) follows weight.
inline double score(uint64_t hash, double weight) { return -std::log(unit(hash)) / weight; }

// Every hash whose score can be below `limit` for `weight` is >= the returned threshold
// (score < limit <=> u > exp(-limit * weight)); a small margin keeps it conservative.
inline uint64_t hash_threshold(double limit, double weight) {
  if (!(limit < std::numeric_limits<double>::infinity())) return 0;
  double u = std::exp(-limit * weight) * (1 - 1e-9);
  double scaled = u * 0x1.0p64;
  if (scaled >= 0x1.0p64) return std::numeric_limits<uint64_t>::max();
  return scaled <= 0 ? 0 : static_cast<uint64_t>(scaled);
}

}  // namespace

Result<Placement> Placement::create(std::span<const DriveInfo> drives, int width) {
  if (width < 1 || width > kMaxWidth) {
    return error(StatusCode::kInvalidArgument, "stripe width {} is outside 1..{}", width,
                 kMaxWidth);
  }
  Placement placement;
  placement.width_ = width;
  std::vector<const DriveInfo*> eligible;
  for (const DriveInfo& drive : drives) {
    if (!placement.domain_of_drive_.emplace(drive.id, drive.failure_domain).second) {
      return error(StatusCode::kInvalidArgument, "drive {} is listed twice", drive.id);
    }
    if (drive.state == DriveState::kActive && drive.has_space && drive.capacity_bytes > 0) {
      eligible.push_back(&drive);
    }
  }
  // Group by domain (ordered by id for determinism), then order domains by weight.
  std::sort(eligible.begin(), eligible.end(), [](const DriveInfo* a, const DriveInfo* b) {
    return std::tie(a->failure_domain, a->id) < std::tie(b->failure_domain, b->id);
  });
  std::vector<Domain> domains;
  std::vector<Drive> grouped;
  for (size_t i = 0; i < eligible.size();) {
    Domain domain{eligible[i]->failure_domain,
                  mix(eligible[i]->failure_domain.value() ^ kDomainSeed), 0,
                  static_cast<uint32_t>(grouped.size()), 0};
    for (; i < eligible.size() && eligible[i]->failure_domain == domain.id; ++i) {
      double weight = static_cast<double>(eligible[i]->capacity_bytes) / kGiB;
      grouped.push_back(Drive{eligible[i]->id, mix(eligible[i]->id.value() ^ kDriveSeed), weight});
      domain.weight += weight;
      ++domain.drive_count;
    }
    domains.push_back(domain);
  }
  if (domains.size() < static_cast<size_t>(width)) {
    return error(StatusCode::kFailedPrecondition,
                 "a stripe of width {} needs {} failure domains with free space; there are {}",
                 width, width, domains.size());
  }
  std::stable_sort(domains.begin(), domains.end(),
                   [](const Domain& a, const Domain& b) { return a.weight < b.weight; });
  for (uint32_t i = 0; i < domains.size(); ++i) {
    if (placement.classes_.empty() || placement.classes_.back().weight != domains[i].weight) {
      placement.classes_.push_back(WeightClass{i, i, domains[i].weight});
    }
    placement.classes_.back().end = i + 1;
    placement.domain_index_.emplace(domains[i].id, i);
  }
  placement.domains_ = std::move(domains);
  placement.drives_ = std::move(grouped);
  return placement;
}

void Placement::rank_domains(uint64_t hash, std::span<Ranked> best,
                             std::span<const uint32_t> excluded) const {
  const size_t wanted = best.size();
  size_t count = 0;
  double limit = std::numeric_limits<double>::infinity();
  for (const WeightClass& weight_class : classes_) {
    uint64_t threshold = hash_threshold(limit, weight_class.weight);
    for (uint32_t i = weight_class.begin; i < weight_class.end; ++i) {
      uint64_t h = mix(hash ^ domains_[i].salt);
      if (h < threshold) continue;
      if (std::find(excluded.begin(), excluded.end(), i) != excluded.end()) continue;
      double s = score(h, weight_class.weight);
      if (count == wanted && s >= limit) continue;
      size_t position = std::min(count, wanted - 1);
      while (position > 0 && best[position - 1].score > s) {
        best[position] = best[position - 1];
        --position;
      }
      best[position] = Ranked{s, i};
      if (count < wanted) ++count;
      if (count == wanted) {
        limit = best[wanted - 1].score;
        threshold = hash_threshold(limit, weight_class.weight);
      }
    }
  }
  TESS_ASSERT(count == wanted, "ranked {} of {} domains", count, wanted);
}

DriveId Placement::best_drive(uint64_t hash, const Domain& domain) const {
  if (domain.drive_count == 1) return drives_[domain.first_drive].id;
  double best_score = std::numeric_limits<double>::infinity();
  DriveId best;
  for (uint32_t i = domain.first_drive; i < domain.first_drive + domain.drive_count; ++i) {
    double s = score(mix(hash ^ drives_[i].salt), drives_[i].weight);
    if (s < best_score) {
      best_score = s;
      best = drives_[i].id;
    }
  }
  return best;
}

void Placement::choose(uint64_t stripe_key, std::span<DriveId> out) const {
  TESS_ASSERT(out.size() == static_cast<size_t>(width_), "choose into {} slots, width {}",
              out.size(), width_);
  std::array<Ranked, kMaxWidth> best;
  uint64_t hash = stripe_hash(stripe_key);
  rank_domains(hash, std::span(best.data(), out.size()), {});
  for (size_t i = 0; i < out.size(); ++i) out[i] = best_drive(hash, domains_[best[i].domain]);
}

std::vector<DriveId> Placement::choose(uint64_t stripe_key) const {
  std::vector<DriveId> out(width_);
  choose(stripe_key, out);
  return out;
}

bool Placement::chooses_domain(uint64_t stripe_key, size_t domain_index) const {
  TESS_ASSERT(domain_index < domains_.size(), "domain index {} of {}", domain_index,
              domains_.size());
  uint64_t hash = stripe_hash(stripe_key);
  const Domain& target = domains_[domain_index];
  double target_score = score(mix(hash ^ target.salt), target.weight);
  int better = 0;
  for (const WeightClass& weight_class : classes_) {
    uint64_t threshold = hash_threshold(target_score, weight_class.weight);
    for (uint32_t i = weight_class.begin; i < weight_class.end; ++i) {
      uint64_t h = mix(hash ^ domains_[i].salt);
      if (h < threshold || i == domain_index) continue;
      if (score(h, weight_class.weight) < target_score && ++better >= width_) return false;
    }
  }
  return true;
}

int Placement::domain_index(FailureDomainId domain) const {
  auto it = domain_index_.find(domain);
  return it == domain_index_.end() ? -1 : static_cast<int>(it->second);
}

Result<FailureDomainId> Placement::domain_of(DriveId drive) const {
  auto it = domain_of_drive_.find(drive);
  if (it == domain_of_drive_.end()) {
    return error(StatusCode::kNotFound, "drive {} is not in the map", drive);
  }
  return it->second;
}

Result<DriveId> Placement::replacement(uint64_t stripe_key, std::span<const DriveId> columns,
                                       int column) const {
  TESS_ASSERT(column >= 0 && static_cast<size_t>(column) < columns.size(), "column {} of {}",
              column, columns.size());
  std::array<uint32_t, kMaxWidth> excluded;
  size_t excluded_count = 0;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (static_cast<int>(i) == column) continue;
    TESS_ASSIGN_OR_RETURN(FailureDomainId domain, domain_of(columns[i]));
    int index = domain_index(domain);
    if (index >= 0) excluded[excluded_count++] = static_cast<uint32_t>(index);
  }
  if (domains_.size() <= excluded_count) {
    return error(StatusCode::kFailedPrecondition,
                 "no failure domain with free space is left for column {} of stripe {}", column,
                 stripe_key);
  }
  std::array<Ranked, 1> best;
  uint64_t hash = stripe_hash(stripe_key);
  rank_domains(hash, best, std::span(excluded.data(), excluded_count));
  return best_drive(hash, domains_[best[0].domain]);
}

std::vector<ColumnMove> Placement::plan_moves(uint64_t stripe_key,
                                              std::span<const DriveId> columns) const {
  TESS_ASSERT(columns.size() == static_cast<size_t>(width_), "{} columns, width {}", columns.size(),
              width_);
  std::array<DriveId, kMaxWidth> target;
  choose(stripe_key, std::span(target.data(), columns.size()));
  auto chosen = std::span(target.data(), columns.size());
  std::vector<DriveId> entering;
  for (DriveId drive : chosen) {
    if (std::find(columns.begin(), columns.end(), drive) == columns.end()) {
      entering.push_back(drive);
    }
  }
  std::vector<ColumnMove> moves;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (std::find(chosen.begin(), chosen.end(), columns[i]) != chosen.end()) continue;
    TESS_ASSERT(moves.size() < entering.size(), "more displaced columns than entering drives");
    moves.push_back(ColumnMove{static_cast<int>(i), columns[i], entering[moves.size()]});
  }
  return moves;
}

uint64_t usable_capacity_bytes(uint64_t raw_bytes, size_t failure_domains, size_t hot_spare,
                               int data_columns, int parity_columns, double overhead_fraction) {
  if (failure_domains == 0 || hot_spare >= failure_domains) return 0;
  double usable = static_cast<double>(raw_bytes) *
                  static_cast<double>(failure_domains - hot_spare) /
                  static_cast<double>(failure_domains) * data_columns /
                  (data_columns + parity_columns) * (1 - overhead_fraction);
  return static_cast<uint64_t>(usable);
}

std::vector<RebuildGroup> rebuild_order(std::span<const StripeColumns> stripes,
                                        std::span<const DriveId> failed_drives, int parity) {
  std::unordered_set<DriveId> failed(failed_drives.begin(), failed_drives.end());
  std::vector<RebuildGroup> groups;
  for (size_t s = 0; s < stripes.size(); ++s) {
    int lost = 0;
    for (DriveId drive : stripes[s].drives) lost += failed.contains(drive) ? 1 : 0;
    if (lost == 0) continue;
    auto group = std::find_if(groups.begin(), groups.end(),
                              [lost](const RebuildGroup& g) { return g.lost_columns == lost; });
    if (group == groups.end()) {
      groups.push_back(RebuildGroup{lost, lost <= parity, {}});
      group = groups.end() - 1;
    }
    group->stripes.push_back(s);
  }
  std::sort(groups.begin(), groups.end(), [](const RebuildGroup& a, const RebuildGroup& b) {
    return a.lost_columns > b.lost_columns;
  });
  return groups;
}

}  // namespace tessera
