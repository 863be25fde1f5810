// TestCluster: three BucketHosts on a simulated network and a fake clock, each with its own
// store in a temporary directory, for tests of what runs on replicated buckets (the bucket host
// itself, the namespace). Every host holds every bucket; found_buckets() founds them on all three.
// Tests only. Executor: everything runs on the cluster's io_context through run().
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bucket/bucket_client.h"
#include "bucket/bucket_host.h"
#include "rpc/sim_network.h"
#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera::bucket {

inline constexpr ClusterUuid kTestCluster = {9, 9, 9, 9, 9, 9, 9, 9, 1, 1, 1, 1, 1, 1, 1, 1};
inline constexpr uint16_t kTestClusterPort = 7100;

inline std::string node_name(HostId id) { return fmt::format("h{}", id.value()); }

class TestCluster : public BucketDirectory {
 public:
  // `handler`: the command handler of every replica (nullptr: key-value buckets).
  explicit TestCluster(uint32_t buckets, CommandHandler* handler = nullptr)
      : network_(context_.get_executor(), clock_, 3), buckets_(buckets), handler_(handler) {}

  template <typename T>
  T run(Task<T> task) {
    return run_simulated(context_, clock_, std::move(task));
  }

  Task<Status> start(HostId id) {
    BucketHostOptions o;
    o.clock = &clock_;
    o.network = &network_.node(node_name(id));
    o.host = id;
    o.cluster = kTestCluster;
    o.path = dir_.file(node_name(id));
    o.store.simulation = true;
    o.store.boot_id.fill(3);
    o.store.store_id_seed = 500 + id.value();
    o.store.memtable_bytes = uint64_t{4} * 1024 * 1024;
    o.seed = id.value();
    o.replica.core.hibernate_after = hibernate_after_;
    o.replica.command_handler = handler_;
    o.replica.unix_ms = [this] { return unix_ms(); };
    auto host = co_await BucketHost::open(context_.get_executor(), o,
                                          [](HostId peer) -> std::optional<PeerAddress> {
                                            return PeerAddress{node_name(peer), kTestClusterPort};
                                          });
    if (!host.ok()) co_return host.status();
    rpc::ServerOptions s;
    s.clock = &clock_;
    s.network = &network_.node(node_name(id));
    s.port = kTestClusterPort;
    auto server = std::make_unique<rpc::RpcServer>(context_.get_executor(), s);
    (*host)->register_handlers(*server);
    TESS_CO_RETURN_IF_ERROR(server->start());
    hosts_[id] = std::move(*host);
    servers_[id] = std::move(server);
    co_return Status();
  }

  Task<Status> found_buckets() {
    raft::Config founding;
    for (auto& [id, h] : hosts_) founding.voters.push_back(h->self());
    std::sort(founding.voters.begin(), founding.voters.end());
    for (auto& [id, h] : hosts_) {
      for (uint32_t b = 0; b < buckets_; ++b) {
        TESS_CO_RETURN_IF_ERROR(co_await h->ensure_replica(BucketId(b), founding));
      }
    }
    co_return Status();
  }

  Task<Status> stop(HostId id, bool clean) {
    Status s = co_await hosts_.at(id)->shutdown(clean);
    co_await servers_.at(id)->shutdown(Deadline::after(std::chrono::milliseconds(100), clock_));
    network_.crash(node_name(id));
    servers_.erase(id);
    hosts_.erase(id);
    co_return s;
  }

  // BucketDirectory: every host holds every bucket.
  std::vector<HostId> replicas(BucketId) const override {
    return {HostId(1), HostId(2), HostId(3)};
  }
  std::optional<PeerAddress> address(HostId host) const override {
    return PeerAddress{node_name(host), kTestClusterPort};
  }
  Task<Status> refresh(Deadline) override { co_return Status(); }

  BucketHost& host(HostId id) { return *hosts_.at(id); }
  void set_hibernate_after(raft::Duration after) { hibernate_after_ = after; }
  FakeClock& clock() { return clock_; }
  // The wall clock of every replica: the fake clock, from a fixed date.
  uint64_t unix_ms() const {
    return 1'764'000'000'000 +
           static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     clock_.now().time_since_epoch())
                                     .count());
  }
  boost::asio::io_context& context() { return context_; }
  rpc::SimNetwork& network() { return network_; }

 private:
  testing::TempDir dir_;
  boost::asio::io_context context_;
  FakeClock clock_;
  rpc::SimNetwork network_;
  std::map<HostId, std::unique_ptr<BucketHost>> hosts_;
  std::map<HostId, std::unique_ptr<rpc::RpcServer>> servers_;
  uint32_t buckets_;
  CommandHandler* handler_;
  raft::Duration hibernate_after_ = raft::Duration::zero();
};

}  // namespace tessera::bucket
