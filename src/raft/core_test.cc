// Unit tests of raft::Core through a small in-memory cluster: every node's Ready is handled the
// documented way, messages are delivered in order, and time is advanced by hand. The scripted
// scenarios are in raft_interaction_test.cc; these check the main promises directly.
#include "raft/core.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>

namespace tessera::raft {
namespace {

using std::chrono::milliseconds;

ReplicaId replica(uint32_t n) { return ReplicaId{HostId(n), StoreId(n)}; }

class Cluster {
 public:
  explicit Cluster(int voters) {
    Config config;
    for (int i = 1; i <= voters; ++i) config.voters.push_back(replica(i));
    for (int i = 1; i <= voters; ++i) start(replica(i), config);
  }

  void start(ReplicaId r, const Config& config) {
    Node& n = nodes_[r];
    n.log = std::make_unique<MemoryLog>();
    n.log->reset(EntryId{LogIndex(1), Term(1)});  // The bootstrap rule (core.h, InitialState).
    CoreOptions options;
    options.self = r;
    options.seed = r.host.value();
    InitialState initial{.hard_state = {.term = Term(1), .commit = LogIndex(1)},
                         .config = config,
                         .applied = LogIndex(1)};
    n.core = std::make_unique<Core>(options, initial, n.log.get(), now_);
  }

  Core& core(uint32_t n) { return *nodes_.at(replica(n)).core; }
  const std::vector<std::string>& applied(uint32_t n) { return nodes_.at(replica(n)).applied; }
  std::vector<ReadState>& reads(uint32_t n) { return nodes_.at(replica(n)).reads; }

  void isolate(uint32_t n) { isolated_.insert(replica(n)); }
  void heal() { isolated_.clear(); }

  // Handles Readies and delivers messages until nothing moves.
  void stabilize() {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      for (auto& [r, n] : nodes_) {
        while (n.core->has_ready()) {
          moved = true;
          handle_ready(n);
        }
      }
      if (queue_.empty() && !moved) return;
      auto queue = std::move(queue_);
      queue_.clear();
      for (auto& m : queue) {
        if (isolated_.contains(m.from) || isolated_.contains(m.to)) continue;
        auto it = nodes_.find(m.to);
        if (it != nodes_.end()) it->second.core->step(m, now_);
      }
    }
    FAIL() << "cluster did not settle";
  }

  void advance(Time::duration d) {
    Time end = now_ + d;
    while (now_ < end) {
      now_ += milliseconds(10);
      for (auto& [r, n] : nodes_) n.core->tick(now_);
      stabilize();
    }
  }

  Time now() const { return now_; }

  ReplicaId leader() {
    ReplicaId found;
    for (auto& [r, n] : nodes_) {
      if (n.core->role() == Role::kLeader && !isolated_.contains(r)) found = r;
    }
    return found;
  }

 private:
  struct Node {
    std::unique_ptr<MemoryLog> log;
    std::unique_ptr<Core> core;
    std::vector<std::string> applied;
    std::vector<ReadState> reads;
  };

  void handle_ready(Node& n) {
    Ready rd = n.core->ready();
    if (rd.snapshot) n.log->reset(EntryId{rd.snapshot->index, rd.snapshot->term});
    n.log->append(rd.entries);
    for (auto& m : rd.messages) queue_.push_back(m);
    for (auto& m : rd.after_persist) queue_.push_back(m);
    for (const Entry& e : rd.committed) {
      if (e.type == EntryType::kCommand) n.applied.push_back(e.payload);
    }
    for (const ReadState& r : rd.reads) n.reads.push_back(r);
    n.core->advance(rd);
  }

  Time now_{};
  std::map<ReplicaId, Node> nodes_;
  std::vector<Message> queue_;
  std::set<ReplicaId> isolated_;
};

TEST(RaftCoreTest, ElectsOneLeaderAndReplicates) {
  Cluster c(3);
  c.advance(milliseconds(1500));
  ReplicaId leader = c.leader();
  ASSERT_FALSE(leader.is_none());
  Core& l = c.core(leader.host.value());
  auto id = l.propose("hello", c.now());
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  c.stabilize();
  for (uint32_t i = 1; i <= 3; ++i) {
    c.advance(milliseconds(200));
    ASSERT_EQ(c.applied(i), std::vector<std::string>{"hello"}) << "node " << i;
  }
  EXPECT_EQ(l.commit(), id->index);
}

TEST(RaftCoreTest, FollowersRefuseProposals) {
  Cluster c(3);
  c.advance(milliseconds(1500));
  for (uint32_t i = 1; i <= 3; ++i) {
    if (replica(i) == c.leader()) continue;
    auto id = c.core(i).propose("x", c.now());
    EXPECT_EQ(id.status().code(), StatusCode::kFailedPrecondition);
  }
}

TEST(RaftCoreTest, NewLeaderAfterTheOldOneIsCutOffAndNothingCommittedIsLost) {
  Cluster c(5);
  c.advance(milliseconds(1500));
  ReplicaId old_leader = c.leader();
  ASSERT_FALSE(old_leader.is_none());
  ASSERT_TRUE(c.core(old_leader.host.value()).propose("a", c.now()).ok());
  c.stabilize();
  c.isolate(old_leader.host.value());
  c.advance(milliseconds(3000));
  ReplicaId new_leader = c.leader();
  ASSERT_FALSE(new_leader.is_none());
  EXPECT_NE(new_leader, old_leader);
  // CheckQuorum: the cut-off leader stepped down.
  EXPECT_NE(c.core(old_leader.host.value()).role(), Role::kLeader);
  ASSERT_TRUE(c.core(new_leader.host.value()).propose("b", c.now()).ok());
  c.heal();
  c.advance(milliseconds(1000));
  for (uint32_t i = 1; i <= 5; ++i) {
    EXPECT_EQ(c.applied(i), (std::vector<std::string>{"a", "b"})) << "node " << i;
  }
}

TEST(RaftCoreTest, LeaseReadIsImmediateAndReadIndexWaitsForAQuorum) {
  Cluster c(3);
  c.advance(milliseconds(1500));
  ReplicaId leader = c.leader();
  uint32_t l = leader.host.value();
  c.advance(milliseconds(200));
  ASSERT_GT(c.core(l).lease_until(), c.now());
  ASSERT_TRUE(c.core(l).request_read(ReadId(1), c.now()).ok());
  c.stabilize();
  ASSERT_EQ(c.reads(l).size(), 1u);
  // Cut the followers off: once the lease runs out, a read needs a quorum round and waits.
  for (uint32_t i = 1; i <= 3; ++i) {
    if (i != l) c.isolate(i);
  }
  Time lease_end = c.core(l).lease_until();
  c.advance(lease_end - c.now() + milliseconds(10));
  ASSERT_EQ(c.core(l).role(), Role::kLeader);  // CheckQuorum has not fired yet.
  ASSERT_TRUE(c.core(l).request_read(ReadId(2), c.now()).ok());
  ASSERT_TRUE(c.core(l).request_read(ReadId(3), c.now()).ok());
  EXPECT_EQ(c.reads(l).size(), 1u);
  // The read's round reaches the followers: a quorum acks it and both reads are served.
  c.heal();
  c.stabilize();
  EXPECT_EQ(c.reads(l).size(), 3u);
  // Cut off again: the round is lost and the read waits, then fails when CheckQuorum ends the
  // leadership.
  for (uint32_t i = 1; i <= 3; ++i) {
    if (i != l) c.isolate(i);
  }
  c.advance(c.core(l).lease_until() - c.now() + milliseconds(10));
  ASSERT_TRUE(c.core(l).request_read(ReadId(4), c.now()).ok());
  c.stabilize();
  EXPECT_EQ(c.reads(l).size(), 3u);
  c.advance(milliseconds(700));
  EXPECT_NE(c.core(l).role(), Role::kLeader);
  EXPECT_EQ(c.reads(l).size(), 3u);
}

TEST(RaftCoreTest, TransferHandsLeadershipOver) {
  Cluster c(3);
  c.advance(milliseconds(1500));
  uint32_t l = c.leader().host.value();
  uint32_t target = l % 3 + 1;
  ASSERT_TRUE(c.core(l).transfer_leadership(replica(target), c.now()).ok());
  c.stabilize();
  c.advance(milliseconds(50));
  EXPECT_EQ(c.leader(), replica(target));
  EXPECT_EQ(c.core(l).role(), Role::kFollower);
}

TEST(RaftCoreTest, ConfChangeCodecRefusesMalformedPayloads) {
  ConfChange change{ConfChange::Kind::kPromoteLearner, replica(7)};
  EXPECT_EQ(decode_conf_change(encode_conf_change(change)), change);
  EXPECT_FALSE(decode_conf_change("").has_value());
  std::string bad = encode_conf_change(change);
  bad[0] = 9;
  EXPECT_FALSE(decode_conf_change(bad).has_value());
}

}  // namespace
}  // namespace tessera::raft
