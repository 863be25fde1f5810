#include "cluster/cluster_map.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "base/units.h"
#include "cluster/map_epoch.h"
#include "testing/testing.h"

namespace tessera {
namespace {

std::vector<proto::HostRegistration> hosts(uint32_t count) {
  std::vector<proto::HostRegistration> out;
  for (uint32_t i = 1; i <= count; ++i) {
    proto::HostRegistration host;
    host.set_host_id(i);
    host.set_name("host" + std::to_string(i));
    host.set_failure_domain("fd" + std::to_string(i));
    proto::DriveInfo* drive = host.add_drives();
    drive->set_drive_id(i);
    drive->set_capacity_bytes(1000 * kGiB);
    out.push_back(host);
  }
  return out;
}

TEST(ClusterMapTest, CreationRulesAndDefaults) {
  auto settled = check_creation({5, 2, -1, 0}, 8, 8);
  ASSERT_OK(settled);
  EXPECT_EQ(settled->hot_spare, 1) << "2 by the rule for 8 domains, but 5+2 leaves only 1";
  EXPECT_EQ(settled->bucket_count, 1024u);
  settled = check_creation({4, 2, -1, 0}, 6, 6);
  ASSERT_OK(settled);
  EXPECT_EQ(settled->hot_spare, 0);
  settled = check_creation({4, 2, -1, 0}, 12, 100);
  ASSERT_OK(settled);
  EXPECT_EQ(settled->hot_spare, 2);
  EXPECT_EQ(settled->bucket_count, 2048u) << "16 x 100 processes, rounded up to a power of two";
  EXPECT_EQ(default_hot_spare(6), 1u);
  EXPECT_EQ(default_hot_spare(7), 2u);
  EXPECT_EQ(settled->replica_replacement_delay_s, 30u);
  for (uint32_t delay : {0u, 86'401u}) {
    auto refused = check_creation({4, 2, -1, 0, delay}, 12, 100);
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << delay;
    EXPECT_NE(refused.status().message().find("--replica-replacement-delay-s must be 1 to 86400"),
              std::string_view::npos)
        << refused.status();
  }
  for (CreationRequest bad :
       {CreationRequest{5, 3, -1, 0}, CreationRequest{2, 2, -1, 0}, CreationRequest{17, 4, -1, 0},
        CreationRequest{7, 2, -1, 0}, CreationRequest{5, 2, 2, 0}, CreationRequest{5, 2, -1, 1000},
        CreationRequest{5, 2, -1, 64}}) {
    EXPECT_EQ(check_creation(bad, 8, 8).status().code(), StatusCode::kInvalidArgument)
        << bad.data << "+" << bad.parity << " hs " << bad.hot_spare << " b " << bad.bucket_count;
  }
}

TEST(ClusterMapTest, CapacityAndHostStates) {
  ClusterMap map = initial_map("uuid", {5, 2, 1, 1024}, hosts(8), 1000);
  EXPECT_EQ(map.header.epoch(), 1u);
  Capacity capacity = capacity_of(map.header);
  EXPECT_EQ(capacity.raw_bytes, 8000 * kGiB);
  EXPECT_EQ(capacity.usable_bytes,
            static_cast<uint64_t>(static_cast<long double>(8000 * kGiB) * 7 / 8 * 5 / 7 * 0.98L));
  EXPECT_FALSE(next_map(map, hosts(8))) << "nothing changed, no new epoch";

  auto fewer = hosts(8);
  fewer.erase(fewer.begin() + 2);  // Host 3's lease ended.
  std::optional<ClusterMap> next = next_map(map, fewer);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->header.epoch(), 2u);
  EXPECT_FALSE(next->header.hosts(2).up());
  EXPECT_EQ(next->header.hosts(2).changed_epoch(), 2u);
  EXPECT_FALSE(next->header.drives(2).active());
  EXPECT_EQ(capacity_of(next->header).raw_bytes, 7000 * kGiB);
  for (size_t b = 0; b < next->buckets.size(); ++b) {
    EXPECT_NE(next->buckets[b].preferred_leader, HostId(3)) << "moved off a down host at once";
    EXPECT_EQ(next->buckets[b].desired, map.buckets[b].desired) << "down briefly: replicas stay";
  }
}

// The map as a store holds it: what prepare_map_write puts, as key-values.
std::vector<KeyValue> stored(const ClusterMap& map, const ClusterKeys& keys) {
  std::vector<KeyValue> out;
  for (const WriteOp& op : prepare_map_write(keys, map, nullptr, 7).ops) {
    out.push_back(KeyValue{op.key, op.value, 10, 10, {}});
  }
  return out;
}

TEST(ClusterMapTest, CreationWritesFormat2WithDesiredReplicas) {
  CreationRequest request{5, 2, 1, 1024, 45};
  ClusterMap map = initial_map("uuid", request, hosts(8), 1000);
  EXPECT_EQ(map.header.format_version(), 2u);
  EXPECT_EQ(map.header.bucket_replicas(), 5u) << "2M+1 for +2";
  EXPECT_EQ(map.header.replica_replacement_delay_s(), 45u);
  ASSERT_EQ(map.buckets.size(), 1024u);
  for (const DesiredReplicas& bucket : map.buckets) {
    EXPECT_EQ(bucket.desired.size(), 5u);
    EXPECT_NE(std::find(bucket.desired.begin(), bucket.desired.end(), bucket.preferred_leader),
              bucket.desired.end());
    EXPECT_EQ(bucket.desired_epoch, MapEpoch(1));
  }
  EXPECT_EQ(initial_map("uuid", request, hosts(8), 1000).buckets, map.buckets)
      << "a pure function of the registrations";
  // +4 on 8 domains (K+M = 7 fits): R = 7, the largest odd number <= 8, not 9.
  ClusterMap short_map = initial_map("uuid", {3, 4, 1, 1024, 30}, hosts(8), 1000);
  EXPECT_EQ(short_map.header.bucket_replicas(), 7u);
  EXPECT_EQ(bucket_replicas_of(short_map.header), 7u);
  // A ninth domain joins: R grows to 9 and every bucket is filled up.
  std::optional<ClusterMap> grown = next_map(short_map, hosts(9));
  ASSERT_TRUE(grown);
  EXPECT_EQ(grown->header.bucket_replicas(), 9u);
  for (const DesiredReplicas& bucket : grown->buckets) {
    EXPECT_EQ(bucket.desired.size(), 9u);
    EXPECT_EQ(bucket.desired_epoch, MapEpoch(2));
  }
}

TEST(ClusterMapTest, PermanentlyFailedHostsReplicasAreReplaced) {
  ClusterMap map = initial_map("uuid", {5, 2, 1, 1024}, hosts(8), 1000);
  auto fewer = hosts(8);
  fewer.erase(fewer.begin() + 2);  // Host 3 is gone.
  std::optional<ClusterMap> down = next_map(map, fewer);
  ASSERT_TRUE(down);
  // The leader's delay ran out: host 3 is permanently failed.
  std::optional<ClusterMap> replaced = next_map(*down, fewer, {HostId(3)});
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->header.epoch(), 3u);
  EXPECT_EQ(replaced->header.bucket_replicas(), 5u) << "R counts the map's domains";
  for (size_t b = 0; b < map.buckets.size(); ++b) {
    const std::vector<HostId>& before = map.buckets[b].desired;
    bool held = std::find(before.begin(), before.end(), HostId(3)) != before.end();
    const DesiredReplicas& now = replaced->buckets[b];
    EXPECT_EQ(std::find(now.desired.begin(), now.desired.end(), HostId(3)), now.desired.end());
    EXPECT_EQ(now.desired.size(), 5u);
    if (held) {
      EXPECT_EQ(now.desired_epoch, MapEpoch(3));
    } else {
      EXPECT_EQ(now.desired, before) << "bucket " << b << " moved without cause";
    }
  }
  EXPECT_FALSE(next_map(*replaced, fewer, {HostId(3)})) << "settled";
  // Host 3 returns, empty: the seven others are above the tolerance (731 replicas, mean 640),
  // and each moves one replica to it per round.
  std::optional<ClusterMap> back = next_map(*replaced, hosts(8));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->header.hosts(2).up());
  size_t moved = 0;
  for (size_t b = 0; b < map.buckets.size(); ++b) {
    const std::vector<HostId>& now = back->buckets[b].desired;
    if (now == replaced->buckets[b].desired) continue;
    ++moved;
    EXPECT_NE(std::find(now.begin(), now.end(), HostId(3)), now.end());
  }
  EXPECT_EQ(moved, 7u);
}

// A format-1 map (primary-backup) is read as format 2 and written back whole by the leader.
TEST(ClusterMapTest, Format1MapIsConvertedAndRewritten) {
  ClusterKeys keys("c");
  ClusterMap v2 = initial_map("uuid", {5, 2, 1, 2048}, hosts(8), 1000);
  proto::ClusterMapHeader header = v2.header;
  header.set_format_version(1);
  header.set_epoch(7);
  header.clear_bucket_replicas();
  header.clear_replica_replacement_delay_s();
  std::vector<KeyValue> values{KeyValue{keys.map_header(), header.SerializeAsString(), 20, 20, {}}};
  for (uint32_t shard = 0; shard < 2; ++shard) {
    proto::BucketShardV1 message;
    message.set_epoch(6);
    message.set_first_bucket(shard * kBucketShardSize);
    for (uint32_t b = 0; b < kBucketShardSize; ++b) {
      proto::BucketEntryV1* entry = message.add_buckets();
      entry->set_leader(1 + b % 8);
      entry->add_followers(1 + (b + 1) % 8);
      entry->add_followers(1 + (b + 2) % 8);
      entry->set_term(3);
    }
    values.push_back(KeyValue{keys.bucket_shard(shard), message.SerializeAsString(), 20, 20, {}});
  }
  auto decoded = decode_map(values, keys);
  ASSERT_OK(decoded);
  ASSERT_TRUE(decoded->has_value());
  ClusterMap v1 = std::move(**decoded);
  EXPECT_EQ(v1.header.format_version(), 1u);
  EXPECT_EQ(bucket_replicas_of(v1.header), 5u);
  EXPECT_EQ(replica_replacement_delay(v1.header), std::chrono::seconds(30));
  ASSERT_EQ(v1.buckets.size(), 2048u);
  EXPECT_EQ(v1.buckets[9].desired, (std::vector<HostId>{HostId(2), HostId(3), HostId(4)}));
  EXPECT_EQ(v1.buckets[9].preferred_leader, HostId(2));
  EXPECT_EQ(v1.buckets[9].desired_epoch, MapEpoch(6));

  std::optional<ClusterMap> next = next_map(v1, hosts(8));
  ASSERT_TRUE(next) << "a format-1 map is always rewritten";
  EXPECT_EQ(next->header.format_version(), 2u);
  EXPECT_EQ(next->header.bucket_replicas(), 5u);
  EXPECT_EQ(next->header.replica_replacement_delay_s(), 30u);
  for (size_t b = 0; b < next->buckets.size(); ++b) {
    const DesiredReplicas& bucket = next->buckets[b];
    EXPECT_EQ(bucket.desired.size(), 5u) << "filled up to R";
    for (HostId kept : v1.buckets[b].desired) {
      EXPECT_NE(std::find(bucket.desired.begin(), bucket.desired.end(), kept),
                bucket.desired.end());
    }
  }
  MapWrite write = prepare_map_write(keys, *next, &v1, 9);
  EXPECT_EQ(write.ops.size(), 3u) << "the header and every shard";
  std::vector<KeyValue> rewritten;
  for (const WriteOp& op : write.ops) rewritten.push_back(KeyValue{op.key, op.value, 30, 30, {}});
  auto reread = decode_map(rewritten, keys);
  ASSERT_OK(reread);
  EXPECT_EQ((*reread)->buckets, next->buckets);
}

TEST(ClusterMapTest, DecodesWhatItWritesAndRefusesMalformedMaps) {
  ClusterKeys keys("c");
  ClusterMap map = initial_map("uuid", {5, 2, 1, 2048}, hosts(8), 1000);
  auto decoded = decode_map(stored(map, keys), keys);
  ASSERT_OK(decoded);
  ASSERT_TRUE(decoded->has_value());
  EXPECT_EQ((*decoded)->buckets, map.buckets);
  EXPECT_EQ((*decoded)->header_mod_revision, 10);

  auto expect_corruption = [&](const std::vector<KeyValue>& values, const char* what) {
    Result<std::optional<ClusterMap>> refused = decode_map(values, keys);
    ASSERT_FALSE(refused.ok()) << what;
    EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << what;
    EXPECT_NE(refused.status().message().find(what), std::string_view::npos) << refused.status();
  };
  // A shard key that is not a number (std::stoul threw here and ended tessd).
  std::vector<KeyValue> values = stored(map, keys);
  values.push_back(KeyValue{keys.map() + "buckets/x1", "", 10, 10, {}});
  expect_corruption(values, "bucket shard key");
  // A format this tessd does not know (3: a format-2 reader refuses it).
  ClusterMap newer = map;
  EXPECT_EQ(kMapFormatVersion, 2u);
  newer.header.set_format_version(kMapFormatVersion + 1);
  expect_corruption(stored(newer, keys), "format version");
  // A shard size of 0 (a division by zero before).
  values = stored(map, keys);
  proto::ClusterMapHeader zero = map.header;
  zero.set_bucket_shard_size(0);
  values[0].value = zero.SerializeAsString();
  expect_corruption(values, "shard size of 0");
  // More buckets than allowed.
  proto::ClusterMapHeader huge = map.header;
  huge.set_bucket_count(1u << 31);
  values[0].value = huge.SerializeAsString();
  expect_corruption(values, "buckets, more than");
  // A shard missing.
  values = stored(map, keys);
  values.pop_back();
  expect_corruption(values, "missing or malformed");
}

TEST(ClusterMapTest, EveryMapWriteIsFencedByTheLeadersTerm) {
  ClusterKeys keys("c");
  ClusterMap map = initial_map("uuid", {5, 2, 1, 1024}, hosts(8), 1000);
  MapWrite first = prepare_map_write(keys, map, nullptr, 42);
  ASSERT_EQ(first.compares.size(), 2u);
  EXPECT_EQ(first.compares[0].key, keys.election());
  EXPECT_EQ(first.compares[0].target, Compare::Target::kCreateRevision);
  EXPECT_EQ(first.compares[0].revision, 42);
  EXPECT_EQ(first.compares[1].key, keys.map_header());
  EXPECT_EQ(first.compares[1].revision, 0) << "the first map: no header yet";
  std::optional<ClusterMap> next = next_map(map, hosts(7));
  ASSERT_TRUE(next);
  map.header_mod_revision = 99;
  MapWrite change = prepare_map_write(keys, *next, &map, 43);
  EXPECT_EQ(change.compares[0].revision, 43);
  EXPECT_EQ(change.compares[1].target, Compare::Target::kModRevision);
  EXPECT_EQ(change.compares[1].revision, 99);
}

TEST(ClusterMapTest, RestartIsANewIncarnation) {
  auto registrations = hosts(8);
  for (auto& registration : registrations)
    registration.set_incarnation(100 + registration.host_id());
  ClusterMap map = initial_map("uuid", {5, 2, 1, 1024}, registrations, 1000);
  EXPECT_EQ(map.header.hosts(2).incarnation(), 103u);
  EXPECT_FALSE(next_map(map, registrations));
  registrations[2].set_incarnation(555);
  std::optional<ClusterMap> next = next_map(map, registrations);
  ASSERT_TRUE(next) << "a restart within the lease TTL is a change";
  EXPECT_EQ(next->header.epoch(), 2u);
  EXPECT_EQ(next->header.hosts(2).incarnation(), 555u);
  EXPECT_EQ(next->header.hosts(2).restarts(), 1u);
  EXPECT_EQ(next->header.hosts(2).changed_epoch(), 2u);
  EXPECT_TRUE(next->header.hosts(2).up());
  EXPECT_EQ(next->buckets, map.buckets) << "a restart alone moves no bucket";
}

TEST(MapEpochTest, TellsStaleFromAhead) {
  EXPECT_EQ(check_map_epoch(MapEpoch(4), MapEpoch(5)), EpochCheck::kStale);
  EXPECT_EQ(check_map_epoch(MapEpoch(5), MapEpoch(5)), EpochCheck::kCurrent);
  EXPECT_EQ(check_map_epoch(MapEpoch(6), MapEpoch(5)), EpochCheck::kAhead);
  Status stale = stale_map_error(MapEpoch(4), MapEpoch(5));
  EXPECT_EQ(stale.code(), StatusCode::kStaleMap);
  EXPECT_NE(stale.message().find("epoch 4"), std::string_view::npos);
}

}  // namespace
}  // namespace tessera
