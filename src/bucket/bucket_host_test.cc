// BucketHost: three hosts of a simulated network, each with its store, several buckets founded on
// all three; a BucketClient writes and reads every bucket. Checks that messages of many buckets
// share frames, that every bucket elects one leader, and that a clean shutdown and reopen keeps
// everything.
#include "bucket/bucket_host.h"

#include <gtest/gtest.h>

#include <boost/asio/use_future.hpp>
#include <thread>

#include "bucket/bucket_client.h"
#include "bucket/test_cluster.h"

namespace tessera::bucket {
namespace {

using std::chrono::milliseconds;

constexpr uint32_t kBuckets = 24;
constexpr ClusterUuid kCluster = kTestCluster;

// Every test here runs key-value buckets.
class Cluster : public TestCluster {
 public:
  Cluster() : TestCluster(kBuckets) {}
};

Task<int> scenario(Cluster* c) {
  for (uint32_t h = 1; h <= 3; ++h) EXPECT_TRUE((co_await c->start(HostId(h))).ok());
  EXPECT_TRUE((co_await c->found_buckets()).ok());
  BucketClientOptions options;
  options.clock = &c->clock();
  options.network = &c->network().node("client");
  options.session = 5;
  auto client = std::make_unique<BucketClient>(c->context().get_executor(), *c, options);
  Deadline deadline = Deadline::after(std::chrono::seconds(20), c->clock());
  for (uint32_t b = 0; b < kBuckets; ++b) {
    auto put = co_await client->put(BucketId(b), "key", fmt::format("value {}", b), deadline);
    EXPECT_TRUE(put.ok()) << put.status().to_string();
  }
  // Exactly one leader per bucket, of one term.
  for (uint32_t b = 0; b < kBuckets; ++b) {
    int leaders = 0;
    for (uint32_t h = 1; h <= 3; ++h) {
      for (const ReplicaStatus& s : c->host(HostId(h)).status()) {
        if (s.bucket == BucketId(b) && s.role == raft::Role::kLeader) ++leaders;
      }
    }
    EXPECT_EQ(leaders, 1) << "bucket " << b;
  }
  // While idle, the heartbeats (and answers) of the ~8 buckets a host leads share frames.
  auto totals = [c] {
    std::pair<uint64_t, uint64_t> t{0, 0};
    for (uint32_t h = 1; h <= 3; ++h) {
      t.first += c->host(HostId(h)).transport_stats().frames_sent;
      t.second += c->host(HostId(h)).transport_stats().messages_sent;
    }
    return t;
  };
  auto before = totals();
  (void)co_await c->clock().sleep_for(std::chrono::seconds(2));
  auto after = totals();
  uint64_t frames = after.first - before.first;
  uint64_t messages = after.second - before.second;
  EXPECT_GT(messages, 4 * frames) << messages << " messages in " << frames << " frames";
  std::printf("idle: %lu messages in %lu frames\n", static_cast<unsigned long>(messages),
              static_cast<unsigned long>(frames));

  // A clean stop of everything, then a restart: every value is still there.
  client->close();
  client.reset();
  for (uint32_t h = 1; h <= 3; ++h) EXPECT_TRUE((co_await c->stop(HostId(h), true)).ok());
  for (uint32_t h = 1; h <= 3; ++h) EXPECT_TRUE((co_await c->start(HostId(h))).ok());
  EXPECT_TRUE((co_await c->found_buckets()).ok());  // Loads: the stores hold the buckets.
  client = std::make_unique<BucketClient>(c->context().get_executor(), *c, options);
  deadline = Deadline::after(std::chrono::seconds(20), c->clock());
  for (uint32_t b = 0; b < kBuckets; ++b) {
    auto got = co_await client->get(BucketId(b), "key", deadline);
    EXPECT_TRUE(got.ok() && got->found() && got->value() == fmt::format("value {}", b))
        << "bucket " << b << ": " << got.status().to_string();
  }
  client->close();
  for (uint32_t h = 1; h <= 3; ++h) EXPECT_TRUE((co_await c->stop(HostId(h), false)).ok());
  co_return 0;
}

TEST(BucketHostTest, ManyBucketsShareFramesAndSurviveARestart) {
  Cluster cluster;
  EXPECT_EQ(cluster.run(scenario(&cluster)), 0);
}

// Hibernation (design 5.2): idle buckets stop ticking and only liveness frames flow; when the
// process leading them dies, the other hosts see its frames stop and their replicas elect anew.
Task<int> hibernation_scenario(Cluster* c) {
  for (uint32_t h = 1; h <= 3; ++h) EXPECT_TRUE((co_await c->start(HostId(h))).ok());
  EXPECT_TRUE((co_await c->found_buckets()).ok());
  BucketClientOptions options;
  options.clock = &c->clock();
  options.network = &c->network().node("client");
  options.session = 6;
  auto client = std::make_unique<BucketClient>(c->context().get_executor(), *c, options);
  Deadline deadline = Deadline::after(std::chrono::seconds(20), c->clock());
  for (uint32_t b = 0; b < kBuckets; ++b) {
    auto put = co_await client->put(BucketId(b), "key", fmt::format("value {}", b), deadline);
    EXPECT_TRUE(put.ok()) << put.status().to_string();
  }
  (void)co_await c->clock().sleep_for(std::chrono::seconds(3));
  auto hibernated = [c](uint32_t from) {
    size_t n = 0;
    for (uint32_t h = from; h <= 3; ++h) {
      for (const ReplicaStatus& s : c->host(HostId(h)).status()) n += s.hibernated ? 1 : 0;
    }
    return n;
  };
  EXPECT_EQ(hibernated(1), 3 * kBuckets);
  auto sent = [c] {
    std::tuple<uint64_t, uint64_t, uint64_t> t{0, 0, 0};
    for (uint32_t h = 1; h <= 3; ++h) {
      const RaftTransportStats& s = c->host(HostId(h)).transport_stats();
      std::get<0>(t) += s.frames_sent;
      std::get<1>(t) += s.messages_sent;
      std::get<2>(t) += s.liveness_frames_sent;
    }
    return t;
  };
  auto before = sent();
  (void)co_await c->clock().sleep_for(std::chrono::seconds(5));
  auto after = sent();
  // Asleep: no Raft message at all; each host sends each peer a liveness frame every 200 ms.
  EXPECT_EQ(std::get<1>(after), std::get<1>(before));
  uint64_t liveness = std::get<2>(after) - std::get<2>(before);
  EXPECT_EQ(std::get<0>(after) - std::get<0>(before), liveness);
  EXPECT_GE(liveness, 3u * 2 * 5 * 5 * 8 / 10);
  EXPECT_LE(liveness, 3u * 2 * 5 * 5 * 12 / 10);
  // A read wakes its bucket and is answered.
  auto got = co_await client->get(BucketId(0), "key", deadline);
  EXPECT_TRUE(got.ok() && got->value() == "value 0") << got.status().to_string();

  // Host 1 dies (it leads about a third of the buckets): the others wake and elect within a few
  // election timeouts, and every value is still there. 5 s: the liveness timeout (600 ms), then an
  // election timeout (600-1,200 ms) and, for the buckets whose two followers woke together and
  // split their votes, up to two more.
  (void)co_await c->clock().sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(hibernated(1), 3 * kBuckets);
  EXPECT_TRUE((co_await c->stop(HostId(1), false)).ok());
  Clock::TimePoint killed = c->clock().now();
  auto leaderless = [c] {
    std::vector<uint32_t> out;
    for (uint32_t b = 0; b < kBuckets; ++b) {
      int leaders = 0;
      for (uint32_t h = 2; h <= 3; ++h) {
        for (const ReplicaStatus& s : c->host(HostId(h)).status()) {
          if (s.bucket == BucketId(b) && s.role == raft::Role::kLeader) ++leaders;
        }
      }
      if (leaders != 1) out.push_back(b);
    }
    return out;
  };
  while (!leaderless().empty() && c->clock().now() - killed < std::chrono::seconds(5)) {
    (void)co_await c->clock().sleep_for(milliseconds(50));
  }
  std::printf("every bucket had a leader again %.2f s after its leader's host died\n",
              std::chrono::duration<double>(c->clock().now() - killed).count());
  for (uint32_t b : leaderless()) ADD_FAILURE() << "bucket " << b << " has no leader 5 s after";
  EXPECT_GT(
      c->host(HostId(2)).stats().woken_by_liveness + c->host(HostId(3)).stats().woken_by_liveness,
      0u);
  deadline = Deadline::after(std::chrono::seconds(20), c->clock());
  for (uint32_t b = 0; b < kBuckets; ++b) {
    auto value = co_await client->get(BucketId(b), "key", deadline);
    EXPECT_TRUE(value.ok() && value->found() && value->value() == fmt::format("value {}", b))
        << "bucket " << b << ": " << value.status().to_string();
  }
  std::printf("every bucket served again %.1f s after its leader's host died\n",
              std::chrono::duration<double>(c->clock().now() - killed).count());
  client->close();
  for (uint32_t h = 2; h <= 3; ++h) EXPECT_TRUE((co_await c->stop(HostId(h), false)).ok());
  co_return 0;
}

Task<void> ensure_into(BucketHost* host, BucketId bucket, raft::Config founding, Status* out,
                       int* done) {
  *out = co_await host->ensure_replica(bucket, std::move(founding));
  ++*done;
}

// Founding and a leader's first message can ask for one replica at the same moment: one open.
// A real store (writer and sync threads) on a real loop: founding waits for a synced write, which
// is when the second request arrives (in simulation mode the write is inline and nothing races).
Task<int> concurrent_ensure_scenario(std::string path) {
  Executor executor = co_await boost::asio::this_coro::executor;
  BucketHostOptions o;
  o.host = HostId(1);
  o.cluster = kCluster;
  o.path = std::move(path);
  o.store.boot_id.fill(4);
  o.store.store_id_seed = 77;
  auto host =
      co_await BucketHost::open(executor, o, [](HostId) { return std::optional<PeerAddress>(); });
  EXPECT_TRUE(host.ok()) << host.status().to_string();
  if (!host.ok()) co_return 1;
  raft::Config founding;
  founding.voters.push_back((*host)->self());
  Status first, second;
  int done = 0;
  spawn_detached(executor, ensure_into(host->get(), BucketId(3), founding, &first, &done), "first");
  spawn_detached(executor, ensure_into(host->get(), BucketId(3), raft::Config{}, &second, &done),
                 "second");
  for (int i = 0; i < 500 && done < 2; ++i) {
    (void)co_await RealClock::instance().sleep_for(milliseconds(10));
  }
  EXPECT_EQ(done, 2);
  EXPECT_TRUE(first.ok()) << first.to_string();
  EXPECT_TRUE(second.ok()) << second.to_string();
  // The first call founded it: its configuration holds.
  Replica* replica = (*host)->replica(BucketId(3));
  EXPECT_NE(replica, nullptr);
  if (replica != nullptr) {
    EXPECT_EQ(replica->core().config().voters, founding.voters);
  }
  EXPECT_TRUE((co_await (*host)->shutdown(false)).ok());
  co_return 0;
}

TEST(BucketHostTest, ConcurrentOpensOfOneReplicaOpenItOnce) {
  testing::TempDir dir;
  boost::asio::io_context context;
  auto work = boost::asio::make_work_guard(context);
  std::thread loop([&context] { context.run(); });
  auto result = boost::asio::co_spawn(context, concurrent_ensure_scenario(dir.file("h1")),
                                      boost::asio::use_future);
  EXPECT_EQ(result.get(), 0);
  work.reset();
  loop.join();
}

TEST(BucketHostTest, IdleBucketsHibernateAndWakeWhenTheirLeaderDies) {
  Cluster cluster;
  cluster.set_hibernate_after(milliseconds(500));
  EXPECT_EQ(cluster.run(hibernation_scenario(&cluster)), 0);
}

}  // namespace
}  // namespace tessera::bucket
