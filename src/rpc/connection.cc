#include "rpc/connection.h"

#include <google/protobuf/message_lite.h>

#include <vector>

#include "base/log.h"

namespace tessera::rpc {

namespace {
// A write batch stops growing at this many frames or bytes, so one slow peer cannot make a
// single write enormous.
constexpr size_t kMaxFramesPerWrite = 64;
constexpr size_t kMaxBytesPerWrite = 8 * kMiB;
}  // namespace

OutgoingFrame make_frame(FrameHeader header, std::string proto, Buffer payload) {
  TESS_ASSERT(proto.size() <= UINT32_MAX && payload.size() <= UINT32_MAX,
              "frame parts too large: {} + {}", proto.size(), payload.size());
  header.proto_bytes = static_cast<uint32_t>(proto.size());
  header.payload_bytes = static_cast<uint32_t>(payload.size());
  return OutgoingFrame{encode_frame_header(header), std::move(proto), std::move(payload)};
}

OutgoingFrame make_frame(FrameHeader header, const google::protobuf::MessageLite& message,
                         Buffer payload) {
  return make_frame(header, message.SerializeAsString(), std::move(payload));
}

Connection::Connection(Executor executor, std::unique_ptr<ByteStream> stream, FrameLimits limits)
    : executor_(std::move(executor)),
      stream_(std::move(stream)),
      decoder_(limits),
      peer_name_(stream_->peer_name()) {}

Connection::~Connection() { stream_->close(); }

Task<Status> Connection::handshake(Deadline deadline) {
  Status shaken = co_await stream_->handshake(deadline);
  if (!shaken.ok()) close(shaken);
  co_return shaken;
}

Task<void> Connection::wait_for_queue_below(size_t bytes) {
  if (queued_bytes_ < bytes || is_closed()) co_return;
  TESS_ASSERT(queue_waiter_ == nullptr, "two tasks wait for room in one connection's queue");
  boost::asio::steady_timer wake(executor_);
  queue_waiter_ = &wake;
  queue_waiter_below_bytes_ = bytes;
  co_await Deadline::never().wait(wake);
  queue_waiter_ = nullptr;
}

void Connection::wake_queue_waiter() {
  if (queue_waiter_ != nullptr && (queued_bytes_ < queue_waiter_below_bytes_ || is_closed())) {
    std::exchange(queue_waiter_, nullptr)->cancel();
  }
}

Task<Result<Frame>> Connection::read_frame() {
  while (true) {
    auto frame = decoder_.next();
    if (!frame.ok()) {
      close(frame.status());
      co_return frame.status();
    }
    if (frame->has_value()) co_return std::move(**frame);
    if (is_closed()) co_return close_reason_;
    auto target = decoder_.read_target();
    auto [error, bytes] =
        co_await stream_->read_some(boost::asio::buffer(target.data(), target.size()));
    if (error) {
      bool clean = error == boost::asio::error::eof && decoder_.idle();
      Status reason(StatusCode::kUnavailable,
                    clean ? fmt::format("connection to {} closed by peer", peer_name_)
                          : fmt::format("connection to {}: {}", peer_name_, error.message()));
      close(reason);
      co_return close_reason_;
    }
    decoder_.commit(bytes);
  }
}

void Connection::send(OutgoingFrame frame) {
  if (is_closed()) return;
  queued_bytes_ += kFrameHeaderSize + frame.proto.size() + frame.payload.size();
  queue_.push_back(std::move(frame));
  if (!writing_) {
    writing_ = true;
    spawn_detached(executor_, write_loop(shared_from_this()), "rpc connection writer");
  }
}

Task<void> Connection::write_loop(std::shared_ptr<Connection> self) {
  std::vector<OutgoingFrame> batch;
  std::vector<boost::asio::const_buffer> buffers;
  while (!self->queue_.empty() && !self->is_closed()) {
    batch.clear();
    buffers.clear();
    size_t batch_bytes = 0;
    while (!self->queue_.empty() && batch.size() < kMaxFramesPerWrite &&
           batch_bytes < kMaxBytesPerWrite) {
      batch.push_back(std::move(self->queue_.front()));
      self->queue_.pop_front();
      batch_bytes += kFrameHeaderSize + batch.back().proto.size() + batch.back().payload.size();
    }
    // Point at the frames only now that `batch` no longer grows: headers and short protos live
    // inside the OutgoingFrame and move when the vector reallocates.
    for (const OutgoingFrame& f : batch) {
      buffers.emplace_back(f.header.data(), f.header.size());
      if (!f.proto.empty()) buffers.emplace_back(f.proto.data(), f.proto.size());
      if (!f.payload.empty()) buffers.emplace_back(f.payload.data(), f.payload.size());
    }
    auto [error, written] = co_await self->stream_->write_all(buffers);
    if (self->is_closed()) break;  // close() already dropped the queue and its byte count.
    self->queued_bytes_ -= batch_bytes;
    self->wake_queue_waiter();
    if (error) {
      self->close(Status(StatusCode::kUnavailable,
                         fmt::format("write to {}: {}", self->peer_name_, error.message())));
    }
  }
  self->writing_ = false;
}

void Connection::close(const Status& reason) {
  TESS_ASSERT(!reason.ok(), "close needs a reason");
  if (is_closed()) return;
  close_reason_ = reason;
  queue_.clear();
  queued_bytes_ = 0;
  stream_->close();
  wake_queue_waiter();
}

}  // namespace tessera::rpc
