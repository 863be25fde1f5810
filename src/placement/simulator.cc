#include "placement/simulator.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <thread>
#include <vector>

#include "base/units.h"
#include "placement/placement.h"
#include "protect/stripe_geometry.h"

namespace tessera {

namespace {

constexpr uint64_t kDriveCapacityBytes = uint64_t{8} * 1024 * kGiB;
constexpr uint64_t kRebuildColumnsPerBackend = 10'000;
constexpr uint64_t kDefaultMovementStripes = 250'000;

struct Cluster {
  std::vector<DriveInfo> drives;  // Drive id = index + 1.
  uint32_t drives_per_backend;
  uint32_t backend_of(DriveId drive) const { return (drive.value() - 1) / drives_per_backend; }
};

// `backends` backends; backend b lives in failure domain b mod `domains` (or its own if 0).
Cluster make_cluster(uint32_t backends, uint32_t drives_per_backend, uint32_t domains) {
  Cluster cluster{{}, drives_per_backend};
  for (uint32_t b = 0; b < backends; ++b) {
    uint32_t domain = domains == 0 ? b : b % domains;
    for (uint32_t j = 0; j < drives_per_backend; ++j) {
      auto id = static_cast<uint32_t>(cluster.drives.size() + 1);
      cluster.drives.push_back(
          DriveInfo{DriveId(id), HostId(b + 1), FailureDomainId(domain + 1), kDriveCapacityBytes});
    }
  }
  return cluster;
}

// Runs body(first, last, thread_index) over [0, count) split into `threads` ranges.
template <typename Body>
void parallel_ranges(uint64_t count, uint32_t threads, Body body) {
  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < threads; ++t) {
    uint64_t first = count * t / threads, last = count * (t + 1) / threads;
    workers.emplace_back([=, &body] { body(first, last, t); });
  }
  for (auto& worker : workers) worker.join();
}

struct FillAndMovement {
  std::vector<uint64_t> columns_per_drive;  // Before the addition, by drive index.
  uint64_t moved = 0;
  uint64_t moved_to_new = 0;
};

FillAndMovement fill_and_movement(const Placement& before, const Placement& after,
                                  uint64_t old_drive_count, const PlacementSimOptions& options) {
  const int width = options.data_columns + options.parity_columns;
  std::vector<FillAndMovement> partial(options.threads);
  parallel_ranges(options.stripes, options.threads, [&](uint64_t first, uint64_t last, uint32_t t) {
    FillAndMovement& mine = partial[t];
    mine.columns_per_drive.assign(old_drive_count, 0);
    std::vector<DriveId> old_columns(width), new_columns(width);
    for (uint64_t key = first; key < last; ++key) {
      before.choose(key, old_columns);
      for (DriveId d : old_columns) ++mine.columns_per_drive[d.value() - 1];
      if (key >= options.movement_stripes) continue;
      after.choose(key, new_columns);
      for (DriveId d : new_columns) {
        if (std::find(old_columns.begin(), old_columns.end(), d) != old_columns.end()) continue;
        ++mine.moved;
        mine.moved_to_new += d.value() > old_drive_count ? 1 : 0;
      }
    }
  });
  FillAndMovement total{std::vector<uint64_t>(old_drive_count, 0), 0, 0};
  for (const auto& p : partial) {
    for (size_t d = 0; d < old_drive_count; ++d)
      total.columns_per_drive[d] += p.columns_per_drive[d];
    total.moved += p.moved;
    total.moved_to_new += p.moved_to_new;
  }
  return total;
}

// What the population scan counts: backend 0's rebuild and the exposure to the failed domains.
struct PopulationCounts {
  std::vector<uint64_t> reads;   // By backend: surviving columns read to rebuild backend 0.
  std::vector<uint64_t> writes;  // By backend: rebuilt columns written.
  uint64_t affected = 0;         // Stripes with a column on backend 0.
  uint64_t losing_2 = 0;         // Stripes with columns in failed_domains[0] and [1].
  uint64_t losing_3 = 0;         // ... and in failed_domains[2].
  bool replacement_missing = false;
};

// The inputs every stripe of the scan needs.
struct ScanContext {
  const Placement& placement;
  const Placement& without_backend0;
  const Cluster& cluster;
  const PlacementSimOptions& options;
};

// 0-based domain number of a drive (domain ids are number + 1, see make_cluster).
uint32_t domain_number(const Cluster& cluster, DriveId drive) {
  return cluster.drives[drive.value() - 1].failure_domain.value() - 1;
}

// Backend 0 fails: read the first K survivors in rank order, write the lost column to its
// replacement. A stripe may use backend 0's domain without using backend 0 (racks).
void count_rebuild(const ScanContext& context, uint64_t key, std::span<const DriveId> columns,
                   PopulationCounts& counts) {
  int lost = -1;
  for (size_t c = 0; c < columns.size(); ++c) {
    if (context.cluster.backend_of(columns[c]) == 0) lost = static_cast<int>(c);
  }
  if (lost < 0) return;
  ++counts.affected;
  int read = 0;
  for (size_t c = 0; c < columns.size() && read < context.options.data_columns; ++c) {
    if (static_cast<int>(c) == lost) continue;
    ++counts.reads[context.cluster.backend_of(columns[c])];
    ++read;
  }
  auto replacement = context.without_backend0.replacement(key, columns, lost);
  if (!replacement.ok()) {
    counts.replacement_missing = true;
    return;
  }
  ++counts.writes[context.cluster.backend_of(*replacement)];
}

void count_loss(const ScanContext& context, std::span<const DriveId> columns,
                PopulationCounts& counts) {
  const auto& failed = context.options.failed_domains;
  bool second = false, third = false;
  for (DriveId d : columns) {
    uint32_t domain = domain_number(context.cluster, d);
    second |= domain == failed[1];
    third |= domain == failed[2];
  }
  counts.losing_2 += second ? 1 : 0;
  counts.losing_3 += second && third ? 1 : 0;
}

// One pass over the population: only stripes that use backend 0's domain or the first failed
// domain are placed in full (chooses_domain rejects the others after a few domains).
PopulationCounts scan_population(const ScanContext& context, uint32_t backends) {
  const PlacementSimOptions& options = context.options;
  const size_t width =
      static_cast<size_t>(options.data_columns) + static_cast<size_t>(options.parity_columns);
  int rebuild_domain = context.placement.domain_index(context.cluster.drives[0].failure_domain);
  int loss_domain = context.placement.domain_index(FailureDomainId(options.failed_domains[0] + 1));
  TESS_ASSERT(rebuild_domain >= 0 && loss_domain >= 0, "simulated domains are not eligible");
  std::vector<PopulationCounts> partial(options.threads);
  parallel_ranges(options.rebuild_stripes, options.threads,
                  [&](uint64_t first, uint64_t last, uint32_t t) {
                    PopulationCounts& mine = partial[t];
                    mine.reads.assign(backends, 0);
                    mine.writes.assign(backends, 0);
                    std::vector<DriveId> columns(width);
                    for (uint64_t key = first; key < last; ++key) {
                      bool rebuild = context.placement.chooses_domain(key, rebuild_domain);
                      bool loss = loss_domain == rebuild_domain
                                      ? rebuild
                                      : context.placement.chooses_domain(key, loss_domain);
                      if (!rebuild && !loss) continue;
                      context.placement.choose(key, columns);
                      if (rebuild) count_rebuild(context, key, columns, mine);
                      if (loss) count_loss(context, columns, mine);
                    }
                  });
  PopulationCounts total{std::vector<uint64_t>(backends, 0), std::vector<uint64_t>(backends, 0)};
  for (const auto& p : partial) {
    for (uint32_t b = 0; b < backends; ++b) {
      total.reads[b] += p.reads[b];
      total.writes[b] += p.writes[b];
    }
    total.affected += p.affected;
    total.losing_2 += p.losing_2;
    total.losing_3 += p.losing_3;
    total.replacement_missing |= p.replacement_missing;
  }
  return total;
}

Status validate(PlacementSimOptions& options) {
  if (options.backends < 1) return Status(StatusCode::kInvalidArgument, "--backends must be >= 1");
  if (options.drives_per_backend < 1) {
    return Status(StatusCode::kInvalidArgument, "--drives-per-backend must be >= 1");
  }
  if (options.stripes < 1) return Status(StatusCode::kInvalidArgument, "--stripes must be >= 1");
  TESS_RETURN_IF_ERROR(
      (StripeGeometry{options.data_columns, options.parity_columns, 1}.validate()));
  uint32_t domains = options.failure_domains == 0
                         ? options.backends
                         : std::min(options.failure_domains, options.backends);
  int width = options.data_columns + options.parity_columns;
  if (domains < static_cast<uint32_t>(width) || domains < 3) {
    return error(StatusCode::kInvalidArgument,
                 "{}+{} needs at least {} failure domains (and the loss figures 3); there are {}",
                 options.data_columns, options.parity_columns, width, domains);
  }
  if (options.add_backends < 0) {
    options.add_backends = std::max<int64_t>(1, options.backends / 10);
  }
  if (options.movement_stripes == 0 || options.movement_stripes > options.stripes) {
    options.movement_stripes = std::min(options.stripes, kDefaultMovementStripes);
  }
  if (options.rebuild_stripes == 0) {
    options.rebuild_stripes =
        std::max(options.stripes, kRebuildColumnsPerBackend * options.backends / width);
  }
  if (options.threads == 0) options.threads = std::max(1u, std::thread::hardware_concurrency());
  const auto& failed = options.failed_domains;
  for (size_t i = 0; i < failed.size(); ++i) {
    if (failed[i] >= domains) {
      return error(StatusCode::kInvalidArgument, "failed domain {} does not exist (0 to {})",
                   failed[i], domains - 1);
    }
    for (size_t j = 0; j < i; ++j) {
      if (failed[i] == failed[j]) {
        return error(StatusCode::kInvalidArgument, "failed domain {} is named twice", failed[i]);
      }
    }
  }
  return Status();
}

}  // namespace

Result<PlacementSimReport> simulate_placement(PlacementSimOptions options) {
  auto start = std::chrono::steady_clock::now();
  TESS_RETURN_IF_ERROR(validate(options));
  const uint32_t n = options.backends;
  const auto x = static_cast<uint32_t>(options.add_backends);
  const int width = options.data_columns + options.parity_columns;
  Cluster before_cluster = make_cluster(n, options.drives_per_backend, options.failure_domains);
  Cluster after_cluster = make_cluster(n + x, options.drives_per_backend, options.failure_domains);
  TESS_ASSIGN_OR_RETURN(Placement before, Placement::create(before_cluster.drives, width));
  TESS_ASSIGN_OR_RETURN(Placement after, Placement::create(after_cluster.drives, width));

  PlacementSimReport report;
  report.options = options;
  report.failure_domains = static_cast<uint32_t>(before.eligible_domain_count());
  report.drives = before_cluster.drives.size();

  FillAndMovement fm = fill_and_movement(before, after, before_cluster.drives.size(), options);
  auto [low, high] = std::minmax_element(fm.columns_per_drive.begin(), fm.columns_per_drive.end());
  double mean = static_cast<double>(options.stripes) * width /
                static_cast<double>(before_cluster.drives.size());
  report.fill_max_over_mean = static_cast<double>(*high) / mean;
  report.fill_min_over_mean = static_cast<double>(*low) / mean;
  double moved_columns = static_cast<double>(options.movement_stripes) * width;
  report.moved_fraction = static_cast<double>(fm.moved) / moved_columns;
  report.ideal_moved_fraction = static_cast<double>(x) / (n + x);
  report.moved_to_new_fraction =
      fm.moved == 0 ? 1.0 : static_cast<double>(fm.moved_to_new) / static_cast<double>(fm.moved);

  Cluster failed_cluster = before_cluster;
  for (uint32_t j = 0; j < options.drives_per_backend; ++j) {
    failed_cluster.drives[j].state = DriveState::kFailed;
  }
  auto without_backend0 = Placement::create(failed_cluster.drives, width);
  if (!without_backend0.ok()) {
    return without_backend0.status().with_context("no room to rebuild backend 0");
  }
  PopulationCounts counts =
      scan_population(ScanContext{before, *without_backend0, before_cluster, options}, n);
  if (counts.replacement_missing) {
    return Status(StatusCode::kFailedPrecondition,
                  "some stripes of backend 0 have no failure domain left for a replacement");
  }
  report.rebuild_stripes_affected = counts.affected;
  uint64_t reads = 0, max_reads = 0;
  for (uint32_t b = 1; b < n; ++b) {
    report.rebuild_readers += counts.reads[b] > 0 ? 1 : 0;
    report.rebuild_writers += counts.writes[b] > 0 ? 1 : 0;
    report.rebuild_participants += counts.reads[b] + counts.writes[b] > 0 ? 1 : 0;
    reads += counts.reads[b];
    max_reads = std::max(max_reads, counts.reads[b]);
  }
  report.rebuild_participation =
      n > 1 ? static_cast<double>(report.rebuild_participants) / (n - 1) : 0;
  report.rebuild_read_max_over_mean =
      reads == 0 ? 0 : static_cast<double>(max_reads) / (static_cast<double>(reads) / (n - 1));
  report.stripes_losing_2_domains = counts.losing_2;
  report.stripes_losing_3_domains = counts.losing_3;
  auto population = static_cast<double>(options.rebuild_stripes);
  report.fraction_losing_2_domains = static_cast<double>(counts.losing_2) / population;
  report.fraction_losing_3_domains = static_cast<double>(counts.losing_3) / population;
  report.data_loss_stripes_3_failures = options.parity_columns < 3 ? counts.losing_3 : 0;
  double f = report.failure_domains;
  report.expected_fraction_losing_3_domains =
      static_cast<double>(width) * (width - 1) * (width - 2) / (f * (f - 1) * (f - 2));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace tessera
