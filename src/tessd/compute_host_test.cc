#include "tessd/compute_host.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

// A map of `hosts` founders (host h has store 100 + h) with one bucket desired on `desired`.
ClusterMap map_with(const std::vector<uint32_t>& founders, const std::vector<uint32_t>& desired,
                    uint64_t desired_epoch) {
  ClusterMap map;
  map.header.set_epoch(desired_epoch);
  for (uint32_t host : founders) {
    proto::BucketFounder* founder = map.header.add_founders();
    founder->set_host_id(host);
    founder->set_store(100 + host);
  }
  DesiredReplicas bucket;
  for (uint32_t host : desired) bucket.desired.push_back(HostId(host));
  bucket.preferred_leader = bucket.desired.empty() ? HostId() : bucket.desired.front();
  bucket.desired_epoch = MapEpoch(desired_epoch);
  map.buckets.push_back(bucket);
  return map;
}

raft::ReplicaId replica(uint32_t host) {
  return raft::ReplicaId{HostId(host), raft::StoreId(100 + host)};
}

TEST(FoundingConfig, DesiredFoundersWithTheirStoresSorted) {
  auto config = founding_config(map_with({1, 2, 3, 4, 5}, {4, 1, 3}, 1), BucketId(0));
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->voters, (std::vector<raft::ReplicaId>{replica(1), replica(3), replica(4)}));
  EXPECT_TRUE(config->learners.empty());
}

TEST(FoundingConfig, NoneOnceTheDesiredSetChangedAfterCreation) {
  // A replica placed later comes from its leader (learner, snapshot), never from founding.
  EXPECT_FALSE(founding_config(map_with({1, 2, 3}, {1, 2, 3}, 2), BucketId(0)).has_value());
}

TEST(FoundingConfig, HostsThatAreNoFoundersAreLeftOut) {
  // Host 9 registered without a bucket store at creation: the others still found the group, and
  // every founder leaves 9 out in the same way.
  auto config = founding_config(map_with({1, 2}, {1, 2, 9}, 1), BucketId(0));
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->voters, (std::vector<raft::ReplicaId>{replica(1), replica(2)}));
  EXPECT_FALSE(founding_config(map_with({1, 2}, {7, 9}, 1), BucketId(0)).has_value());
}

TEST(FoundingConfig, UnknownBucketAndMalformedFoundersAreRefused) {
  EXPECT_FALSE(founding_config(map_with({1}, {1}, 1), BucketId(5)).has_value());
  ClusterMap map = map_with({}, {1}, 1);
  proto::BucketFounder* zero = map.header.add_founders();
  zero->set_host_id(1);
  zero->set_store(0);  // A store id of 0 is no store.
  EXPECT_FALSE(founding_config(map, BucketId(0)).has_value());
}

TEST(ReplicaStatusJson, NamesHostsAndRoles) {
  bucket::ReplicaStatus status;
  status.bucket = BucketId(7);
  status.role = raft::Role::kLeader;
  status.leader = replica(2);
  status.term = Term(4);
  status.commit = raft::LogIndex(10);
  status.config.voters = {replica(1), replica(2)};
  status.config.learners = {replica(3)};
  nlohmann::json json = replica_status_json({status});
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["bucket"], 7);
  EXPECT_EQ(json[0]["role"], "leader");
  EXPECT_EQ(json[0]["leader_host"], 2);
  EXPECT_EQ(json[0]["term"], 4);
  EXPECT_EQ(json[0]["commit"], 10);
  EXPECT_EQ(json[0]["voters"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(json[0]["learners"], nlohmann::json::array({3}));
}

}  // namespace
}  // namespace tessera
