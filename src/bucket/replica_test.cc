// Replica tests: three replicas of one bucket, each with its own LogStore (simulation mode, real
// RocksDB in temporary directories), on one loop with a FakeClock; messages go straight to the
// addressee's step() through the loop. They check the promises end to end through the store:
// writes commit and read back, a leader's crash elects another that holds every acknowledged
// write, a restarted replica catches up, and a retried mutation is answered once.
#include "bucket/replica.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <map>

#include "bucket/bucket_client.h"
#include "bucket/bucket_service.h"
#include "bucket/keys.h"
#include "bucket/raft_transport.h"
#include "rpc/sim_network.h"
#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera::bucket {
namespace {

using std::chrono::milliseconds;
using testing::TempDir;

constexpr ClusterUuid kCluster = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
const BucketId kBucket(5);

class Group;

class DirectOutbox final : public RaftOutbox {
 public:
  explicit DirectOutbox(Group* group) : group_(group) {}
  void send(BucketId bucket, raft::Message message) override;

 private:
  Group* group_;
};

struct Host {
  HostId id;
  std::string path;
  std::unique_ptr<LogStore> store;
  std::unique_ptr<Replica> replica;
  // Networked groups: the host's RPC server and transport over the SimNetwork.
  std::unique_ptr<rpc::RpcServer> server;
  std::unique_ptr<RaftTransport> transport;
  std::unique_ptr<BucketService> service;
  bool up = false;
};

constexpr uint16_t kRaftPort = 7000;
std::string node_name(HostId id) { return fmt::format("host{}", id.value()); }

class Group {
 public:
  // networked: replicas talk through RaftTransport and RpcServer over a SimNetwork; otherwise
  // messages are posted straight to the addressee.
  Group(int size, bool networked)
      : outbox_(this),
        networked_(networked),
        network_(context_.get_executor(), clock_, /*seed=*/size) {
    for (int i = 1; i <= size; ++i) {
      hosts_[HostId(i)] = Host{HostId(i), dir_.file(fmt::format("host{}", i)), nullptr, nullptr};
    }
  }

  template <typename T>
  T run(Task<T> task) {
    return run_simulated(context_, clock_, std::move(task));
  }

  Task<Status> open_store(HostId id) {
    Host& h = hosts_.at(id);
    LogStoreOptions o;
    o.clock = &clock_;
    o.simulation = true;
    o.boot_id.fill(7);
    o.store_id_seed = 1000 + id.value();
    o.now_unix_ms = 1'764'000'000'000;
    o.memtable_bytes = uint64_t{4} * 1024 * 1024;
    auto store = co_await LogStore::open(context_.get_executor(), h.path, kCluster, id, o);
    if (!store.ok()) co_return store.status();
    h.store = std::move(*store);
    co_return Status();
  }

  raft::ReplicaId replica_id(HostId id) const {
    return raft::ReplicaId{id, hosts_.at(id).store->identity().store};
  }

  Task<Status> start_replica(HostId id, raft::Config founding) {
    Host& h = hosts_.at(id);
    ReplicaOptions options;
    options.core.self = replica_id(id);
    options.core.seed = id.value();
    RaftOutbox* outbox = &outbox_;
    if (networked_) {
      RaftTransportOptions t;
      t.clock = &clock_;
      t.network = &network_.node(node_name(id));
      t.self = replica_id(id);
      h.transport = std::make_unique<RaftTransport>(
          context_.get_executor(), t, [](HostId peer) -> std::optional<PeerAddress> {
            return PeerAddress{node_name(peer), kRaftPort};
          });
      h.transport->set_incarnation(h.store->start_seq());
      rpc::ServerOptions s;
      s.clock = &clock_;
      s.network = &network_.node(node_name(id));
      s.port = kRaftPort;
      h.server = std::make_unique<rpc::RpcServer>(context_.get_executor(), s);
      h.server->register_handler(rpc::MessageType::kRaftBatch,
                                 std::bind_front(&RaftTransport::handle, h.transport.get()));
      h.service = std::make_unique<BucketService>();
      h.server->register_handler(rpc::MessageType::kBucketCall,
                                 std::bind_front(&BucketService::handle_call, h.service.get()));
      h.server->register_handler(rpc::MessageType::kBucketSync,
                                 std::bind_front(&BucketService::handle_sync, h.service.get()));
      TESS_CO_RETURN_IF_ERROR(h.server->start());
      outbox = h.transport.get();
    }
    auto r = co_await Replica::open(context_.get_executor(), &clock_, h.store.get(), kBucket,
                                    founding, options, outbox);
    if (!r.ok()) co_return r.status();
    h.replica = std::move(*r);
    Replica* replica = h.replica.get();
    h.store->add_durable_listener(context_.get_executor(),
                                  [replica](const std::vector<DurableMark>& marks) {
                                    for (const auto& m : marks) replica->on_durable(m.durable);
                                  });
    if (h.transport) h.transport->attach(h.replica.get());
    if (h.service) h.service->attach(h.replica.get());
    h.replica->start();
    h.up = true;
    co_return Status();
  }

  // Starts every host's store and replica, founding the bucket with all of them as voters.
  Task<Status> start_all() {
    for (auto& [id, h] : hosts_) TESS_CO_RETURN_IF_ERROR(co_await open_store(id));
    raft::Config founding;
    for (auto& [id, h] : hosts_) founding.voters.push_back(replica_id(id));
    std::sort(founding.voters.begin(), founding.voters.end());
    for (auto& [id, h] : hosts_) TESS_CO_RETURN_IF_ERROR(co_await start_replica(id, founding));
    co_return Status();
  }

  // kill -9: the replica and store go without a clean stop (the OS keeps what was written).
  Task<void> crash(HostId id) {
    Host& h = hosts_.at(id);
    h.up = false;
    co_await h.replica->stop();
    if (h.transport) {
      h.transport->detach(kBucket);
      h.service->detach(kBucket);
      co_await h.server->shutdown(Deadline::after(milliseconds(100), clock_));
      co_await h.transport->shutdown();
      network_.crash(node_name(id));
      h.server.reset();
      h.transport.reset();
      h.service.reset();
    }
    h.replica.reset();
    co_await h.store->close();
    h.store.reset();
  }

  Task<Status> restart(HostId id) {
    TESS_CO_RETURN_IF_ERROR(co_await open_store(id));
    co_return co_await start_replica(id, raft::Config{});
  }

  Task<Replica*> wait_for_leader() {
    for (int i = 0; i < 100; ++i) {
      for (auto& [id, h] : hosts_) {
        if (h.up && h.replica->core().role() == raft::Role::kLeader) co_return h.replica.get();
      }
      (void)co_await clock_.sleep_for(milliseconds(100));
    }
    co_return nullptr;
  }

  Task<void> stop_all() {
    for (auto& [id, h] : hosts_) {
      if (!h.up) continue;
      co_await crash(id);
    }
  }

  void deliver(const raft::Message& message) {
    auto it = hosts_.find(message.to.host);
    if (it == hosts_.end() || !it->second.up) return;
    if (it->second.replica->core().self() != message.to) return;
    it->second.replica->step(message);
  }

  // Frames the transports sent (zero when not networked).
  uint64_t frames_sent() const {
    uint64_t n = 0;
    for (const auto& [id, h] : hosts_) {
      if (h.transport) n += h.transport->stats().frames_sent;
    }
    return n;
  }
  bool networked() const { return networked_; }
  rpc::SimNetwork& network() { return network_; }
  std::vector<HostId> host_ids() const {
    std::vector<HostId> out;
    for (const auto& [id, h] : hosts_) out.push_back(id);
    return out;
  }
  boost::asio::io_context& context() { return context_; }
  FakeClock& clock() { return clock_; }
  Host& host(HostId id) { return hosts_.at(id); }

 private:
  TempDir dir_;
  boost::asio::io_context context_;
  FakeClock clock_;
  DirectOutbox outbox_;
  bool networked_;
  rpc::SimNetwork network_;
  std::map<HostId, Host> hosts_;
};

void DirectOutbox::send(BucketId bucket, raft::Message message) {
  EXPECT_EQ(bucket, kBucket);
  // Through the loop, as a transport would deliver it: never re-entrantly.
  boost::asio::post(group_->context(),
                    [group = group_, m = std::move(message)]() mutable { group->deliver(m); });
}

proto::BucketCommand put(uint64_t session, uint64_t request, std::string key, std::string value) {
  proto::BucketCommand c;
  c.mutable_header()->set_session(session);
  c.mutable_header()->set_request(request);
  c.mutable_put()->set_key(std::move(key));
  c.mutable_put()->set_value(std::move(value));
  return c;
}

Task<int> scenario(Group* g) {
  EXPECT_TRUE((co_await g->start_all()).ok());
  Replica* leader = co_await g->wait_for_leader();
  EXPECT_NE(leader, nullptr);
  if (leader == nullptr) co_return 1;
  Deadline deadline = Deadline::after(std::chrono::seconds(5), g->clock());
  auto put1 = co_await leader->mutate(put(1, 1, "k", "v1"), deadline);
  EXPECT_TRUE(put1.ok()) << put1.status().to_string();
  auto got = co_await leader->get("k", deadline);
  EXPECT_TRUE(got.ok() && got->found() && got->value() == "v1");

  // A retry of the same request gets its first answer and does not run again.
  auto put2 = co_await leader->mutate(put(1, 2, "k", "v2"), deadline);
  EXPECT_TRUE(put2.ok());
  auto retry = co_await leader->mutate(put(1, 1, "k", "v1"), deadline);
  EXPECT_TRUE(retry.ok() && retry->applied_index() == put1->applied_index());
  got = co_await leader->get("k", deadline);
  EXPECT_TRUE(got.ok() && got->value() == "v2");

  // Durable on a majority.
  EXPECT_TRUE((co_await leader->sync_to(put2->applied_index(), deadline)).ok());

  if (g->networked()) {
    EXPECT_GT(g->frames_sent(), 10u);
  }

  // The leader dies: another is elected and holds every acknowledged write.
  HostId old = leader->core().self().host;
  co_await g->crash(old);
  Replica* next = co_await g->wait_for_leader();
  EXPECT_NE(next, nullptr);
  if (next == nullptr) co_return 1;
  EXPECT_NE(next->core().self().host, old);
  deadline = Deadline::after(std::chrono::seconds(5), g->clock());
  got = co_await next->get("k", deadline);
  EXPECT_TRUE(got.ok() && got->value() == "v2") << got.status().to_string();
  auto put3 = co_await next->mutate(put(2, 1, "k2", "after"), deadline);
  EXPECT_TRUE(put3.ok());

  // The old leader comes back and catches up.
  EXPECT_TRUE((co_await g->restart(old)).ok());
  for (int i = 0; i < 50; ++i) {
    if (g->host(old).replica->core().applied().value() >= put3->applied_index()) break;
    (void)co_await g->clock().sleep_for(milliseconds(100));
  }
  auto stored = g->host(old).store->get_state(user_key(kBucket, "k2"));
  EXPECT_TRUE(stored.ok() && stored->has_value() && **stored == "after");
  co_await g->stop_all();
  co_return 0;
}

// The map as a client sees it: every host holds the bucket.
class StaticDirectory final : public BucketDirectory {
 public:
  explicit StaticDirectory(std::vector<HostId> hosts) : hosts_(std::move(hosts)) {}
  std::vector<HostId> replicas(BucketId) const override { return hosts_; }
  std::optional<PeerAddress> address(HostId host) const override {
    return PeerAddress{node_name(host), kRaftPort};
  }
  Task<Status> refresh(Deadline) override { co_return Status(); }

 private:
  std::vector<HostId> hosts_;
};

Task<int> client_scenario(Group* g) {
  EXPECT_TRUE((co_await g->start_all()).ok());
  StaticDirectory directory(g->host_ids());
  BucketClientOptions options;
  options.clock = &g->clock();
  options.network = &g->network().node("client");
  options.session = 77;
  BucketClient client(g->context().get_executor(), directory, options);
  Deadline deadline = Deadline::after(std::chrono::seconds(10), g->clock());
  // The first call finds the leader however the election went (redirects or retries).
  auto put1 = co_await client.put(kBucket, "k", "v1", deadline);
  EXPECT_TRUE(put1.ok()) << put1.status().to_string();
  auto cas_ok = co_await client.compare_and_set(kBucket, "k", "v1", "v2", deadline);
  EXPECT_TRUE(cas_ok.ok() && cas_ok->found());
  auto cas_stale = co_await client.compare_and_set(kBucket, "k", "v1", "v3", deadline);
  EXPECT_TRUE(cas_stale.ok() && !cas_stale->found() && cas_stale->value() == "v2");
  auto absent = co_await client.compare_and_set(kBucket, "new", std::nullopt, "x", deadline);
  EXPECT_TRUE(absent.ok() && absent->found());
  auto listed = co_await client.range(kBucket, "", "", 10, deadline);
  EXPECT_TRUE(listed.ok() && listed->found());
  EXPECT_TRUE((co_await client.sync_to(kBucket, absent->applied_index(), deadline)).ok());

  // Kill the leader: the client's next calls find the new one within their deadline.
  Replica* leader = co_await g->wait_for_leader();
  EXPECT_NE(leader, nullptr);
  if (leader == nullptr) co_return 1;
  co_await g->crash(leader->core().self().host);
  uint64_t retries_before = client.stats().retries + client.stats().redirects;
  deadline = Deadline::after(std::chrono::seconds(10), g->clock());
  auto put2 = co_await client.put(kBucket, "k", "v4", deadline);
  EXPECT_TRUE(put2.ok()) << put2.status().to_string();
  auto got = co_await client.get(kBucket, "k", deadline);
  EXPECT_TRUE(got.ok() && got->found() && got->value() == "v4");
  EXPECT_GT(client.stats().retries + client.stats().redirects, retries_before);
  client.close();
  co_await g->stop_all();
  co_return 0;
}

TEST(ReplicaTest, ClientFindsTheLeaderAndFollowsItAcrossACrash) {
  Group group(3, /*networked=*/true);
  EXPECT_EQ(group.run(client_scenario(&group)), 0);
}

TEST(ReplicaTest, ReplicatesSurvivesALeaderCrashAndCatchesUp) {
  Group group(3, /*networked=*/false);
  EXPECT_EQ(group.run(scenario(&group)), 0);
}

TEST(ReplicaTest, OverTheTransportAndRpc) {
  Group group(3, /*networked=*/true);
  EXPECT_EQ(group.run(scenario(&group)), 0);
}

}  // namespace
}  // namespace tessera::bucket
