#include "cluster/cluster_map.h"

#include <gtest/gtest.h>

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
  for (const BucketReplicas& bucket : next->buckets) EXPECT_NE(bucket.leader, HostId(3));
}

// The map as a store holds it: what prepare_map_write puts, as key-values.
std::vector<KeyValue> stored(const ClusterMap& map, const ClusterKeys& keys) {
  std::vector<KeyValue> out;
  for (const WriteOp& op : prepare_map_write(keys, map, nullptr, 7).ops) {
    out.push_back(KeyValue{op.key, op.value, 10, 10, {}});
  }
  return out;
}

TEST(ClusterMapTest, DecodesWhatItWritesAndRefusesMalformedMaps) {
  ClusterKeys keys("c");
  ClusterMap map = initial_map("uuid", {5, 2, 1, 2048}, hosts(8), 1000);
  auto decoded = decode_map(stored(map, keys), keys);
  ASSERT_OK(decoded);
  ASSERT_TRUE(decoded->has_value());
  EXPECT_EQ((*decoded)->buckets, map.buckets);
  EXPECT_EQ((*decoded)->header_mod_revision, 10);

  auto expect_corruption = [&](std::vector<KeyValue> values, const char* what) {
    Result<std::optional<ClusterMap>> refused = decode_map(values, keys);
    ASSERT_FALSE(refused.ok()) << what;
    EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << what;
    EXPECT_NE(refused.status().message().find(what), std::string_view::npos) << refused.status();
  };
  // A shard key that is not a number (std::stoul threw here and ended tessd).
  std::vector<KeyValue> values = stored(map, keys);
  values.push_back(KeyValue{keys.map() + "buckets/x1", "", 10, 10, {}});
  expect_corruption(values, "bucket shard key");
  // A format this tessd does not know.
  ClusterMap newer = map;
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
