#include "cluster/bucket_assignment.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "base/assert.h"

namespace tessera {

namespace {

// Load counters with an ordered index, so the least-loaded process is found in O(log P).
class Loads {
 public:
  explicit Loads(size_t processes) : count_(processes, 0) {
    for (size_t i = 0; i < processes; ++i) order_.emplace(0, i);
  }
  void add(size_t process, int delta) {
    order_.erase({count_[process], process});
    count_[process] = static_cast<uint32_t>(static_cast<int>(count_[process]) + delta);
    order_.emplace(count_[process], process);
  }
  uint32_t operator[](size_t process) const { return count_[process]; }
  const std::set<std::pair<uint32_t, size_t>>& ascending() const { return order_; }

 private:
  std::vector<uint32_t> count_;
  std::set<std::pair<uint32_t, size_t>> order_;
};

class Assigner {
 public:
  Assigner(std::span<const ProcessSlot> processes, const AssignmentOptions& options)
      : processes_(processes),
        options_(options),
        leads_(processes.size()),
        replicas_(processes.size()) {
    std::map<std::string, size_t> domains;
    for (size_t i = 0; i < processes.size(); ++i) {
      index_[processes[i].id.value()] = i;
      domain_.push_back(
          domains.try_emplace(processes[i].failure_domain, domains.size()).first->second);
      if (processes[i].up) ++up_count_;
    }
  }

  std::vector<BucketReplicas> run(std::span<const BucketReplicas> previous, uint32_t buckets) {
    std::vector<BucketReplicas> table(previous.begin(), previous.end());
    table.resize(buckets);
    for (BucketReplicas& bucket : table) keep_valid(bucket);
    for (BucketReplicas& bucket : table) promote(bucket);
    for (uint32_t b = 0; b < buckets; ++b) fill(table[b], b);
    if (up_count_ > 0) {
      // Replicas first: a process that returns must follow buckets before it can lead them.
      rebalance_replicas(table);
      rebalance_leaders(table);
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
  uint32_t limit(size_t total) const {
    double mean = static_cast<double>(total) / static_cast<double>(up_count_);
    return std::max(static_cast<uint32_t>(std::ceil(mean)),
                    static_cast<uint32_t>(std::floor(mean * options_.balance_tolerance)));
  }

  // Drops replicas on down or unknown processes and second replicas in one failure domain, and
  // counts what stays.
  void keep_valid(BucketReplicas& bucket) {
    std::set<size_t> domains;
    size_t leader = find(bucket.leader);
    if (up(leader)) domains.insert(domain_[leader]);
    std::vector<HostId> followers;
    for (HostId follower : bucket.followers) {
      size_t process = find(follower);
      if (!up(process) || !domains.insert(domain_[process]).second) continue;
      followers.push_back(follower);
    }
    bucket.followers = std::move(followers);
    if (up(leader)) {
      leads_.add(leader, 1);
      replicas_.add(leader, 1);
    }
    for (HostId follower : bucket.followers) replicas_.add(find(follower), 1);
  }

  // A bucket whose leader is down: its follower that leads fewest becomes leader (term + 1).
  // Runs after every bucket was counted, so "fewest" sees the whole table.
  void promote(BucketReplicas& bucket) {
    if (bucket.leader.value() == 0 || up(find(bucket.leader)) || bucket.followers.empty()) return;
    auto best = std::min_element(
        bucket.followers.begin(), bucket.followers.end(), [this](HostId a, HostId b) {
          return std::pair(leads_[find(a)], find(a)) < std::pair(leads_[find(b)], find(b));
        });
    bucket.leader = *best;
    bucket.followers.erase(best);
    ++bucket.term;
    leads_.add(find(bucket.leader), 1);
  }

  // The least-loaded up process outside `used` domains, by `loads`; kNone if there is none. Among
  // equally loaded processes it starts at a position chosen by `seed`, so that the buckets one
  // process leads get their followers from many processes (a failure then spreads its promotions).
  size_t pick(const Loads& loads, const std::set<size_t>& used_domains, uint64_t seed) const {
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

  static uint64_t mix(uint64_t x) {  // splitmix64
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  std::set<size_t> domains_of(const BucketReplicas& bucket) const {
    std::set<size_t> used;
    size_t leader = find(bucket.leader);
    if (leader != kNone) used.insert(domain_[leader]);
    for (HostId follower : bucket.followers) used.insert(domain_[find(follower)]);
    return used;
  }

  void fill(BucketReplicas& bucket, uint32_t index) {
    // A bucket whose replicas are all down has no source to copy from: it waits for them.
    if (bucket.leader.value() != 0 && !up(find(bucket.leader))) return;
    if (bucket.leader.value() == 0) {
      size_t leader = pick(leads_, {}, mix(index));
      if (leader == kNone) return;
      bucket.leader = id(leader);
      bucket.term = 1;
      leads_.add(leader, 1);
      replicas_.add(leader, 1);
    }
    std::set<size_t> used = domains_of(bucket);
    while (bucket.followers.size() + 1 < options_.replicas) {
      size_t follower = pick(replicas_, used, mix(uint64_t{index} << 8 | bucket.followers.size()));
      if (follower == kNone) return;  // Too few failure domains up: under-replicated.
      bucket.followers.push_back(id(follower));
      used.insert(domain_[follower]);
      replicas_.add(follower, 1);
    }
  }

  // Hands leaderships from processes above the limit to their buckets' lightest followers.
  void rebalance_leaders(std::vector<BucketReplicas>& table) {
    size_t led = 0;
    for (const BucketReplicas& bucket : table) led += up(find(bucket.leader)) ? 1 : 0;
    uint32_t over = limit(led);
    uint32_t target =
        static_cast<uint32_t>(std::ceil(static_cast<double>(led) / static_cast<double>(up_count_)));
    for (BucketReplicas& bucket : table) {
      size_t leader = find(bucket.leader);
      if (!up(leader) || leads_[leader] <= over) continue;
      for (HostId& follower : bucket.followers) {
        size_t candidate = find(follower);
        if (leads_[candidate] + 1 > target) continue;
        std::swap(bucket.leader, follower);
        ++bucket.term;
        leads_.add(leader, -1);
        leads_.add(candidate, 1);
        break;
      }
    }
  }

  // Moves followers from processes above the limit to the lightest eligible process.
  void rebalance_replicas(std::vector<BucketReplicas>& table) {
    uint64_t total = 0;
    for (size_t i = 0; i < processes_.size(); ++i) total += up(i) ? replicas_[i] : 0;
    uint32_t over = limit(total);
    uint32_t target = static_cast<uint32_t>(
        std::ceil(static_cast<double>(total) / static_cast<double>(up_count_)));
    for (uint32_t b = 0; b < table.size(); ++b) {
      BucketReplicas& bucket = table[b];
      if (!up(find(bucket.leader))) continue;
      for (HostId& follower : bucket.followers) {
        size_t from = find(follower);
        if (replicas_[from] <= over) continue;
        std::set<size_t> used = domains_of(bucket);
        used.erase(domain_[from]);
        size_t to = pick(replicas_, used, mix(b));
        if (to == kNone || replicas_[to] + 1 > target) continue;
        follower = id(to);
        replicas_.add(from, -1);
        replicas_.add(to, 1);
      }
    }
  }

  std::span<const ProcessSlot> processes_;
  AssignmentOptions options_;
  std::unordered_map<uint32_t, size_t> index_;
  std::vector<size_t> domain_;
  size_t up_count_ = 0;
  Loads leads_;
  Loads replicas_;
};

}  // namespace

std::vector<BucketReplicas> assign_buckets(std::span<const BucketReplicas> previous,
                                           uint32_t bucket_count,
                                           std::span<const ProcessSlot> processes,
                                           const AssignmentOptions& options) {
  TESS_ASSERT(previous.empty() || previous.size() == bucket_count,
              "previous table of {} buckets, {} wanted", previous.size(), bucket_count);
  TESS_ASSERT(options.replicas >= 1, "no replicas");
  return Assigner(processes, options).run(previous, bucket_count);
}

}  // namespace tessera
