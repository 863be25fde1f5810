// ControlPlane: one tessd's part in the cluster's control plane, on a ConfigStore (etcd).
//
// join() finds (or creates) the cluster's uuid and this host's id; start() takes a lease (TTL
// default 5 s), registers the host under it and starts two coroutines:
//   - the lease keeper: a keep-alive every TTL/3 on its own schedule, so a slow map read or a
//     long assignment round never lets a live host's lease lapse; when the lease has ended (etcd
//     was out of reach, or ended it early) it takes a new one and registers again;
//   - the rounds, every poll interval: campaign for management leadership (election/mgmt created
//     under the lease; its create revision is the leader's term), read registrations and the map,
//     and, on the leader, bring the map in line (hosts down/up/restarted, drives, R and each
//     bucket's desired replicas and preferred leader) with one fenced compare-and-swap per change
//     (docs/architecture.md 2, 3.1). The leader times each host's absence on its own clock from
//     when it first saw it down in its term; a host down for the map's replica_replacement_delay_s
//     is permanently failed and its replicas are replaced (a new leader starts afresh).
//
// Executor: everything but the readers runs on `env.executor`, which the caller owns and runs
// (tessd: a control-plane io_context with a thread of its own, because the REST API thread and
// drive start-up reach the control plane through a BlockingBridge, which must not be called from
// the loop it enters, and so that etcd answers of a large map are decoded off the data path; the
// simulator: its one shared io_context). The tasks (join, start, stop, crash and the operations)
// must be awaited on that executor. view(), is_leader(), map_epoch(), host_id() and the other
// const accessors are thread-safe.
//
// Time, randomness and wall-clock stamps come from `env` (Clock, seed, unix-ms source), so a
// control plane runs the same under RealClock and EtcdConfigStore as under a simulation's drifting
// clock and FakeConfigStore::client(name).
//
// Lifecycle: join -> start -> (stop | crash) -> destroy. stop(revoke) ends the coroutines and, if
// asked, revokes the lease (the host is deregistered at once); crash() ends them without another
// store call (the lease lapses by itself, as after kill -9). Destroying a started control plane
// before stop or crash has completed is a bug (asserted). A restart is a new ControlPlane with the
// same host name (and another seed: the incarnation comes from it).
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cluster/cluster_map.h"
#include "cluster/config_store.h"
#include "cluster/filesystems.h"
#include "runtime/async_semaphore.h"
#include "runtime/clock.h"
#include "runtime/task.h"

namespace tessera {

struct ControlPlaneOptions {
  std::string cluster_name = "default";
  std::string host_name;  // Unique in the cluster; a restarted host keeps its id by it.
  std::string address;    // Where others reach this host.
  uint16_t rpc_port = 0;
  uint16_t http_port = 0;
  std::string failure_domain;  // Empty: the host's own.
  int64_t lease_ttl_seconds = 5;
  std::chrono::milliseconds poll_interval{250};
  // The deadline of each store call (a round's calls each get their own).
  std::chrono::milliseconds store_timeout{3000};
};

// What the control plane runs on; owned by the caller, outliving the ControlPlane.
struct ControlPlaneEnv {
  Executor executor;
  const Clock* clock = nullptr;
  ConfigStore* store = nullptr;
  // Seeds the uuid of a new cluster and this process's incarnation. Give every process start its
  // own (tessd: from std::random_device; the simulator: from its seed).
  uint64_t seed = 0;
  // Wall-clock time for stamps (registration start, cluster creation); nullptr: the system clock.
  std::function<uint64_t()> unix_ms;
};

// What this host currently knows; replaced whole on every round.
struct ClusterView {
  std::optional<ClusterMap> map;
  std::vector<proto::HostRegistration> registrations;
  uint32_t leader_host_id = 0;    // 0: no management leader known.
  int64_t election_revision = 0;  // The create revision (term) of the leader's election key.
  Status etcd_status;             // The last failure of a round, or OK.
};

class ControlPlane {
 public:
  // Reads or creates the cluster's uuid and this host's id. Fails with the store's errors (or
  // kCorruption for malformed values in it). REQUIRES: awaited on env.executor.
  static Task<Result<std::unique_ptr<ControlPlane>>> join(ControlPlaneEnv env,
                                                          ControlPlaneOptions options);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Thread-safe accessors.
  const std::string& cluster_uuid() const { return uuid_; }
  uint32_t host_id() const { return host_id_; }
  uint64_t incarnation() const { return incarnation_; }
  const ControlPlaneOptions& options() const { return options_; }
  const ClusterKeys& keys() const { return keys_; }
  std::shared_ptr<const ClusterView> view() const;
  // Whether this host believes it is the management leader (as of its last round).
  bool is_leader() const;
  // The newest map epoch this host holds (0 before the cluster exists); see map_epoch.h.
  MapEpoch map_epoch() const;

  // The id of this host's bucket log store, published in its registration (0, the default: it
  // holds no buckets). REQUIRES: before start().
  void set_bucket_store(uint64_t store);

  // The rest: tasks on env.executor.
  // Grants the lease, registers, runs the first round and starts the coroutines. kUnavailable
  // (or outcome-unknown) if the store cannot serve.
  Task<Status> start();
  // Ends the coroutines (waiting for store calls in flight, each bounded by its deadline), then
  // revokes the lease if `revoke_lease`. Idempotent.
  Task<void> stop(bool revoke_lease);
  // A crash, for the simulator: no store call is made from now on; the coroutines end.
  Task<void> crash();

  // A new cluster-wide drive id (a lost answer can leave a gap in the ids, never a duplicate).
  Task<Result<uint32_t>> allocate_drive_id();
  // The drives this host serves; published with the registration by the lease keeper.
  Task<void> set_drives(std::vector<proto::DriveInfo> drives);
  // Management-leader operations. kFailedPrecondition if this host is not the leader (the REST
  // API redirects first), is no longer (fenced), or the cluster state forbids it;
  // kInvalidArgument for broken rules; kAborted if another change came first.
  Task<Status> create_cluster(CreationRequest request);
  Task<Status> set_hot_spare(uint32_t hot_spare);

  // Filesystems (cluster/filesystems.h). Any host: the table as etcd holds it now (a
  // linearizable read within the store deadline).
  Task<Result<FilesystemTable>> filesystems();
  // Management leader: one filesystem change (change_filesystem), fenced by this host's term and
  // one at a time from this host. kFailedPrecondition if this host is not the leader (the REST API
  // redirects first); otherwise change_filesystem's results. `usage`: what each filesystem holds.
  Task<Result<proto::FilesystemRecord>> change_filesystem(FilesystemChange change,
                                                          FilesystemUsageTable usage);

 private:
  class GatedStore;
  ControlPlane(ControlPlaneEnv env, ControlPlaneOptions options, std::string uuid, uint32_t host_id,
               uint64_t incarnation);

  Deadline store_deadline() const;
  uint64_t now_unix_ms() const;
  proto::HostRegistration registration() const;
  void publish(std::shared_ptr<const ClusterView> view);
  void publish_failure(const Status& status);

  Task<void> keep_lease_loop();
  Task<Status> keep_lease();
  Task<Status> register_host();
  Task<void> round_loop();
  Task<Status> round();
  Task<Status> campaign(uint32_t* leader, int64_t* election_revision);
  Task<Result<std::optional<ClusterMap>>> current_map(std::shared_ptr<const ClusterView> held);
  Task<Result<bool>> lead(std::shared_ptr<const ClusterView> view);
  // Updates down_since_ from the view's registrations; returns the hosts down for at least the
  // map's replacement delay. Leader only.
  std::set<HostId> permanently_failed(const ClusterView& view);
  Task<Status> write_map(MapWrite write, int64_t election_revision);
  // Sleeps until `at`, or until woken (`*wake` set) or stopping.
  Task<void> pause(boost::asio::steady_timer* timer, bool* wake, Clock::TimePoint at);
  void loop_ended();

  Executor executor_;
  const Clock& clock_;
  std::unique_ptr<GatedStore> store_;  // env.store behind the crash gate.
  ConfigStore& raw_store_;             // For the lease revoke of stop().
  std::function<uint64_t()> unix_ms_;
  ControlPlaneOptions options_;
  ClusterKeys keys_;
  std::string uuid_;
  uint32_t host_id_;
  uint64_t incarnation_;
  uint64_t started_unix_ms_;
  uint64_t bucket_store_ = 0;

  // Executor state (no locks).
  LeaseId lease_;
  std::vector<proto::DriveInfo> drives_;
  bool registration_dirty_ = true;
  bool stopping_ = false;
  bool lease_wake_ = false;
  bool round_wake_ = false;
  int running_loops_ = 0;
  boost::asio::steady_timer lease_timer_;
  boost::asio::steady_timer round_timer_;
  boost::asio::steady_timer ended_timer_;
  AsyncSemaphore map_writer_{1};  // One map change at a time from this host.
  // One filesystem change at a time from this host: concurrent ones would only beat each other's
  // version comparison and retry.
  AsyncSemaphore filesystem_writer_{1};
  std::string unchanged_inputs_;  // Map revision + registrations of the last round without change.
  // When this host, as management leader in term down_since_term_ (its election revision), first
  // saw each host down: the replacement delay runs from there on this host's clock_, and starts
  // afresh in every term (replacement can come later than the delay, never earlier).
  std::map<HostId, Clock::TimePoint> down_since_;
  int64_t down_since_term_ = 0;
  std::set<HostId> reported_failed_;  // Logged once each.
  std::string last_error_;            // Logged once per distinct failure.

  mutable std::mutex view_mutex_;  // Guards view_ (read from the REST API thread).
  std::shared_ptr<const ClusterView> view_ = std::make_shared<ClusterView>();
};

}  // namespace tessera
