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
  Client(TestCluster* c, uint64_t session, MetadataCache* cache = nullptr) {
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
    meta.cache = cache;
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

Task<uint32_t> mode_of(NamespaceClient* names, InodeId inode, const proto::Caller& caller) {
  auto answer = co_await names->getattr(caller, inode, Deadline::never());
  EXPECT_TRUE(answer.ok() && answer->errno_value() == 0);
  co_return answer.ok() ? answer->inode().mode() : 0;
}

Task<Result<proto::MetaResult>> chmod(NamespaceClient* names, InodeId inode, uint32_t mode) {
  proto::MetaCommand command;
  command.mutable_setattr()->set_inode(inode.value());
  command.mutable_setattr()->set_valid(1);  // FUSE_SET_ATTR_MODE
  command.mutable_setattr()->set_mode(mode);
  co_return co_await names->mutate(std::move(command), Deadline::never());
}

// A client with a metadata cache sees another client's change once its validity ends, and its
// own changes at once.
Task<int> cached_scenario(TestCluster* c) {
  for (uint32_t h = 1; h <= 3; ++h) EXPECT_TRUE((co_await c->start(HostId(h))).ok());
  EXPECT_TRUE((co_await c->found_buckets()).ok());
  MetadataCacheOptions cache_options;
  cache_options.clock = &c->clock();
  cache_options.attr_ttl = std::chrono::seconds(1);
  cache_options.entry_ttl = std::chrono::seconds(1);
  MetadataCache cache(cache_options);
  Client cached(c, 41, &cache);
  Client other(c, 42);
  proto::Caller kernel;  // Permissions checked by the kernel: the cache may serve it.
  proto::Caller checked;
  checked.set_check_permissions(true);
  Deadline deadline = Deadline::after(std::chrono::seconds(60), c->clock());
  InodeId root = id_of(co_await cached.names->root(kernel, deadline));
  InodeId file = id_of(co_await cached.names->create(kernel, root, "f", 0644, true, deadline));
  EXPECT_NE(file.value(), 0u);
  EXPECT_EQ(cache.attr_count(), 1u) << "the create's inode is stored";
  EXPECT_EQ(co_await mode_of(cached.names.get(), file, kernel), 0644u);

  // Another client's chmod: served from the cache until the validity ends, then seen.
  auto changed = co_await chmod(other.names.get(), file, 0600);
  EXPECT_TRUE(changed.ok() && changed->errno_value() == 0);
  EXPECT_EQ(co_await mode_of(cached.names.get(), file, kernel), 0644u) << "within its validity";
  EXPECT_EQ(co_await mode_of(cached.names.get(), file, checked), 0600u)
      << "a caller the buckets check is never served from the cache";
  (void)co_await c->clock().sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(co_await mode_of(cached.names.get(), file, kernel), 0600u) << "validity ended";

  // Its own changes at once: a chmod, and an unlink that the lookup after it must not miss.
  auto own = co_await chmod(cached.names.get(), file, 0640);
  EXPECT_TRUE(own.ok() && own->errno_value() == 0);
  EXPECT_EQ(co_await mode_of(cached.names.get(), file, kernel), 0640u);
  auto found = co_await cached.names->lookup(kernel, root, "f", deadline);
  EXPECT_TRUE(found.ok() && found->errno_value() == 0 && found->inode().id() == file.value());
  auto removed = co_await cached.names->unlink(kernel, root, "f", false, deadline);
  EXPECT_TRUE(removed.ok() && removed->errno_value() == 0);
  auto gone = co_await cached.names->lookup(kernel, root, "f", deadline);
  EXPECT_TRUE(gone.ok() && gone->errno_value() == ENOENT);
  EXPECT_FALSE(cache.attr(file).has_value()) << "the released inode is forgotten";

  cached.buckets->close();
  other.buckets->close();
  for (uint32_t h = 1; h <= 3; ++h) EXPECT_TRUE((co_await c->stop(HostId(h), false)).ok());
  co_return 0;
}

TEST(NamespaceClientTest, ACachedClientSeesOthersAfterTheValidityAndItselfAtOnce) {
  meta::NamespaceHandler handler;
  TestCluster cluster(kBuckets, &handler);
  EXPECT_EQ(cluster.run(cached_scenario(&cluster)), 0);
}

TEST(NamespaceClientTest, ATreeAcrossBucketsSurvivesALeaderAndRacingClients) {
  meta::NamespaceHandler handler;
  TestCluster cluster(kBuckets, &handler);
  EXPECT_EQ(cluster.run(scenario(&cluster)), 0);
}

}  // namespace
}  // namespace tessera::client
