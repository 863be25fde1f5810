// ComputeHost: the compute role of one tessd (docs/design/2026-12-04-compute-role.md): the
// process's BucketHost, kept in line with the cluster map the control plane holds. It reopens every
// bucket its log store holds, founds the buckets whose founding configuration names this host's
// store, finds peers from the control plane's view, and reports its replicas for the REST API.
//
// Executor: lives on one loop (the one given to open(); tessd: the loop that serves RPC); every
// method is called there. The control plane lives elsewhere: only its thread-safe accessors
// (view(), host_id()) are used. Lifecycle: open -> register_handlers (before the RPC server starts)
// -> start -> co_await shutdown -> destroy.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "bucket/bucket_client.h"
#include "bucket/bucket_host.h"
#include "cluster/control_plane.h"
#include "meta/bucket_transport.h"
#include "meta/namespace_handler.h"
#include "meta/txn_recovery.h"
#include "raft/types.h"

namespace tessera {

// The first configuration of `bucket` (design 2026-12-04 §2): the voters are the bucket's desired
// hosts that are founders, each as (host, its founding store), sorted. nullopt once the bucket's
// desired set changed after creation (desired_epoch is not 1), or if no desired host is a founder:
// such a bucket's replicas come from its leader, never from founding.
std::optional<raft::Config> founding_config(const ClusterMap& map, BucketId bucket);

// The JSON of this host's replicas for GET /api/v1/local/buckets (api/rest_api.h, LocalBuckets).
nlohmann::json replica_status_json(const std::vector<bucket::ReplicaStatus>& replicas);

// The placement a host's bucket leaders reconcile with (bucket::PlacementSource), read from the
// control plane's current view: the map's desired hosts and preferred leader; a host is alive while
// it is registered, and runs the bucket store its registration names. Thread-safe (views are
// immutable snapshots).
class MapPlacement final : public bucket::PlacementSource {
 public:
  explicit MapPlacement(const ControlPlane* control) : control_(control) {}
  bucket::Placement placement(BucketId bucket) const override;
  bool alive(HostId host) const override;
  std::optional<raft::StoreId> store_of(HostId host) const override;
  raft::Config founding(BucketId bucket) const override;

 private:
  const proto::HostRegistration* registration(const ClusterView& view, HostId host) const;
  const ControlPlane* control_;
};

// The buckets as a client of this host finds them (bucket::BucketDirectory), for the transactions
// this host drives: the map's desired hosts, preferred leader first, at the addresses the control
// plane knows. The view is followed continuously, so refresh() has nothing to do. Thread-safe.
class MapBucketDirectory final : public bucket::BucketDirectory {
 public:
  using Resolver = std::function<std::optional<bucket::PeerAddress>(HostId)>;
  MapBucketDirectory(const MapPlacement* placement, Resolver resolve)
      : placement_(placement), resolve_(std::move(resolve)) {}
  std::vector<HostId> replicas(BucketId bucket) const override;
  std::optional<bucket::PeerAddress> address(HostId host) const override { return resolve_(host); }
  Task<Status> refresh(Deadline) override { co_return Status(); }

 private:
  const MapPlacement* placement_;
  Resolver resolve_;
};

struct ComputeHostOptions {
  std::string path;  // The log store's directory.
  ClusterUuid cluster{};
  HostId host;
  uint64_t seed = 1;  // Election jitter and the store id of a new store.
  // How often the map is checked for buckets to found (only a new epoch is looked at).
  Clock::Duration follow_interval = std::chrono::milliseconds(250);
  // Timeouts and limits of every replica; hibernate_after is set from the field below.
  bucket::ReplicaOptions replica;
  // An idle bucket stops ticking after this long (design 5.2); zero: never.
  Clock::Duration hibernate_after = std::chrono::seconds(2);
  // The recovery of transactions whose driver went away (meta/txn_recovery.h).
  meta::RecoveryLoopOptions recovery;
};

class ComputeHost {
 public:
  // Opens the log store (errors of LogStore::open, kIoError if the boot id cannot be read).
  // REQUIRES: `control` outlives the ComputeHost.
  static Task<Result<std::unique_ptr<ComputeHost>>> open(Executor executor,
                                                         ComputeHostOptions options,
                                                         const ControlPlane* control);
  ~ComputeHost();
  ComputeHost(const ComputeHost&) = delete;
  ComputeHost& operator=(const ComputeHost&) = delete;

  // The log store's id, for the host's registration.
  uint64_t store_id() const { return buckets_->self().store.value(); }
  void register_handlers(rpc::RpcServer& server) { buckets_->register_handlers(server); }
  // Reopens the buckets the store holds, then follows the map and recovers abandoned
  // transactions in the buckets led here. kCorruption / kIoError if a bucket the store holds
  // cannot be opened.
  Task<Status> start();
  nlohmann::json status_json() const { return replica_status_json(buckets_->status()); }
  // The usage counters of every replica held here, from its applied state (no lease round), for
  // GET /api/v1/local/usage (api::LocalBuckets::usage). A replica that cannot answer is left out.
  nlohmann::json usage_json() const;
  // Makes filesystem `fs`'s root directory in its bucket (the namespace's idempotent make_root),
  // within `deadline`: the bucket client's errors, or the namespace's refusal as kInternal.
  // kFailedPrecondition before the cluster exists.
  Task<Status> make_root(FilesystemId fs, Deadline deadline);
  bucket::BucketHost& buckets() { return *buckets_; }
  const meta::RecoveryLoopStats& recovery_stats() const { return recovery_->stats(); }
  // Stops following and recovering, then the buckets (clean: the next open knows nothing was
  // lost).
  Task<Status> shutdown(bool clean);

 private:
  ComputeHost(Executor executor, ComputeHostOptions options, const ControlPlane* control);
  static Task<void> follow_loop(ComputeHost* self);
  // Founds the buckets of `map` whose founding configuration holds this host.
  Task<void> found_buckets(const ClusterMap& map);
  // Founds a wave of buckets at once, so their synced founding writes share fsyncs.
  struct FoundingWave;
  static Task<void> found_one(ComputeHost* self, BucketId bucket, raft::Config config,
                              FoundingWave* wave);
  std::optional<bucket::PeerAddress> resolve(HostId host) const;

  Executor executor_;
  ComputeHostOptions options_;
  const ControlPlane* control_;
  MapPlacement placement_;
  // Runs the namespace in every bucket; declared before buckets_, whose replicas use it.
  meta::NamespaceHandler namespace_handler_;
  std::unique_ptr<bucket::BucketHost> buckets_;
  // What this host's recovery of transactions talks to the buckets through.
  MapBucketDirectory directory_;
  std::unique_ptr<bucket::BucketClient> client_;
  std::unique_ptr<meta::BucketTransport> transport_;
  std::unique_ptr<meta::RecoveryLoop> recovery_;
  uint64_t followed_epoch_ = 0;
  bool stopping_ = false;
  bool following_ = false;
  bool recovery_started_ = false;
  boost::asio::steady_timer follow_timer_;
  std::string last_error_;  // Logged once per distinct failure.
};

}  // namespace tessera
