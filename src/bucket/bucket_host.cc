#include "bucket/bucket_host.h"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/log.h"
#include "rpc/message_type.h"

namespace tessera::bucket {

BucketHost::BucketHost(Executor executor, BucketHostOptions options)
    : executor_(std::move(executor)), options_(std::move(options)), tick_timer_(executor_) {}

Task<void> BucketHost::tick_loop(BucketHost* self) {
  // One tick for every replica in the same loop turn: their heartbeats to a peer share a frame.
  // (Hibernation, design 5.2, will stop ticking idle buckets.)
  Clock::Duration interval = self->options_.replica.tick_interval;
  while (!self->shut_down_) {
    co_await self->options_.clock->wait(self->tick_timer_, self->options_.clock->now() + interval);
    if (self->shut_down_) break;
    for (auto& [bucket, r] : self->replicas_) r->tick();
  }
  self->ticking_ = false;
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
  if (shut_down_) co_return error(StatusCode::kUnavailable, "bucket host is shut down");
  if (replicas_.contains(bucket)) co_return Status();
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
                                .config = core.config(),
                                .recovering = core.recovering(),
                                .broken = r->broken() || core.broken()});
  }
  return out;
}

Task<Status> BucketHost::shutdown(bool clean) {
  if (shut_down_) co_return Status();
  shut_down_ = true;
  tick_timer_.cancel();
  while (ticking_) {
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
