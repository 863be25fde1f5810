#include "bucket/reconcile.h"

#include <gtest/gtest.h>

#include <set>

namespace tessera::bucket {
namespace {

using Kind = ReconcileStep::Kind;
using raft::LogIndex;
using raft::Progress;
using raft::ReplicaId;

ReplicaId r(uint32_t host, uint64_t store = 0) {
  return ReplicaId{HostId(host), raft::StoreId(store == 0 ? 100 + host : store)};
}

// Hosts alive unless listed dead; host h runs store 100 + h unless rebuilt.
class FakeView final : public PlacementView {
 public:
  std::set<uint32_t> dead;
  std::map<uint32_t, uint64_t> rebuilt;
  std::set<uint32_t> unknown;
  bool alive(HostId host) const override { return !dead.contains(host.value()); }
  std::optional<raft::StoreId> store_of(HostId host) const override {
    if (unknown.contains(host.value()) || dead.contains(host.value())) return std::nullopt;
    auto it = rebuilt.find(host.value());
    return raft::StoreId(it == rebuilt.end() ? 100 + host.value() : it->second);
  }
};

Placement placement(std::vector<uint32_t> hosts, uint32_t preferred) {
  Placement p;
  for (uint32_t h : hosts) p.desired.push_back(HostId(h));
  p.preferred_leader = HostId(preferred);
  return p;
}

Progress caught_up(uint64_t match) {
  Progress p;
  p.state = Progress::State::kReplicate;
  p.recent_active = true;
  p.match = LogIndex(match);
  return p;
}

struct Group {
  raft::Config config;
  std::map<ReplicaId, Progress> progress;
  ReplicaId leader = r(1);
  LogIndex last{1000};
  ReconcileStep next(const Placement& p, const FakeView& view) const {
    return next_reconcile_step(config, leader, progress, last, p, view);
  }
};

Group voters(std::vector<uint32_t> hosts) {
  Group g;
  for (uint32_t h : hosts) {
    g.config.voters.push_back(r(h));
    if (h != 1) g.progress[r(h)] = caught_up(1000);
  }
  return g;
}

TEST(Reconcile, InLineWithThePlacementDoesNothing) {
  FakeView view;
  EXPECT_EQ(voters({1, 2, 3}).next(placement({1, 2, 3}, 1), view).kind, Kind::kNone);
  // An empty placement (map not read yet) never shrinks a group.
  EXPECT_EQ(voters({1, 2, 3}).next(placement({}, 0), view).kind, Kind::kNone);
}

TEST(Reconcile, ReplacesADeadVoterRemoveFirstThenAddThenPromote) {
  FakeView view;
  view.dead = {3};
  Group g = voters({1, 2, 3});
  Placement p = placement({1, 2, 4}, 1);
  ReconcileStep s = g.next(p, view);
  EXPECT_EQ(s.kind, Kind::kRemove);
  EXPECT_EQ(s.replica, r(3));
  g.config.voters = {r(1), r(2)};
  s = g.next(p, view);
  EXPECT_EQ(s.kind, Kind::kAddLearner);
  EXPECT_EQ(s.replica, r(4));
  g.config.learners = {r(4)};
  g.progress[r(4)] = caught_up(100);  // Far behind: not yet.
  EXPECT_EQ(g.next(p, view).kind, Kind::kNone);
  g.progress[r(4)] = caught_up(990);
  s = g.next(p, view);
  EXPECT_EQ(s.kind, Kind::kPromote);
  EXPECT_EQ(s.replica, r(4));
}

TEST(Reconcile, ALiveMoveAddsBeforeItRemoves) {
  FakeView view;
  Group g = voters({1, 2, 3});
  Placement p = placement({1, 2, 4}, 1);
  // Host 3 is alive: the group grows to R + 1 first, then sheds 3.
  EXPECT_EQ(g.next(p, view).kind, Kind::kAddLearner);
  g.config.voters = {r(1), r(2), r(3), r(4)};
  g.progress[r(4)] = caught_up(1000);
  ReconcileStep s = g.next(p, view);
  EXPECT_EQ(s.kind, Kind::kRemove);
  EXPECT_EQ(s.replica, r(3));
}

TEST(Reconcile, TheLeaderLeavingTransfersFirst) {
  FakeView view;
  Group g = voters({1, 2, 3, 4});
  ReconcileStep s = g.next(placement({2, 3, 4}, 2), view);
  EXPECT_EQ(s.kind, Kind::kTransfer);
  EXPECT_EQ(s.replica.host, HostId(2));
}

TEST(Reconcile, ARebuiltHostsOldReplicaIsReplacedByItsNewStore) {
  FakeView view;
  view.rebuilt[3] = 777;
  Group g = voters({1, 2, 3});
  Placement p = placement({1, 2, 3}, 1);
  ReconcileStep s = g.next(p, view);
  EXPECT_EQ(s.kind, Kind::kRemove);
  EXPECT_EQ(s.replica, r(3));
  g.config.voters = {r(1), r(2)};
  s = g.next(p, view);
  EXPECT_EQ(s.kind, Kind::kAddLearner);
  EXPECT_EQ(s.replica, r(3, 777));
}

TEST(Reconcile, UnwantedLearnersGoAndDeadDesiredHostsAreNotAdded) {
  FakeView view;
  Group g = voters({1, 2, 3});
  g.config.learners = {r(5)};
  ReconcileStep s = g.next(placement({1, 2, 3}, 1), view);
  EXPECT_EQ(s.kind, Kind::kRemove);
  EXPECT_EQ(s.replica, r(5));
  view.dead = {4};
  g.config.learners.clear();
  g.config.voters = {r(1), r(2)};
  EXPECT_EQ(g.next(placement({1, 2, 4}, 1), view).kind, Kind::kNone);
}

TEST(Reconcile, TransfersToTheCaughtUpPreferredLeaderOnly) {
  FakeView view;
  Group g = voters({1, 2, 3});
  ReconcileStep s = g.next(placement({1, 2, 3}, 3), view);
  EXPECT_EQ(s.kind, Kind::kTransfer);
  EXPECT_EQ(s.replica, r(3));
  g.progress[r(3)] = caught_up(10);
  EXPECT_EQ(g.next(placement({1, 2, 3}, 3), view).kind, Kind::kNone);
  g.progress[r(3)] = caught_up(1000);
  view.dead = {3};
  // A dead voter on a desired host stays (it may come back within the replacement delay).
  EXPECT_EQ(g.next(placement({1, 2, 3}, 3), view).kind, Kind::kNone);
}

}  // namespace
}  // namespace tessera::bucket
