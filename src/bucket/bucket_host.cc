#include "bucket/bucket_host.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/fault_points.h"
#include "base/log.h"
#include "rpc/message_type.h"

namespace tessera::bucket {

BucketHost::BucketHost(Executor executor, BucketHostOptions options)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      tick_timer_(executor_),
      reconcile_timer_(executor_) {}

Task<void> BucketHost::tick_loop(BucketHost* self) {
  // One tick for every replica in the same loop turn: their heartbeats to a peer share a frame.
  // Hibernated replicas skip their ticks (Replica::tick); liveness frames stand in for them.
  Clock::Duration interval = self->options_.replica.tick_interval;
  while (!self->shut_down_) {
    co_await self->options_.clock->wait(self->tick_timer_, self->options_.clock->now() + interval);
    if (self->shut_down_) break;
    self->transport_->send_liveness();
    self->check_liveness();
    for (auto& [bucket, r] : self->replicas_) r->tick();
  }
  self->ticking_ = false;
}

void BucketHost::check_liveness() {
  Clock::TimePoint now = options_.clock->now();
  std::set<raft::ReplicaId> dead;
  std::set<raft::ReplicaId> restarted;
  for (const auto& [peer, heard] : transport_->liveness()) {
    if (now - heard.last_heard > options_.liveness_timeout) dead.insert(peer);
    uint64_t& seen = seen_start_seq_[peer];
    if (seen != 0 && heard.start_seq > seen) restarted.insert(peer);
    seen = std::max(seen, heard.start_seq);
  }
  if (dead.empty() && restarted.empty()) return;
  for (auto& [bucket, r] : replicas_) {
    if (!r->hibernated()) continue;
    const raft::Core& core = r->core();
    bool wake = false;
    if (core.role() == raft::Role::kLeader) {
      // A follower that restarted may have lost its unsynced tail: probe it.
      for (raft::ReplicaId peer : restarted) wake |= core.progress().count(peer) > 0;
    } else {
      wake = dead.count(core.leader()) > 0 || restarted.count(core.leader()) > 0;
    }
    if (!wake) continue;
    TESS_COVER("bucket.woken_by_liveness");
    ++stats_.woken_by_liveness;
    r->wake_hibernated();
  }
}

Task<void> BucketHost::reconcile_loop(BucketHost* self) {
  while (!self->shut_down_) {
    co_await self->options_.clock->wait(
        self->reconcile_timer_, self->options_.clock->now() + self->options_.reconcile_interval);
    if (self->shut_down_) break;
    self->reconcile();
  }
  self->reconciling_ = false;
}

void BucketHost::reconcile() {
  if (options_.placement == nullptr || shut_down_) return;
  uint32_t transfers = 0;
  for (auto& [bucket, r] : replicas_) {
    const raft::Core& core = r->core();
    if (core.role() != raft::Role::kLeader || r->broken()) continue;
    ReconcileStep step =
        next_reconcile_step(core.config(), self_, core.progress(), core.last_index(),
                            options_.placement->placement(bucket), *options_.placement);
    Status done;
    using Kind = ReconcileStep::Kind;
    switch (step.kind) {
      case Kind::kNone:
        continue;
      case Kind::kAddLearner:
        done = r->propose_conf_change({raft::ConfChange::Kind::kAddLearner, step.replica});
        break;
      case Kind::kPromote:
        done = r->propose_conf_change({raft::ConfChange::Kind::kPromoteLearner, step.replica});
        break;
      case Kind::kRemove:
        done = r->propose_conf_change({raft::ConfChange::Kind::kRemoveReplica, step.replica});
        break;
      case Kind::kTransfer:
        // Bounded per round: a map that moves many preferred leaderships at once must not make
        // every bucket of this host pause for a transfer in the same second.
        if (transfers >= options_.max_transfers_per_round) continue;
        ++transfers;
        done = r->transfer_leadership(step.replica);
        if (done.ok()) ++stats_.transfers_started;
        break;
    }
    if (step.kind != Kind::kTransfer && done.ok()) ++stats_.conf_changes_proposed;
    // A refusal (a change pending, a transfer under way) is asked again next round.
    TESS_LOG_DEBUG("bucket {}: {} {} ({}): {}", bucket, reconcile_kind_name(step.kind),
                   step.replica, step.why, done.ok() ? "proposed" : done.message());
    if (done.ok() && step.kind != Kind::kTransfer) {
      TESS_LOG_INFO("bucket {}: {} {} ({})", bucket, reconcile_kind_name(step.kind), step.replica,
                    step.why);
    }
  }
}

void BucketHost::on_unknown_bucket(BucketId bucket, const raft::Message& message) {
  if (options_.placement == nullptr || shut_down_ || creating_.contains(bucket) ||
      opening_.contains(bucket)) {
    return;
  }
  // Only a leader's traffic creates a replica (a stray vote request never does), and only where
  // the map places one: a replica removed from a group is not brought back by late messages.
  bool from_leader = message.type == raft::MessageType::kAppend ||
                     message.type == raft::MessageType::kHeartbeat ||
                     message.type == raft::MessageType::kSnapshot;
  if (!from_leader) return;
  Placement placement = options_.placement->placement(bucket);
  if (std::find(placement.desired.begin(), placement.desired.end(), options_.host) ==
      placement.desired.end()) {
    return;
  }
  creating_.insert(bucket);
  spawn_detached(executor_, create_for_leader(this, bucket), "bucket host: create replica");
}

Task<void> BucketHost::create_for_leader(BucketHost* self, BucketId bucket) {
  raft::Config founding = self->options_.placement->founding(bucket);
  if (!founding.is_voter(self->self_)) founding = raft::Config{};
  Status created = co_await self->ensure_replica(bucket, std::move(founding));
  self->creating_.erase(bucket);
  if (created.ok()) {
    ++self->stats_.replicas_created_for_leader;
    TESS_LOG_INFO("bucket {}: replica created for its leader", bucket);
  } else if (!self->shut_down_) {
    TESS_LOG_WARN("bucket {}: cannot create the replica its leader adds: {}", bucket, created);
  }
}

BucketHost::~BucketHost() {
  TESS_ASSERT(shut_down_ || replicas_.empty(), "bucket host destroyed without shutdown()");
}

Task<Result<std::unique_ptr<BucketHost>>> BucketHost::open(Executor executor,
                                                           BucketHostOptions options,
                                                           RaftTransport::Resolver resolve) {
  options.store.clock = options.clock;
  std::unique_ptr<BucketHost> host(new BucketHost(executor, options));
  auto store =
      co_await LogStore::open(executor, options.path, options.cluster, options.host, options.store);
  if (!store.ok()) co_return store.status();
  host->store_ = std::move(*store);
  host->self_ = raft::ReplicaId{options.host, host->store_->identity().store};
  RaftTransportOptions transport;
  transport.clock = options.clock;
  transport.network = options.network;
  transport.self = host->self_;
  host->transport_ = std::make_unique<RaftTransport>(executor, transport, std::move(resolve));
  host->transport_->set_incarnation(host->store_->start_seq());
  BucketHost* self = host.get();
  if (options.placement != nullptr) {
    host->transport_->set_unknown_bucket_handler(
        [self](BucketId bucket, const raft::Message& message) {
          self->on_unknown_bucket(bucket, message);
        });
    self->reconciling_ = true;
    spawn_detached(executor, reconcile_loop(self), "bucket host: reconcile");
  }
  host->store_->add_durable_listener(executor, [self](const std::vector<DurableMark>& marks) {
    for (const DurableMark& mark : marks) {
      if (Replica* r = self->replica(mark.bucket)) r->on_durable(mark.durable);
    }
  });
  co_return std::move(host);
}

void BucketHost::register_handlers(rpc::RpcServer& server) {
  server.register_handler(rpc::MessageType::kRaftBatch,
                          std::bind_front(&RaftTransport::handle, transport_.get()));
  server.register_handler(rpc::MessageType::kBucketCall,
                          std::bind_front(&BucketService::handle_call, &service_));
  server.register_handler(rpc::MessageType::kBucketSync,
                          std::bind_front(&BucketService::handle_sync, &service_));
}

Task<Status> BucketHost::ensure_replica(BucketId bucket, raft::Config founding) {
  // One open per bucket at a time: founding and a leader's first message may both ask for the
  // same replica, and the store loads a bucket's log once.
  for (;;) {
    if (shut_down_) co_return error(StatusCode::kUnavailable, "bucket host is shut down");
    if (replicas_.contains(bucket)) co_return Status();
    auto opening = opening_.find(bucket);
    if (opening == opening_.end()) break;
    std::shared_ptr<boost::asio::steady_timer> opened = opening->second;
    co_await options_.clock->wait(*opened, Clock::TimePoint::max());
  }
  auto opened = std::make_shared<boost::asio::steady_timer>(executor_);
  opening_[bucket] = opened;
  Status status = co_await open_replica(bucket, std::move(founding));
  opening_.erase(bucket);
  opened->cancel();
  co_return status;
}

Task<Status> BucketHost::open_replica(BucketId bucket, raft::Config founding) {
  ReplicaOptions options = options_.replica;
  options.tick_interval = Clock::Duration::zero();  // tick_loop ticks every replica together.
  options.core.self = self_;
  // Distinct jitter per bucket and host, repeatable from the host's seed.
  options.core.seed = options_.seed * 0x9e3779b97f4a7c15ULL + bucket.value() + 1;
  auto replica = co_await Replica::open(executor_, options_.clock, store_.get(), bucket,
                                        std::move(founding), options, transport_.get());
  if (!replica.ok()) co_return replica.status().with_context(fmt::format("bucket {}", bucket));
  Replica* r = replica->get();
  replicas_[bucket] = std::move(*replica);
  transport_->attach(r);
  service_.attach(r);
  r->start();
  if (!ticking_) {
    ticking_ = true;
    spawn_detached(executor_, tick_loop(this), "bucket host ticks");
  }
  co_return Status();
}

Replica* BucketHost::replica(BucketId bucket) const {
  auto it = replicas_.find(bucket);
  return it == replicas_.end() ? nullptr : it->second.get();
}

std::vector<ReplicaStatus> BucketHost::status() const {
  std::vector<ReplicaStatus> out;
  for (const auto& [bucket, r] : replicas_) {
    const raft::Core& core = r->core();
    out.push_back(ReplicaStatus{.bucket = bucket,
                                .role = core.role(),
                                .leader = core.leader(),
                                .term = core.term(),
                                .commit = core.commit(),
                                .applied = core.applied(),
                                .last_index = core.last_index(),
                                .durable = core.durable(),
                                .quorum_durable = core.quorum_durable(),
                                .config = core.config(),
                                .recovering = core.recovering(),
                                .broken = r->broken() || core.broken(),
                                .hibernated = core.hibernated()});
  }
  return out;
}

Task<Status> BucketHost::shutdown(bool clean) {
  if (shut_down_) co_return Status();
  shut_down_ = true;
  tick_timer_.cancel();
  reconcile_timer_.cancel();
  while (ticking_ || reconciling_ || !creating_.empty()) {
    co_await boost::asio::post(executor_, boost::asio::use_awaitable);
  }
  for (auto& [bucket, r] : replicas_) {
    transport_->detach(bucket);
    service_.detach(bucket);
    co_await r->stop();
  }
  co_await transport_->shutdown();
  replicas_.clear();
  Status closed;
  if (clean) {
    closed = co_await store_->close_clean();
  } else {
    co_await store_->close();
  }
  co_return closed;
}

}  // namespace tessera::bucket
