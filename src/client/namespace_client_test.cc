// NamespaceClient on replicated buckets: three BucketHosts (real RocksDB stores, a simulated
// network) run the namespace; clients make a tree whose directories spread over every bucket
// (each mkdir elsewhere is a two-phase commit), move files between buckets, and race for the same
// names, then the tree is walked and checked; the leader of a bucket is stopped in between.
#include "client/namespace_client.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>

#include "bucket/test_cluster.h"
#include "meta/keys.h"
#include "meta/namespace_handler.h"

namespace tessera::client {
namespace {

using bucket::BucketClient;
using bucket::BucketClientOptions;
using bucket::TestCluster;

constexpr uint32_t kBuckets = 8;
constexpr FilesystemId kFs{21};

struct Client {
  Client(TestCluster* c, uint64_t session) {
    BucketClientOptions options;
    options.clock = &c->clock();
    options.network = &c->network().node(fmt::format("client{}", session));
    options.session = session;
    buckets = std::make_unique<BucketClient>(c->context().get_executor(), *c, options);
    NamespaceClientOptions meta;
    meta.clock = &c->clock();
    meta.bucket_count = kBuckets;
    meta.fs = kFs;
    meta.seed = session;
    names = std::make_unique<NamespaceClient>(*buckets, meta);
  }
  std::unique_ptr<BucketClient> buckets;
  std::unique_ptr<NamespaceClient> names;
};

InodeId id_of(const Result<proto::MetaResult>& result) {
  return result.ok() ? InodeId(result->inode().id()) : InodeId();
}

Task<void> make_files(NamespaceClient* names, InodeId dir, int count, int* made) {
  proto::Caller caller;
  Deadline deadline = Deadline::never();
  for (int i = 0; i < count; ++i) {
    auto file = co_await names->create(caller, dir, fmt::format("race{}", i), 0644, true, deadline);
    if (file.ok() && file->errno_value() == 0) ++*made;
    EXPECT_TRUE(file.ok() && (file->errno_value() == 0 || file->errno_value() == EEXIST))
        << (file.ok() ? file->message() : file.status().to_string());
  }
}

Task<int> scenario(TestCluster* c) {
  for (uint32_t h = 1; h <= 3; ++h) EXPECT_TRUE((co_await c->start(HostId(h))).ok());
  EXPECT_TRUE((co_await c->found_buckets()).ok());
  Client one(c, 31);
  Client two(c, 32);
  proto::Caller caller;
  Deadline deadline = Deadline::after(std::chrono::seconds(60), c->clock());

  auto root = co_await one.names->root(caller, deadline);
  EXPECT_TRUE(root.ok() && root->errno_value() == 0);
  InodeId root_id = id_of(root);
  EXPECT_EQ(root_id, meta::root_inode(kFs, kBuckets));

  // Sixteen directories, most of them in another bucket than the root's.
  std::vector<InodeId> dirs;
  std::set<BucketId> buckets_used;
  for (int i = 0; i < 16; ++i) {
    auto dir = co_await one.names->mkdir(caller, root_id, fmt::format("d{}", i), 0755, deadline);
    EXPECT_TRUE(dir.ok() && dir->errno_value() == 0)
        << (dir.ok() ? dir->message() : dir.status().to_string());
    dirs.push_back(id_of(dir));
    buckets_used.insert(meta::bucket_of(id_of(dir)));
  }
  EXPECT_GE(buckets_used.size(), 4u);
  EXPECT_GE(one.names->transactions(), 8u);

  // The leader of the second directory's bucket stops uncleanly; its files still get made.
  std::optional<HostId> leader;
  for (uint32_t h = 1; h <= 3 && !leader; ++h) {
    for (const bucket::ReplicaStatus& s : c->host(HostId(h)).status()) {
      if (s.bucket == meta::bucket_of(dirs[1]) && s.role == raft::Role::kLeader) {
        leader = HostId(h);
      }
    }
  }
  EXPECT_TRUE(leader.has_value());
  if (!leader) co_return 1;
  EXPECT_TRUE((co_await c->stop(*leader, /*clean=*/false)).ok());

  // Two clients race to create the same names in one directory: every name is made once.
  int made_by_one = 0;
  int made_by_two = 0;
  auto executor = c->context().get_executor();
  auto first = boost::asio::co_spawn(
      executor, make_files(one.names.get(), dirs[1], 20, &made_by_one), boost::asio::use_awaitable);
  co_await make_files(two.names.get(), dirs[1], 20, &made_by_two);
  co_await std::move(first);
  EXPECT_EQ(made_by_one + made_by_two, 20);

  // Files move between directories of different buckets, and a directory under another.
  auto moved = co_await one.names->rename(caller, dirs[1], "race0", dirs[2], "moved", 0, deadline);
  EXPECT_TRUE(moved.ok() && moved->errno_value() == 0)
      << (moved.ok() ? moved->message() : moved.status().to_string());
  auto found = co_await two.names->lookup(caller, dirs[2], "moved", deadline);
  EXPECT_TRUE(found.ok() && found->errno_value() == 0);
  auto nested = co_await two.names->rename(caller, root_id, "d3", dirs[4], "d3", 0, deadline);
  EXPECT_TRUE(nested.ok() && nested->errno_value() == 0)
      << (nested.ok() ? nested->message() : nested.status().to_string());
  auto cycle = co_await one.names->rename(caller, dirs[4], "d3", dirs[3], "x", 0, deadline);
  EXPECT_TRUE(cycle.ok() && cycle->errno_value() == EINVAL);
  auto parent = co_await one.names->getattr(caller, dirs[3], deadline);
  EXPECT_TRUE(parent.ok() && parent->inode().parent() == dirs[4].value());

  // rmdir refuses a full directory and removes an empty one.
  auto full = co_await one.names->unlink(caller, root_id, "d1", true, deadline);
  EXPECT_TRUE(full.ok() && full->errno_value() == ENOTEMPTY);
  auto empty = co_await one.names->unlink(caller, root_id, "d5", true, deadline);
  EXPECT_TRUE(empty.ok() && empty->errno_value() == 0);
  auto root_after = co_await two.names->getattr(caller, root_id, deadline);
  EXPECT_TRUE(root_after.ok() && root_after->inode().nlink() == 2 + 16 - 2);

  one.buckets->close();
  two.buckets->close();
  for (uint32_t h = 1; h <= 3; ++h) {
    if (HostId(h) == *leader) continue;
    EXPECT_TRUE((co_await c->stop(HostId(h), false)).ok());
  }
  co_return 0;
}

TEST(NamespaceClientTest, ATreeAcrossBucketsSurvivesALeaderAndRacingClients) {
  meta::NamespaceHandler handler;
  TestCluster cluster(kBuckets, &handler);
  EXPECT_EQ(cluster.run(scenario(&cluster)), 0);
}

}  // namespace
}  // namespace tessera::client
