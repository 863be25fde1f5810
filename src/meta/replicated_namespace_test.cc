// The namespace on replicated buckets: three BucketHosts (real RocksDB stores, a simulated
// network) run NamespaceHandler; a BucketClient creates and looks up through the leader, and what
// was acknowledged is still there after the leader's host stops uncleanly and another leads.
#include <gtest/gtest.h>

#include <cerrno>
#include <set>

#include "bucket/test_cluster.h"
#include "meta/keys.h"
#include "meta/namespace_handler.h"

namespace tessera::meta {
namespace {

using bucket::BucketClient;
using bucket::BucketClientOptions;
using bucket::TestCluster;

constexpr uint32_t kBuckets = 4;
constexpr FilesystemId kFs{11};

proto::MetaCommand command_for(proto::MetaCommand command) {
  command.set_fs(kFs.value());
  return command;
}

proto::MetaCommand create_file(InodeId parent, const std::string& name) {
  proto::MetaCommand command;
  proto::MetaCreate& op = *command.mutable_create();
  op.set_parent(parent.value());
  op.set_name(name);
  op.set_type(proto::FILE_TYPE_REGULAR);
  op.set_mode(0644);
  op.set_exclusive(true);
  return command_for(std::move(command));
}

proto::MetaRead lookup(InodeId parent, const std::string& name) {
  proto::MetaRead read;
  read.set_fs(kFs.value());
  read.mutable_lookup()->set_parent(parent.value());
  read.mutable_lookup()->set_name(name);
  return read;
}

std::optional<HostId> leader_of(TestCluster* c, BucketId bucket, const std::set<HostId>& up) {
  for (HostId h : up) {
    for (const bucket::ReplicaStatus& s : c->host(h).status()) {
      if (s.bucket == bucket && s.role == raft::Role::kLeader) return h;
    }
  }
  return std::nullopt;
}

Task<int> scenario(TestCluster* c) {
  std::set<HostId> up;
  for (uint32_t h = 1; h <= 3; ++h) {
    EXPECT_TRUE((co_await c->start(HostId(h))).ok());
    up.insert(HostId(h));
  }
  EXPECT_TRUE((co_await c->found_buckets()).ok());
  BucketClientOptions options;
  options.clock = &c->clock();
  options.network = &c->network().node("client");
  options.session = 9;
  auto client = std::make_unique<BucketClient>(c->context().get_executor(), *c, options);
  Deadline deadline = Deadline::after(std::chrono::seconds(30), c->clock());

  BucketId bucket = root_bucket(kFs, kBuckets);
  proto::MetaCommand make_root;
  make_root.mutable_make_root()->set_mode(0755);
  auto root = co_await client->meta(bucket, command_for(make_root), deadline);
  EXPECT_TRUE(root.ok()) << root.status().to_string();
  if (!root.ok()) co_return 1;
  InodeId root_id(root->meta().inode().id());
  EXPECT_EQ(root_id, root_inode(kFs, kBuckets));

  for (int i = 0; i < 20; ++i) {
    auto made =
        co_await client->meta(bucket, create_file(root_id, fmt::format("f{}", i)), deadline);
    EXPECT_TRUE(made.ok() && made->meta().errno_value() == 0) << "f" << i;
  }
  auto again = co_await client->meta(bucket, create_file(root_id, "f3"), deadline);
  EXPECT_TRUE(again.ok() && again->meta().errno_value() == EEXIST);

  // The leader's host stops uncleanly; another replica leads and has every acknowledged create.
  std::optional<HostId> leader = leader_of(c, bucket, up);
  EXPECT_TRUE(leader.has_value());
  if (!leader) co_return 1;
  EXPECT_TRUE((co_await c->stop(*leader, /*clean=*/false)).ok());
  up.erase(*leader);
  for (int i = 0; i < 20; ++i) {
    auto found =
        co_await client->meta_read(bucket, lookup(root_id, fmt::format("f{}", i)), deadline);
    EXPECT_TRUE(found.ok() && found->meta().errno_value() == 0)
        << "f" << i << ": " << found.status().to_string();
  }
  auto after = co_await client->meta(bucket, create_file(root_id, "after failover"), deadline);
  EXPECT_TRUE(after.ok() && after->meta().errno_value() == 0);
  std::optional<HostId> new_leader = leader_of(c, bucket, up);
  EXPECT_TRUE(new_leader.has_value() && *new_leader != *leader);

  client->close();
  for (HostId h : up) EXPECT_TRUE((co_await c->stop(h, false)).ok());
  co_return 0;
}

TEST(ReplicatedNamespaceTest, AcknowledgedCreatesSurviveTheLeadersHost) {
  NamespaceHandler handler;
  TestCluster cluster(kBuckets, &handler);
  EXPECT_EQ(cluster.run(scenario(&cluster)), 0);
}

}  // namespace
}  // namespace tessera::meta
