#include "bucket/raft_transport.h"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/fault_points.h"
#include "base/log.h"
#include "rpc/message_type.h"

namespace tessera::bucket {
namespace {

uint64_t bytes_of(const raft::Message& m) {
  uint64_t bytes = 64;
  for (const raft::Entry& e : m.entries) bytes += e.size_bytes();
  if (m.snapshot_data) bytes += m.snapshot_data->size();
  return bytes;
}

}  // namespace

RaftTransport::RaftTransport(Executor executor, RaftTransportOptions options, Resolver resolve)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      resolve_(std::move(resolve)),
      idle_timer_(executor_) {}

RaftTransport::~RaftTransport() {
  TESS_ASSERT(frames_in_flight_ == 0, "raft transport destroyed with frames in flight");
}

void RaftTransport::attach(Replica* replica) { replicas_[replica->bucket()] = replica; }

void RaftTransport::detach(BucketId bucket) { replicas_.erase(bucket); }

void RaftTransport::send(BucketId bucket, raft::Message message) {
  if (stopping_) return;
  Peer& peer = peers_[message.to];
  peer.id = message.to;
  uint64_t bytes = bytes_of(message);
  if (message.type == raft::MessageType::kAppend &&
      peer.queued_bytes + bytes > options_.max_queued_bytes) {
    // The follower falls back to probing once it sees the gap; votes and answers still go.
    TESS_COVER("bucket.transport_append_dropped");
    ++stats_.appends_dropped;
    auto replica = replicas_.find(bucket);
    if (replica != replicas_.end()) replica->second->report_unreachable(message.to);
    return;
  }
  message.from_incarnation = incarnation_;
  peer.queued_bytes += bytes;
  peer.outbox.push_back(BucketMessage{bucket, std::move(message)});
  post_flush(peer);
}

void RaftTransport::post_flush(Peer& peer) {
  if (peer.flush_posted || peer.outbox.empty()) return;
  if (peer.in_flight >= options_.max_frames_in_flight) return;  // The reply will flush.
  peer.flush_posted = true;
  // Runs after the handlers already queued: every bucket of this loop turn joins the frame.
  spawn_detached(executor_, flush(this, peer.id), "raft transport flush");
}

Task<void> RaftTransport::flush(RaftTransport* self, raft::ReplicaId id) {
  // co_spawn starts a task inline when called on its executor: yield first, so the handlers
  // already queued (other buckets' Readies of this turn) add their messages to this frame.
  co_await boost::asio::post(self->executor_, boost::asio::use_awaitable);
  Peer& peer = self->peers_.at(id);
  peer.flush_posted = false;
  if (peer.outbox.empty() || self->stopping_) co_return;
  std::vector<BucketMessage> messages = std::move(peer.outbox);
  peer.outbox.clear();
  peer.queued_bytes = 0;
  co_await self->send_frame(peer, std::move(messages));
}

Task<void> RaftTransport::send_frame(Peer& peer, std::vector<BucketMessage> messages) {
  if (!peer.client) {
    auto address = resolve_(peer.id.host);
    if (!address) {
      ++stats_.frames_failed;
      for (const BucketMessage& m : messages) {
        auto r = replicas_.find(m.bucket);
        if (r != replicas_.end()) r->second->report_unreachable(peer.id);
      }
      co_return;
    }
    rpc::ClientOptions client_options;
    client_options.clock = options_.clock;
    client_options.network = options_.network;
    client_options.max_in_flight_calls = options_.max_frames_in_flight;
    peer.client =
        std::make_unique<rpc::RpcClient>(executor_, address->host, address->port, client_options);
  }
  EncodedRaftBatch encoded = encode_raft_batch(messages);
  if (messages.empty()) {
    // A liveness frame: only who sends it, to whom, and the sender's incarnation.
    encoded.batch.set_from_host(options_.self.host.value());
    encoded.batch.set_from_store(options_.self.store.value());
    encoded.batch.set_from_start_seq(incarnation_);
    encoded.batch.set_to_host(peer.id.host.value());
    encoded.batch.set_to_store(peer.id.store.value());
    ++stats_.liveness_frames_sent;
  }
  peer.last_sent = options_.clock->now();
  ++peer.in_flight;
  ++frames_in_flight_;
  ++stats_.frames_sent;
  stats_.messages_sent += messages.size();
  rpc::CallOptions call;
  call.timeout = options_.call_timeout;
  auto reply = co_await peer.client->call(rpc::MessageType::kRaftBatch, encoded.batch,
                                          Buffer::copy_of(encoded.payload), call);
  --peer.in_flight;
  --frames_in_flight_;
  if (!reply.ok()) {
    ++stats_.frames_failed;
    TESS_LOG_DEBUG("raft frame to {} failed: {}", peer.id, reply.status().to_string());
    for (const BucketMessage& m : messages) {
      auto r = replicas_.find(m.bucket);
      if (r != replicas_.end()) r->second->report_unreachable(peer.id);
    }
  }
  if (stopping_) {
    idle_timer_.cancel();
    co_return;
  }
  post_flush(peer);
}

Task<Result<rpc::Reply>> RaftTransport::handle(rpc::Request request) {
  ++stats_.frames_received;
  auto batch = request.parse<proto::RaftBatch>();
  if (!batch.ok()) {
    ++stats_.frames_refused;
    co_return batch.status();
  }
  if (batch->to_host() != options_.self.host.value() ||
      batch->to_store() != options_.self.store.value()) {
    ++stats_.frames_refused;
    co_return error(StatusCode::kFailedPrecondition, "raft batch for store {}.{:x}, this is {}",
                    batch->to_host(), batch->to_store(), options_.self);
  }
  std::string_view payload(reinterpret_cast<const char*>(request.payload.data()),
                           request.payload.size());
  auto messages = decode_raft_batch(*batch, payload);
  if (!messages.ok()) {
    ++stats_.frames_refused;
    TESS_LOG_WARN("raft batch from {} refused: {}", request.peer_name,
                  messages.status().to_string());
    co_return messages.status();
  }
  PeerLiveness& heard =
      heard_[raft::ReplicaId{HostId(batch->from_host()), raft::StoreId(batch->from_store())}];
  heard.last_heard = options_.clock->now();
  heard.start_seq = std::max(heard.start_seq, batch->from_start_seq());
  for (const BucketMessage& m : *messages) {
    auto r = replicas_.find(m.bucket);
    if (r != replicas_.end()) {
      r->second->step(m.message);
    } else if (unknown_bucket_) {
      unknown_bucket_(m.bucket, m.message);
    }
  }
  co_return rpc::Reply::of(proto::RaftBatchReply());
}

void RaftTransport::send_liveness() {
  if (stopping_) return;
  Clock::TimePoint now = options_.clock->now();
  for (auto& [id, peer] : peers_) {
    if (peer.in_flight > 0 || peer.flush_posted || !peer.outbox.empty()) continue;
    if (now - peer.last_sent < options_.liveness_interval) continue;
    peer.last_sent = now;
    spawn_detached(executor_, send_liveness_frame(this, id), "raft liveness");
  }
}

Task<void> RaftTransport::send_liveness_frame(RaftTransport* self, raft::ReplicaId id) {
  co_await self->send_frame(self->peers_.at(id), {});
}

Task<void> RaftTransport::shutdown() {
  stopping_ = true;
  while (frames_in_flight_ > 0) {
    co_await options_.clock->wait(idle_timer_, Clock::TimePoint::max());
  }
  for (auto& [id, peer] : peers_) {
    if (peer.client) peer.client->close();
  }
}

}  // namespace tessera::bucket
