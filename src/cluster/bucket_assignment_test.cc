#include "cluster/bucket_assignment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include "runtime/clock.h"

namespace tessera {
namespace {

std::vector<ProcessSlot> processes(uint32_t count, uint32_t domains) {
  std::vector<ProcessSlot> out;
  for (uint32_t i = 0; i < count; ++i) {
    out.push_back(ProcessSlot{HostId(i + 1), "fd" + std::to_string(i % domains), true, false});
  }
  return out;
}

bool contains(const std::vector<HostId>& hosts, HostId host) {
  return std::find(hosts.begin(), hosts.end(), host) != hosts.end();
}

std::set<HostId> as_set(const std::vector<HostId>& hosts) { return {hosts.begin(), hosts.end()}; }

struct Balance {
  double replicas_max_over_mean = 0;
  double preferred_max_over_mean = 0;
  size_t short_of_r = 0;  // Buckets with fewer than R desired replicas.
};

// Checks every bucket's invariants (distinct failure domains, only known processes that are not
// permanently failed, the preferred leader a member and up whenever a member is up) and measures
// the balance over up processes.
Balance check(const std::vector<DesiredReplicas>& table, const std::vector<ProcessSlot>& slots,
              uint32_t replicas) {
  std::unordered_map<HostId, const ProcessSlot*> by_id;
  for (const ProcessSlot& slot : slots) by_id[slot.id] = &slot;
  std::unordered_map<HostId, size_t> holds;
  std::unordered_map<HostId, size_t> prefers;
  Balance balance;
  for (size_t b = 0; b < table.size(); ++b) {
    const DesiredReplicas& bucket = table[b];
    EXPECT_LE(bucket.desired.size(), replicas) << "bucket " << b;
    balance.short_of_r += bucket.desired.size() < replicas ? 1 : 0;
    std::vector<std::string_view> domains;
    bool member_up = false;
    for (HostId host : bucket.desired) {
      if (!by_id.contains(host)) {
        ADD_FAILURE() << "bucket " << b << ": unknown host " << host.value();
        continue;
      }
      const ProcessSlot* slot = by_id.at(host);
      EXPECT_FALSE(slot->permanently_failed) << "bucket " << b << " keeps host " << host.value();
      EXPECT_EQ(std::count(domains.begin(), domains.end(), slot->failure_domain), 0)
          << "bucket " << b << ": two replicas in " << slot->failure_domain;
      domains.push_back(slot->failure_domain);
      if (slot->up) ++holds[host];
      member_up = member_up || slot->up;
    }
    if (bucket.desired.empty()) {
      EXPECT_EQ(bucket.preferred_leader, HostId());
      continue;
    }
    EXPECT_TRUE(contains(bucket.desired, bucket.preferred_leader)) << "bucket " << b;
    if (member_up) {
      EXPECT_TRUE(by_id.at(bucket.preferred_leader)->up) << "bucket " << b;
      ++prefers[bucket.preferred_leader];
    }
  }
  size_t up = 0;
  for (const ProcessSlot& slot : slots) up += slot.up ? 1 : 0;
  auto max_over_mean = [up](const std::unordered_map<HostId, size_t>& counts) {
    size_t total = 0;
    size_t most = 0;
    for (const auto& [host, count] : counts) {
      total += count;
      most = std::max(most, count);
    }
    return total == 0
               ? 0.0
               : static_cast<double>(most) / (static_cast<double>(total) / static_cast<double>(up));
  };
  balance.replicas_max_over_mean = max_over_mean(holds);
  balance.preferred_max_over_mean = max_over_mean(prefers);
  return balance;
}

// Milliseconds of one assign_desired call (printed: performance is measured, not asserted).
std::vector<DesiredReplicas> timed_assign(const char* what,
                                          std::span<const DesiredReplicas> previous,
                                          uint32_t buckets, const std::vector<ProcessSlot>& slots,
                                          const AssignmentOptions& options) {
  Clock::TimePoint start = RealClock::instance().now();
  std::vector<DesiredReplicas> table = assign_desired(previous, buckets, slots, options);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(RealClock::instance().now() - start);
  std::cout << "assign_desired, " << what << ": " << ms.count() << " ms\n";
  return table;
}

TEST(BucketAssignmentTest, ReplicaCountIsTheLargestOddNumberUpTo2MPlus1) {
  EXPECT_EQ(bucket_replica_count(2, 5), 5u);
  EXPECT_EQ(bucket_replica_count(2, 100), 5u);
  EXPECT_EQ(bucket_replica_count(4, 9), 9u);
  EXPECT_EQ(bucket_replica_count(4, 8), 7u) << "+4 on 8 domains";
  EXPECT_EQ(bucket_replica_count(4, 7), 7u);
  EXPECT_EQ(bucket_replica_count(2, 4), 3u);
  EXPECT_EQ(bucket_replica_count(2, 2), 1u);
  EXPECT_EQ(bucket_replica_count(2, 1), 1u);
  EXPECT_EQ(bucket_replica_count(2, 0), 1u) << "never below 1";
}

// 1,000 processes in 100 failure domains, 65,536 buckets, R = 5 (+2).
TEST(BucketAssignmentTest, ThousandProcessesBalanceAndAFailureMovesOnlyWhatItMust) {
  constexpr uint32_t kBuckets = 65'536;
  constexpr uint32_t kR = 5;
  const std::vector<ProcessSlot> all_up = processes(1000, 100);
  AssignmentOptions options{.replicas = kR, .epoch = MapEpoch(1)};
  std::vector<DesiredReplicas> table = timed_assign("creation", {}, kBuckets, all_up, options);
  Balance initial = check(table, all_up, kR);
  EXPECT_EQ(initial.short_of_r, 0u);
  EXPECT_LE(initial.replicas_max_over_mean, 1.05);
  EXPECT_LE(initial.preferred_max_over_mean, 1.05);
  for (const DesiredReplicas& bucket : table) EXPECT_EQ(bucket.desired_epoch, MapEpoch(1));
  // Nothing changes when nothing changed.
  options.epoch = MapEpoch(2);
  EXPECT_EQ(timed_assign("nothing changed", table, kBuckets, all_up, options), table);

  // Down briefly: every replica stays; only its preferred leaderships move, at once, to up members.
  std::vector<ProcessSlot> slots = all_up;
  const HostId victim = slots[417].id;
  slots[417].up = false;
  std::vector<DesiredReplicas> down =
      timed_assign("one down briefly", table, kBuckets, slots, options);
  Balance brief = check(down, slots, kR);
  EXPECT_LE(brief.preferred_max_over_mean, 1.05);
  size_t leaderships_moved = 0;
  for (uint32_t b = 0; b < kBuckets; ++b) {
    ASSERT_EQ(down[b].desired, table[b].desired) << "bucket " << b << ": a replica moved";
    EXPECT_EQ(down[b].desired_epoch, table[b].desired_epoch);
    if (table[b].preferred_leader == victim) {
      EXPECT_NE(down[b].preferred_leader, victim);
      ++leaderships_moved;
    } else {
      EXPECT_EQ(down[b].preferred_leader, table[b].preferred_leader)
          << "bucket " << b << ": a leadership moved without cause";
    }
  }
  EXPECT_GT(leaderships_moved, 0u);
  // Back within the delay: it holds its replicas again; nothing else moves.
  std::vector<DesiredReplicas> back =
      timed_assign("back within the delay", down, kBuckets, all_up, options);
  for (uint32_t b = 0; b < kBuckets; ++b) EXPECT_EQ(back[b].desired, table[b].desired);

  // Permanently failed: only its own replicas move, each to a domain the bucket did not use.
  slots[417].permanently_failed = true;
  std::vector<DesiredReplicas> failed =
      timed_assign("one permanently failed", table, kBuckets, slots, options);
  Balance after = check(failed, slots, kR);
  EXPECT_EQ(after.short_of_r, 0u);
  EXPECT_LE(after.replicas_max_over_mean, 1.05);
  EXPECT_LE(after.preferred_max_over_mean, 1.05);
  size_t replicas_moved = 0;
  for (uint32_t b = 0; b < kBuckets; ++b) {
    const DesiredReplicas& before = table[b];
    if (!contains(before.desired, victim)) {
      EXPECT_EQ(failed[b], before) << "bucket " << b << " changed without cause";
      continue;
    }
    ++replicas_moved;
    std::set<HostId> kept = as_set(before.desired);
    kept.erase(victim);
    std::set<HostId> now = as_set(failed[b].desired);
    EXPECT_TRUE(std::includes(now.begin(), now.end(), kept.begin(), kept.end()))
        << "bucket " << b << ": a replica other than the failed one moved";
    EXPECT_EQ(now.size(), kR);
    EXPECT_EQ(failed[b].desired_epoch, MapEpoch(2));
    if (before.preferred_leader != victim) {
      EXPECT_EQ(failed[b].preferred_leader, before.preferred_leader);
    } else {
      EXPECT_TRUE(kept.contains(failed[b].preferred_leader));
    }
  }
  EXPECT_GT(replicas_moved, 0u);
  options.epoch = MapEpoch(3);
  EXPECT_EQ(assign_desired(failed, kBuckets, slots, options), failed) << "stable once replaced";
  std::cout << "1,000 processes, 100 domains, 65,536 buckets, R = 5: replicas max/mean "
            << initial.replicas_max_over_mean << ", preferred leaders max/mean "
            << initial.preferred_max_over_mean << "; one down briefly moved " << leaderships_moved
            << " preferred leaderships and no replica (preferred max/mean "
            << brief.preferred_max_over_mean << "); one permanently failed moved " << replicas_moved
            << " replicas (replicas max/mean " << after.replicas_max_over_mean << ", preferred "
            << after.preferred_max_over_mean << ")\n";
}

TEST(BucketAssignmentTest, AllReplicasDownKeepsEverything) {
  std::vector<ProcessSlot> slots = processes(6, 6);
  AssignmentOptions options{.replicas = 5, .epoch = MapEpoch(1)};
  auto table = assign_desired({}, 64, slots, options);
  for (auto& slot : slots) slot.up = false;
  options.epoch = MapEpoch(2);
  EXPECT_EQ(assign_desired(table, 64, slots, options), table)
      << "no member up: nothing to move to, nothing replaced before the delay";
}

TEST(BucketAssignmentTest, PermanentlyFailedIsReplacedFromAnUnusedDomain) {
  // 7 processes in 6 domains: fd0 holds hosts 1 and 7.
  std::vector<ProcessSlot> slots = processes(7, 6);
  AssignmentOptions options{.replicas = 5, .epoch = MapEpoch(1)};
  auto table = assign_desired({}, 256, slots, options);
  check(table, slots, 5);
  slots[2].up = false;
  slots[2].permanently_failed = true;
  options.epoch = MapEpoch(5);
  auto after = assign_desired(table, 256, slots, options);
  Balance balance = check(after, slots, 5);
  EXPECT_EQ(balance.short_of_r, 0u) << "6 domains, 5 of them up: every bucket refilled";
  for (size_t b = 0; b < table.size(); ++b) {
    if (!contains(table[b].desired, HostId(3))) continue;
    EXPECT_FALSE(contains(after[b].desired, HostId(3)));
    EXPECT_EQ(after[b].desired_epoch, MapEpoch(5));
  }
}

TEST(BucketAssignmentTest, TooFewDomainsLeavesBucketsShortOfR) {
  std::vector<ProcessSlot> slots = processes(4, 2);
  AssignmentOptions options{.replicas = 3, .epoch = MapEpoch(1)};
  auto table = assign_desired({}, 64, slots, options);
  for (const auto& bucket : table) EXPECT_EQ(bucket.desired.size(), 2u);
  EXPECT_EQ(check(table, slots, 3).short_of_r, 64u);
}

TEST(BucketAssignmentTest, ReplicasMoveOnePerProcessPerCall) {
  // Five processes carry 64 buckets x 3 replicas; a sixth joins.
  std::vector<ProcessSlot> slots = processes(5, 5);
  AssignmentOptions options{.replicas = 3, .epoch = MapEpoch(1)};
  auto table = assign_desired({}, 64, slots, options);
  slots.push_back(ProcessSlot{HostId(6), "fd5", true, false});
  auto holds = [](const std::vector<DesiredReplicas>& t) {
    std::map<HostId, int> out;
    for (const auto& bucket : t) {
      for (HostId host : bucket.desired) ++out[host];
    }
    return out;
  };
  int calls = 0;
  for (;;) {
    options.epoch = MapEpoch(2 + calls);
    auto next = assign_desired(table, 64, slots, options);
    if (next == table) break;
    ++calls;
    ASSERT_LT(calls, 20) << "does not settle";
    auto before = holds(table);
    auto after = holds(next);
    size_t changed = 0;
    for (size_t b = 0; b < table.size(); ++b) changed += next[b].desired != table[b].desired;
    for (const auto& [host, count] : before) {
      EXPECT_GE(after[host], count - 1) << "host " << host.value() << " gave more than one replica";
    }
    if (calls == 1) {
      EXPECT_EQ(changed, 5u) << "one replica off each of the five";
    }
    table = std::move(next);
  }
  // 192 replicas on 6 processes: mean 32, limit floor(32 x 1.05) = 33.
  for (const auto& [host, count] : holds(table)) EXPECT_LE(count, 33) << "host " << host.value();
  EXPECT_GE(holds(table)[HostId(6)], 27);
  std::cout << "a sixth process took " << holds(table)[HostId(6)] << " replicas in " << calls
            << " calls\n";
  check(table, slots, 3);
}

TEST(BucketAssignmentTest, PreferredLeadershipsSpreadOverTheTolerance) {
  std::vector<ProcessSlot> slots = processes(8, 8);
  AssignmentOptions options{.replicas = 5, .epoch = MapEpoch(1)};
  auto table = assign_desired({}, 1024, slots, options);
  // Host 1 is made to prefer every bucket it holds (a hand-made imbalance).
  size_t held = 0;
  for (auto& bucket : table) {
    if (contains(bucket.desired, HostId(1))) {
      bucket.preferred_leader = HostId(1);
      ++held;
    }
  }
  ASSERT_GT(held, 600u);
  auto after = assign_desired(table, 1024, slots, options);
  EXPECT_LE(check(after, slots, 5).preferred_max_over_mean, 1.05);
  for (size_t b = 0; b < table.size(); ++b) EXPECT_EQ(after[b].desired, table[b].desired);
}

TEST(BucketAssignmentTest, LoweredReplicaCountDropsDownReplicasFirst) {
  std::vector<ProcessSlot> slots = processes(5, 5);
  AssignmentOptions options{.replicas = 5, .epoch = MapEpoch(1)};
  auto table = assign_desired({}, 32, slots, options);
  slots[4].up = false;
  options.replicas = 3;
  options.epoch = MapEpoch(2);
  auto after = assign_desired(table, 32, slots, options);
  check(after, slots, 3);
  for (size_t b = 0; b < after.size(); ++b) {
    EXPECT_EQ(after[b].desired.size(), 3u);
    EXPECT_FALSE(contains(after[b].desired, HostId(5))) << "the down one goes first";
    EXPECT_EQ(after[b].desired_epoch, MapEpoch(2));
    if (table[b].preferred_leader != HostId(5)) {
      EXPECT_TRUE(contains(after[b].desired, table[b].preferred_leader))
          << "an up preferred leader is dropped last";
    }
  }
}

}  // namespace
}  // namespace tessera
