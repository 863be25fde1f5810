// Connection: one framed ByteStream (rpc/network.h), shared by the client and server sides of the
// RPC layer. Reading is done by one task at a time (read_frame); sending never waits: send()
// queues the frame and a writer task drains the queue, batching queued frames into one gather
// write. Payload Buffers are referenced, not copied, until written. The queue itself is unbounded:
// its owner bounds it (the client by its calls in flight; the server stops reading requests while
// queued_bytes() is over its bound, see wait_for_queue_below).
//
// Lives on `executor`; all calls must come from it. Held by shared_ptr because the writer task
// and the owner both keep it alive.
#pragma once

#include <google/protobuf/message_lite.h>

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <string>

#include "base/buffer.h"
#include "base/status.h"
#include "rpc/frame.h"
#include "rpc/network.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::rpc {

struct OutgoingFrame {
  EncodedHeader header;
  std::string proto;
  Buffer payload;
};

// Serializes `message` and builds the frame for it (header lengths filled in).
OutgoingFrame make_frame(FrameHeader header, const google::protobuf::MessageLite& message,
                         Buffer payload);
OutgoingFrame make_frame(FrameHeader header, std::string proto, Buffer payload);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // REQUIRES: `stream` lives on `executor`.
  Connection(Executor executor, std::unique_ptr<ByteStream> stream, FrameLimits limits);
  ~Connection();

  // Completes the stream's handshake (ByteStream::handshake); on failure the connection is closed
  // and the error returned.
  Task<Status> handshake(Deadline deadline);
  // The next frame. On any error (peer closed, malformed frame) the connection is closed and the
  // error returned: kUnavailable for I/O, kInvalidArgument for a malformed frame.
  Task<Result<Frame>> read_frame();
  // Queues `frame` to be written after those queued before it. Dropped if the connection closed.
  void send(OutgoingFrame frame);
  // Closes the stream; later and pending I/O fails. The first reason is kept. Idempotent.
  void close(const Status& reason);

  bool is_closed() const { return !close_reason_.ok(); }
  const Status& close_reason() const { return close_reason_; }
  const std::string& peer_name() const { return peer_name_; }
  // Bytes queued but not yet written.
  size_t queued_bytes() const { return queued_bytes_; }
  // Returns once queued_bytes() < `bytes`, the connection closed, or the calling task was
  // cancelled (the caller checks which). REQUIRES: one waiter at a time.
  Task<void> wait_for_queue_below(size_t bytes);

 private:
  static Task<void> write_loop(std::shared_ptr<Connection> self);
  void wake_queue_waiter();

  Executor executor_;
  std::unique_ptr<ByteStream> stream_;
  FrameDecoder decoder_;
  std::string peer_name_;
  std::deque<OutgoingFrame> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  Status close_reason_;
  // The task in wait_for_queue_below, signalled through its timer, and what it waits for.
  boost::asio::steady_timer* queue_waiter_ = nullptr;
  size_t queue_waiter_below_bytes_ = 0;
};

}  // namespace tessera::rpc
