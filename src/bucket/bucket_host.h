// BucketHost: the compute role's buckets in one tessd (design 4, 5, 7): the process's LogStore,
// the replicas it holds, the RaftTransport that carries their messages and the BucketService that
// answers clients, wired together: store durability reaches each replica, transport and service
// route by bucket. tessd (and tests, and the simulator) make one and tell it which buckets to hold.
//
// Lives on one executor (a loop): every method is called from it; replicas, transport and service
// live there too. (Spreading buckets over several loops, design 7, comes with the benchmark.)
// Lifecycle: open(), register_handlers() before the RPC server starts, ensure_replica() for the
// buckets to hold, ..., co_await shutdown(), destroy.
//
// Placement (design 6.3), with options.placement set: every reconcile_interval each replica that
// leads takes one step towards the map's placement (add a learner, promote it, remove a replica,
// transfer leadership: reconcile.h), and a leader's message for a bucket the map places here but
// that has no replica here creates an empty one, which its leader fills with a snapshot.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bucket/bucket_service.h"
#include "bucket/log_store.h"
#include "bucket/raft_transport.h"
#include "bucket/reconcile.h"
#include "bucket/replica.h"
#include "rpc/server.h"
#include "runtime/clock.h"
#include "runtime/task.h"

namespace tessera::bucket {

// The cluster map as the host's leaders reconcile with it (design 6.3). Called on the host's
// executor; implementations read a snapshot of the map (tessd: the control plane's view).
class PlacementSource : public PlacementView {
 public:
  // What the map wants of `bucket`; an empty placement when it is not known.
  virtual Placement placement(BucketId bucket) const = 0;
  // The bucket's founding configuration while it still applies (docs/design/
  // 2026-12-04-compute-role.md 2), else empty. A founder asked for its replica by a leader before
  // it founded the bucket itself founds it with this, exactly as it would have.
  virtual raft::Config founding(BucketId bucket) const {
    (void)bucket;
    return {};
  }
};

struct BucketHostOptions {
  const Clock* clock = &RealClock::instance();
  rpc::Network* network = nullptr;  // nullptr: TCP.
  HostId host;
  ClusterUuid cluster{};
  // The store's directory (`<data dir>/buckets`).
  std::string path;
  LogStoreOptions store;
  // Timeouts and limits of every replica (self, incarnation and seed are set per replica). The
  // host ticks every replica together, every replica.tick_interval.
  ReplicaOptions replica;
  // Seeds each replica's election jitter together with its bucket id.
  uint64_t seed = 1;
  // Where the map's placement comes from; nullptr: no reconciliation and no replica created on a
  // leader's message (tests that fix their groups).
  const PlacementSource* placement = nullptr;
  // How often each leader checks its configuration against the placement.
  Clock::Duration reconcile_interval = std::chrono::seconds(1);
  // Leadership transfers to preferred leaders started per reconcile round, at most.
  uint32_t max_transfers_per_round = 8;
  // Liveness (design 5.2): a peer store not heard from for this long is dead, and the hibernated
  // followers it leads wake and campaign. Above the transport's liveness_interval (200 ms) by
  // enough for two lost frames.
  Clock::Duration liveness_timeout = std::chrono::milliseconds(600);
};

struct BucketHostStats {
  uint64_t conf_changes_proposed = 0;
  uint64_t transfers_started = 0;
  uint64_t replicas_created_for_leader = 0;
  uint64_t woken_by_liveness = 0;
};

// What `tess bucket list` shows of one replica.
struct ReplicaStatus {
  BucketId bucket;
  raft::Role role = raft::Role::kFollower;
  raft::ReplicaId leader;
  Term term;
  raft::LogIndex commit;
  raft::LogIndex applied;
  raft::LogIndex last_index;
  raft::LogIndex durable;         // Fsynced here.
  raft::LogIndex quorum_durable;  // Fsynced on a majority (leader only; zero elsewhere).
  raft::Config config;
  bool recovering = false;
  bool broken = false;
  bool hibernated = false;
};

class BucketHost {
 public:
  // Opens the store (identity checked, boot recorded: log_store.h) and builds transport and
  // service. Errors of LogStore::open.
  static Task<Result<std::unique_ptr<BucketHost>>> open(Executor executor,
                                                        BucketHostOptions options,
                                                        RaftTransport::Resolver resolve);
  ~BucketHost();
  BucketHost(const BucketHost&) = delete;
  BucketHost& operator=(const BucketHost&) = delete;

  // Registers kRaftBatch, kBucketCall and kBucketSync. REQUIRES: before server.start().
  void register_handlers(rpc::RpcServer& server);

  // This host's replica identity (host, store id).
  raft::ReplicaId self() const { return self_; }
  LogStore& store() { return *store_; }
  // Starts the replica of `bucket` unless it runs already. `founding` is the bucket's first
  // configuration, used only if the store holds nothing of it (Replica::open).
  Task<Status> ensure_replica(BucketId bucket, raft::Config founding);
  // nullptr if this host holds no replica of `bucket`.
  Replica* replica(BucketId bucket) const;
  std::vector<ReplicaStatus> status() const;
  const RaftTransportStats& transport_stats() const { return transport_->stats(); }
  const BucketHostStats& stats() const { return stats_; }
  // One reconcile round now (the loop runs one every reconcile_interval): each replica that leads
  // takes its next step towards the placement (reconcile.h).
  void reconcile();

  // Stops every replica and the transport; with `clean`, syncs and records a clean stop (the
  // next open after a reboot then knows nothing was lost), otherwise closes as after a crash.
  Task<Status> shutdown(bool clean);

 private:
  BucketHost(Executor executor, BucketHostOptions options);
  static Task<void> tick_loop(BucketHost* self);
  // Wakes the hibernated replicas whose leader's store is dead or restarted, and the hibernated
  // leaders whose follower's store restarted (design 5.2).
  void check_liveness();
  static Task<void> reconcile_loop(BucketHost* self);
  // A message for a bucket without a replica here: if the map places one here, create it (empty:
  // its leader sends a snapshot).
  void on_unknown_bucket(BucketId bucket, const raft::Message& message);
  static Task<void> create_for_leader(BucketHost* self, BucketId bucket);
  // ensure_replica's work, once no other open of `bucket` runs.
  Task<Status> open_replica(BucketId bucket, raft::Config founding);

  Executor executor_;
  BucketHostOptions options_;
  raft::ReplicaId self_;
  std::unique_ptr<LogStore> store_;
  std::unique_ptr<RaftTransport> transport_;
  BucketService service_;
  std::map<BucketId, std::unique_ptr<Replica>> replicas_;
  bool shut_down_ = false;
  bool ticking_ = false;
  bool reconciling_ = false;
  std::set<BucketId> creating_;
  // Buckets being opened, each with a timer cancelled when its open ends (ensure_replica).
  std::map<BucketId, std::shared_ptr<boost::asio::steady_timer>> opening_;
  // The incarnation of each peer store as check_liveness() last saw it.
  std::map<raft::ReplicaId, uint64_t> seen_start_seq_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer reconcile_timer_;
  BucketHostStats stats_;
};

}  // namespace tessera::bucket
