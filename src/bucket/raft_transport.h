// RaftTransport: Raft between the bucket replicas of tessd processes (design 5.1). Every message
// a replica of this loop sends to one peer store joins that peer's outbox; the first message into
// an empty outbox posts a flush to the loop, which runs after the handlers already queued, so all
// buckets' messages of one loop turn leave in one RaftBatch frame. At most
// max_frames_in_flight frames are outstanding per peer; meanwhile messages accumulate into the
// next, larger frame (batching grows with load). Above max_queued_bytes per peer, appends are
// dropped (their followers fall back to probing) while votes and answers still go. A failed call
// reports the peer unreachable to the buckets whose messages it carried.
//
// Receiving: handle() is the RPC handler of kRaftBatch: it decodes the batch (refusing it whole
// if malformed, nothing stepped), drops one addressed to another store of this host (the host was
// rebuilt), and steps each message into its bucket's replica; a message for a bucket without a
// replica here is dropped, and shown to the unknown-bucket handler (set_unknown_bucket_handler).
//
// Lives on one executor (a loop); every method is called from it, and its replicas live there.
// Peers are found through `resolve` (the cluster map's host addresses). REQUIRES: shutdown() is
// awaited before destruction.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bucket/raft_codec.h"
#include "bucket/replica.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "runtime/clock.h"
#include "runtime/task.h"

namespace tessera::bucket {

struct PeerAddress {
  std::string host;
  uint16_t port = 0;
};

struct RaftTransportOptions {
  const Clock* clock = &RealClock::instance();
  rpc::Network* network = nullptr;  // nullptr: TCP.
  raft::ReplicaId self;
  size_t max_frames_in_flight = 4;
  uint64_t max_queued_bytes = uint64_t{16} * 1024 * 1024;
  std::chrono::milliseconds call_timeout{2000};
  // Liveness (design 5.2): a peer nothing was sent to for this long gets an empty frame, so that
  // every peer hears from this process even when all its buckets hibernate.
  Clock::Duration liveness_interval = std::chrono::milliseconds(200);
};

struct RaftTransportStats {
  uint64_t frames_sent = 0;
  uint64_t messages_sent = 0;
  uint64_t frames_failed = 0;
  uint64_t appends_dropped = 0;
  uint64_t frames_received = 0;
  uint64_t frames_refused = 0;
  uint64_t liveness_frames_sent = 0;
};

// What was last heard from one peer store: a frame it sent (any, liveness frames included).
struct PeerLiveness {
  Clock::TimePoint last_heard;
  uint64_t start_seq = 0;  // Its process incarnation: grows when it restarts.
};

class RaftTransport final : public RaftOutbox {
 public:
  using Resolver = std::function<std::optional<PeerAddress>(HostId)>;
  RaftTransport(Executor executor, RaftTransportOptions options, Resolver resolve);
  ~RaftTransport() override;
  RaftTransport(const RaftTransport&) = delete;
  RaftTransport& operator=(const RaftTransport&) = delete;

  // The replicas messages are delivered to. REQUIRES: detach before the replica is destroyed.
  void attach(Replica* replica);
  void detach(BucketId bucket);

  // Called with each message for a bucket that has no replica here (it is dropped: Raft resends),
  // so the owner may create the replica a leader is adding (design 6.3). Not set: dropped only.
  using UnknownBucketHandler = std::function<void(BucketId, const raft::Message&)>;
  void set_unknown_bucket_handler(UnknownBucketHandler handler) {
    unknown_bucket_ = std::move(handler);
  }

  void send(BucketId bucket, raft::Message message) override;
  // The kRaftBatch handler.
  Task<Result<rpc::Reply>> handle(rpc::Request request);
  // Waits for the frames in flight (each bounded by its call timeout) and closes the clients.
  Task<void> shutdown();

  const RaftTransportStats& stats() const { return stats_; }
  // Sends an empty frame to every peer that nothing was sent to for liveness_interval (and none
  // is in flight). The host calls it at every tick.
  void send_liveness();
  // Every peer store a frame was received from, with when and its incarnation.
  const std::map<raft::ReplicaId, PeerLiveness>& liveness() const { return heard_; }
  // The process incarnation stamped on outgoing frames (the log store's start_seq).
  void set_incarnation(uint64_t start_seq) { incarnation_ = start_seq; }

 private:
  struct Peer {
    raft::ReplicaId id;
    std::vector<BucketMessage> outbox;
    uint64_t queued_bytes = 0;
    size_t in_flight = 0;
    bool flush_posted = false;
    Clock::TimePoint last_sent;
    std::unique_ptr<rpc::RpcClient> client;
  };
  static Task<void> flush(RaftTransport* self, raft::ReplicaId peer);
  static Task<void> send_liveness_frame(RaftTransport* self, raft::ReplicaId peer);
  Task<void> send_frame(Peer& peer, std::vector<BucketMessage> messages);
  void post_flush(Peer& peer);

  Executor executor_;
  RaftTransportOptions options_;
  Resolver resolve_;
  uint64_t incarnation_ = 0;
  std::map<raft::ReplicaId, Peer> peers_;
  std::map<BucketId, Replica*> replicas_;
  std::map<raft::ReplicaId, PeerLiveness> heard_;
  UnknownBucketHandler unknown_bucket_;
  size_t frames_in_flight_ = 0;
  bool stopping_ = false;
  boost::asio::steady_timer idle_timer_;
  RaftTransportStats stats_;
};

}  // namespace tessera::bucket
