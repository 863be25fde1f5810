#include "cluster/bucket_assignment.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "base/assert.h"

namespace tessera {

uint32_t bucket_replica_count(uint32_t parity, uint32_t failure_domains) {
  uint32_t full = 2 * parity + 1;
  if (failure_domains >= full) return full;
  if (failure_domains == 0) return 1;
  return failure_domains % 2 == 1 ? failure_domains : failure_domains - 1;
}

namespace {

// Load counters with an ordered index, so the least-loaded process is found in O(log P). The
// index is built at the first ascending(): counting a whole table (and a call that changes
// nothing) does not pay for it.
class Loads {
 public:
  explicit Loads(size_t processes) : count_(processes, 0) {}
  void add(size_t process, int delta) {
    if (indexed_) order_.erase({count_[process], process});
    count_[process] = static_cast<uint32_t>(static_cast<int>(count_[process]) + delta);
    if (indexed_) order_.emplace(count_[process], process);
  }
  uint32_t operator[](size_t process) const { return count_[process]; }
  const std::set<std::pair<uint32_t, size_t>>& ascending() {
    if (!indexed_) {
      for (size_t i = 0; i < count_.size(); ++i) order_.emplace(count_[i], i);
      indexed_ = true;
    }
    return order_;
  }

 private:
  std::vector<uint32_t> count_;
  std::set<std::pair<uint32_t, size_t>> order_;
  bool indexed_ = false;
};

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::vector<HostId> sorted(std::vector<HostId> hosts) {
  std::sort(hosts.begin(), hosts.end());
  return hosts;
}

class Assigner {
 public:
  Assigner(std::span<const ProcessSlot> processes, const AssignmentOptions& options)
      : processes_(processes),
        options_(options),
        replicas_(processes.size()),
        prefers_(processes.size()) {
    std::map<std::string, size_t> domains;
    for (size_t i = 0; i < processes.size(); ++i) {
      TESS_ASSERT(processes[i].id.value() != 0, "a process without a host id");
      TESS_ASSERT(!(processes[i].up && processes[i].permanently_failed),
                  "host {} is both up and permanently failed", processes[i].id);
      TESS_ASSERT(index_.emplace(processes[i].id.value(), i).second, "host {} listed twice",
                  processes[i].id);
      domain_.push_back(
          domains.try_emplace(processes[i].failure_domain, domains.size()).first->second);
      if (processes[i].up) ++up_count_;
    }
  }

  std::vector<DesiredReplicas> run(std::span<const DesiredReplicas> previous, uint32_t buckets) {
    previous_ = previous;
    std::vector<DesiredReplicas> table(previous.begin(), previous.end());
    table.resize(buckets);
    touched_.assign(buckets, previous.empty());
    for (uint32_t b = 0; b < buckets; ++b) keep_valid(table[b], b);
    for (uint32_t b = 0; b < buckets; ++b) trim(table[b], b);
    for (uint32_t b = 0; b < buckets; ++b) fill(table[b], b);
    if (up_count_ > 0) rebalance_replicas(table);
    for (DesiredReplicas& bucket : table) count_preferred(bucket);
    for (uint32_t b = 0; b < buckets; ++b) move_preferred_off_down(table[b], b);
    if (up_count_ > 0) rebalance_preferred(table);
    for (uint32_t b = 0; b < buckets; ++b) {
      if (!touched_[b]) continue;
      std::vector<HostId> before =
          previous.empty() ? std::vector<HostId>() : sorted(previous[b].desired);
      if (before != sorted(table[b].desired)) table[b].desired_epoch = options_.epoch;
    }
    return table;
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;

  size_t find(HostId id) const {
    auto it = index_.find(id.value());
    return it == index_.end() ? kNone : it->second;
  }
  bool up(size_t process) const { return process != kNone && processes_[process].up; }
  HostId id(size_t process) const { return processes_[process].id; }
  // The most a process may carry before work moves off it: the tolerance over the mean, never
  // below the mean rounded up (with few buckets per process the tolerance is less than one).
  uint32_t limit(uint64_t total) const {
    double mean = static_cast<double>(total) / static_cast<double>(up_count_);
    return std::max(static_cast<uint32_t>(std::ceil(mean)),
                    static_cast<uint32_t>(std::floor(mean * options_.balance_tolerance)));
  }
  // What a receiving process may reach: the mean rounded up, so that moves never overshoot and
  // the next call does not move the work back.
  uint32_t target(uint64_t total) const {
    return static_cast<uint32_t>(
        std::ceil(static_cast<double>(total) / static_cast<double>(up_count_)));
  }

  std::set<size_t> domains_of(const DesiredReplicas& bucket) const {
    std::set<size_t> used;
    for (HostId host : bucket.desired) used.insert(domain_[find(host)]);
    return used;
  }

  // Rule 1: drops replicas on unknown or permanently failed processes and second replicas in one
  // failure domain, and counts what stays. A down process keeps its replicas.
  void keep_valid(DesiredReplicas& bucket, uint32_t index) {
    std::vector<HostId> kept;
    std::vector<size_t> domains;
    for (HostId host : bucket.desired) {
      size_t process = find(host);
      if (process == kNone || processes_[process].permanently_failed) continue;
      if (std::find(domains.begin(), domains.end(), domain_[process]) != domains.end()) continue;
      domains.push_back(domain_[process]);
      kept.push_back(host);
      replicas_.add(process, 1);
    }
    if (kept.size() != bucket.desired.size()) touched_[index] = true;
    bucket.desired = std::move(kept);
  }

  // Rule 1, R lowered: drops replicas beyond R, on down processes first, then on the most loaded,
  // the preferred leader last.
  void trim(DesiredReplicas& bucket, uint32_t index) {
    while (bucket.desired.size() > options_.replicas) {
      touched_[index] = true;
      auto worst =
          std::max_element(bucket.desired.begin(), bucket.desired.end(), [&](HostId a, HostId b) {
            auto rank = [&](HostId host) {
              size_t process = find(host);
              return std::tuple(!up(process), host != bucket.preferred_leader, replicas_[process],
                                process);
            };
            return rank(a) < rank(b);
          });
      replicas_.add(find(*worst), -1);
      bucket.desired.erase(worst);
    }
  }

  // The least-loaded up process outside `used` domains, by `loads`; kNone if there is none. Among
  // equally loaded processes it starts at a position chosen by `seed`, so that the buckets of one
  // process have their other replicas on many processes (a failure then spreads its work).
  size_t pick(Loads& loads, const std::set<size_t>& used_domains, uint64_t seed) {
    const auto& order = loads.ascending();
    auto eligible = [&](size_t process) {
      return up(process) && !used_domains.contains(domain_[process]);
    };
    for (auto level = order.begin(); level != order.end();) {
      uint32_t count = level->first;
      auto level_end = order.upper_bound({count, SIZE_MAX});
      auto start = order.lower_bound({count, seed % processes_.size()});
      for (auto it = start; it != level_end; ++it) {
        if (eligible(it->second)) return it->second;
      }
      for (auto it = level; it != start; ++it) {
        if (eligible(it->second)) return it->second;
      }
      level = level_end;
    }
    return kNone;
  }

  // Rule 2. Runs after every bucket was counted, so "least loaded" sees the whole table.
  void fill(DesiredReplicas& bucket, uint32_t index) {
    if (bucket.desired.size() >= options_.replicas) return;
    std::set<size_t> used = domains_of(bucket);
    while (bucket.desired.size() < options_.replicas) {
      size_t process = pick(replicas_, used, mix(uint64_t{index} << 8 | bucket.desired.size()));
      if (process == kNone) return;  // Too few failure domains up: short of R.
      bucket.desired.push_back(id(process));
      used.insert(domain_[process]);
      replicas_.add(process, 1);
      touched_[index] = true;
    }
  }

  // Rule 3: at most one replica off each up process above the limit, to the lightest eligible
  // process. A first pass leaves preferred leaderships alone; a second may take one (rule 4 then
  // moves the leadership).
  void rebalance_replicas(std::vector<DesiredReplicas>& table) {
    uint64_t total = 0;
    for (size_t i = 0; i < processes_.size(); ++i) total += up(i) ? replicas_[i] : 0;
    uint32_t over = limit(total);
    uint32_t most = target(total);
    std::vector<bool> moved(processes_.size(), false);
    size_t waiting = 0;  // Up processes above the limit that have not given a replica yet.
    for (size_t i = 0; i < processes_.size(); ++i) waiting += up(i) && replicas_[i] > over ? 1 : 0;
    for (int pass = 0; pass < 2 && waiting > 0; ++pass) {
      for (uint32_t b = 0; b < table.size() && waiting > 0; ++b) {
        DesiredReplicas& bucket = table[b];
        for (HostId& host : bucket.desired) {
          size_t from = find(host);
          if (!up(from) || moved[from] || replicas_[from] <= over) continue;
          if (pass == 0 && host == bucket.preferred_leader) continue;
          std::set<size_t> used = domains_of(bucket);
          used.erase(domain_[from]);
          size_t to = pick(replicas_, used, mix(b));
          if (to == kNone || replicas_[to] + 1 > most) continue;
          host = id(to);
          replicas_.add(from, -1);
          replicas_.add(to, 1);
          moved[from] = true;
          touched_[b] = true;
          --waiting;
        }
      }
    }
  }

  bool is_member(const DesiredReplicas& bucket, HostId host) const {
    return std::find(bucket.desired.begin(), bucket.desired.end(), host) != bucket.desired.end();
  }

  void count_preferred(const DesiredReplicas& bucket) {
    size_t process = find(bucket.preferred_leader);
    if (up(process) && is_member(bucket, bucket.preferred_leader)) prefers_.add(process, 1);
  }

  // The up member preferring fewest, other than `except`; kNone if none. Members the bucket had
  // before this call come first: they hold its data, so the leadership can move to them at once,
  // while a new member must first be added and catch up.
  size_t lightest_member(const DesiredReplicas& bucket, uint32_t index, HostId except) const {
    auto rank = [&](size_t process) {
      bool added = index >= previous_.size() || !is_member(previous_[index], id(process));
      return std::tuple(added, prefers_[process], process);
    };
    size_t best = kNone;
    for (HostId host : bucket.desired) {
      size_t process = find(host);
      if (host == except || !up(process)) continue;
      if (best == kNone || rank(process) < rank(best)) best = process;
    }
    return best;
  }

  // Rule 4. Runs after every valid preference was counted, so "fewest" sees the whole table.
  void move_preferred_off_down(DesiredReplicas& bucket, uint32_t index) {
    size_t current = find(bucket.preferred_leader);
    bool member = is_member(bucket, bucket.preferred_leader);
    if (up(current) && member) return;
    size_t best = lightest_member(bucket, index, HostId());
    if (best != kNone) {
      bucket.preferred_leader = id(best);
      prefers_.add(best, 1);
    } else if (!member) {
      // No member up: any member will do until one is (the rule above then applies).
      bucket.preferred_leader = bucket.desired.empty() ? HostId() : bucket.desired.front();
    }
  }

  // Rule 5.
  void rebalance_preferred(std::vector<DesiredReplicas>& table) {
    uint64_t led = 0;
    for (size_t i = 0; i < processes_.size(); ++i) led += up(i) ? prefers_[i] : 0;
    uint32_t over = limit(led);
    uint32_t most = target(led);
    for (uint32_t b = 0; b < table.size(); ++b) {
      DesiredReplicas& bucket = table[b];
      size_t from = find(bucket.preferred_leader);
      if (!up(from) || prefers_[from] <= over) continue;
      size_t to = lightest_member(bucket, b, bucket.preferred_leader);
      if (to == kNone || prefers_[to] + 1 > most) continue;
      bucket.preferred_leader = id(to);
      prefers_.add(from, -1);
      prefers_.add(to, 1);
    }
  }

  std::span<const ProcessSlot> processes_;
  AssignmentOptions options_;
  std::unordered_map<uint32_t, size_t> index_;
  std::vector<size_t> domain_;
  size_t up_count_ = 0;
  Loads replicas_;
  Loads prefers_;
  std::span<const DesiredReplicas> previous_;
  std::vector<bool> touched_;  // Buckets whose desired set may have changed in this call.
};

}  // namespace

std::vector<DesiredReplicas> assign_desired(std::span<const DesiredReplicas> previous,
                                            uint32_t bucket_count,
                                            std::span<const ProcessSlot> processes,
                                            const AssignmentOptions& options) {
  TESS_ASSERT(previous.empty() || previous.size() == bucket_count,
              "previous table of {} buckets, {} wanted", previous.size(), bucket_count);
  TESS_ASSERT(options.replicas >= 1, "no replicas");
  return Assigner(processes, options).run(previous, bucket_count);
}

}  // namespace tessera
