#include "rpc/server.h"

#include "base/fault_points.h"
#include "base/log.h"
#include "proto/rpc.pb.h"
#include "runtime/clock.h"

namespace tessera::rpc {

namespace {
// After a failed accept (EMFILE, ENFILE, ENOBUFS: the failure repeats at once until descriptors or
// memory free up) the loop waits, so that it does not spin and flood the log.
constexpr auto kFirstAcceptBackoff = std::chrono::milliseconds(1);
constexpr auto kMaxAcceptBackoff = std::chrono::seconds(1);

// Counts a task as running for as long as the guard lives.
struct TaskCount {
  explicit TaskCount(size_t& count) : count_(count) { ++count_; }
  ~TaskCount() { --count_; }
  TaskCount(const TaskCount&) = delete;
  TaskCount& operator=(const TaskCount&) = delete;
  size_t& count_;
};

Clock::TimePoint later_by(Clock::TimePoint start, Clock::Duration duration) {
  if (duration >= Clock::TimePoint::max() - start) return Clock::TimePoint::max();
  return start + duration;
}
}  // namespace

RpcServer::RpcServer(Executor executor, ServerOptions options)
    : executor_(std::move(executor)), options_(std::move(options)), network_(options_.network) {
  TESS_ASSERT(!(options_.tls && options_.network != nullptr),
              "ServerOptions: tls is for the default TCP network only");
  TESS_ASSERT(options_.max_queued_reply_bytes > 0, "max_queued_reply_bytes must be positive");
  if (options_.tls) {
    tls_network_ = std::make_unique<TcpNetwork>(TcpNetworkOptions{.server_tls = options_.tls});
    network_ = tls_network_.get();
  } else if (network_ == nullptr) {
    network_ = &TcpNetwork::plain();
  }
  register_handler(MessageType::kPing, &RpcServer::ping);
}

RpcServer::~RpcServer() {
  TESS_ASSERT(running_tasks_ == 0, "RpcServer destroyed with {} tasks running; co_await shutdown()",
              running_tasks_);
}

void RpcServer::register_handler(uint32_t message_type, Handler handler) {
  TESS_ASSERT(listener_ == nullptr, "register handlers before start()");
  bool inserted = handlers_.emplace(message_type, std::move(handler)).second;
  TESS_ASSERT(inserted, "two handlers for message type {}", message_type);
}

Status RpcServer::start() {
  TESS_ASSERT(listener_ == nullptr && !stopping_, "start() once, before shutdown()");
  TESS_ASSIGN_OR_RETURN(listener_, network_->listen(executor_, options_.address, options_.port));
  port_ = listener_->port();
  spawn_detached(executor_, accept_loop(this), "rpc accept loop");
  TESS_LOG_INFO("rpc server listening on {}:{}{}", options_.address, port_,
                options_.tls ? " (TLS)" : "");
  return Status();
}

size_t RpcServer::queued_reply_bytes() const {
  size_t bytes = 0;
  for (const auto& session : sessions_) bytes += session->connection->queued_bytes();
  return bytes;
}

Task<void> RpcServer::accept_loop(RpcServer* self) {
  TaskCount running(self->running_tasks_);
  const Clock& clock = *self->options_.clock;
  Clock::Duration backoff = kFirstAcceptBackoff;
  while (!self->stopping_) {
    auto stream = co_await self->listener_->accept();
    if (self->stopping_) break;
    if (!stream.ok()) {
      if (stream.status().code() == StatusCode::kCancelled) break;
      ++self->accept_failures_;
      TESS_COVER("rpc.server.accept_failed");
      TESS_LOG_WARN("rpc: {}; accepting again in {} ms", stream.status(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(backoff).count());
      boost::asio::steady_timer wake(self->executor_);
      self->accept_backoff_ = &wake;
      co_await clock.wait(wake, clock.after(backoff));
      self->accept_backoff_ = nullptr;
      backoff = std::min<Clock::Duration>(backoff * 2, kMaxAcceptBackoff);
      continue;
    }
    backoff = kFirstAcceptBackoff;
    if (self->sessions_.size() >= self->options_.max_connections) {
      TESS_LOG_WARN("rpc: refusing a connection from {}, already {} open", (*stream)->peer_name(),
                    self->sessions_.size());
      (*stream)->close();
      continue;
    }
    auto session = std::make_shared<Session>();
    session->connection =
        std::make_shared<Connection>(self->executor_, std::move(*stream), self->options_.limits);
    session->last_active_at = clock.now();
    self->sessions_.insert(session);
    spawn_detached(self->executor_, serve(self, session), "rpc connection");
  }
}

Task<void> RpcServer::serve(RpcServer* self, std::shared_ptr<Session> session) {
  TaskCount running(self->running_tasks_);
  Connection& connection = *session->connection;
  // In this connection's own task, so that a slow or silent client holds up nobody else.
  Status shaken = co_await connection.handshake(
      Deadline::after(self->options_.handshake_timeout, *self->options_.clock));
  if (shaken.ok()) {
    session->last_active_at = self->options_.clock->now();
    spawn_detached(self->executor_, watch_idle(self, session), "rpc idle watchdog");
    co_await read_requests(self, session);
  } else {
    TESS_LOG_WARN("rpc: connection from {}: {}", connection.peer_name(), shaken);
  }
  if (session->watchdog != nullptr) session->watchdog->cancel();
  self->sessions_.erase(session);
}

Task<void> RpcServer::read_requests(RpcServer* self, std::shared_ptr<Session> session) {
  Connection& connection = *session->connection;
  const size_t max_queued_bytes = self->options_.max_queued_reply_bytes;
  while (true) {
    if (connection.queued_bytes() >= max_queued_bytes) {
      // The peer does not read its replies as fast as it sends requests: leave its requests in
      // the socket (so TCP pushes back on it) until the replies drain.
      TESS_COVER("rpc.server.reply_queue_full");
      co_await connection.wait_for_queue_below(max_queued_bytes);
      continue;
    }
    auto frame = co_await connection.read_frame();
    if (!frame.ok()) {
      if (frame.status().code() == StatusCode::kInvalidArgument) {
        TESS_LOG_WARN("rpc: closing connection from {}: {}", connection.peer_name(),
                      frame.status());
      } else {
        TESS_LOG_DEBUG("rpc: connection from {} ended: {}", connection.peer_name(), frame.status());
      }
      co_return;
    }
    if (frame->header.is_response()) {
      connection.close(Status(StatusCode::kInvalidArgument, "a client sent a response frame"));
      TESS_LOG_WARN("rpc: closing connection from {}: it sent a response frame",
                    connection.peer_name());
      co_return;
    }
    session->last_active_at = self->options_.clock->now();
    self->admit(session, std::move(*frame));
  }
}

void RpcServer::admit(const std::shared_ptr<Session>& session, Frame frame) {
  if (stopping_) {
    reply_error(*session->connection, frame.header,
                Status(StatusCode::kUnavailable, "server is shutting down"));
  } else if (in_flight_ >= options_.max_in_flight_requests) {
    ++busy_rejections_;
    reply_error(*session->connection, frame.header,
                error(StatusCode::kBusy, "server has {} requests in flight", in_flight_));
  } else {
    ++in_flight_;
    ++session->in_flight;
    spawn_detached(executor_, handle(this, session, std::move(frame)), "rpc handler");
  }
}

Task<void> RpcServer::watch_idle(RpcServer* self, std::shared_ptr<Session> session) {
  TaskCount running(self->running_tasks_);
  const Clock& clock = *self->options_.clock;
  boost::asio::steady_timer wake(self->executor_);
  while (!session->connection->is_closed()) {
    Clock::TimePoint idle_at = later_by(session->last_active_at, self->options_.idle_timeout);
    if (clock.now() < idle_at) {
      session->watchdog = &wake;
      co_await clock.wait(wake, idle_at);
      session->watchdog = nullptr;
      continue;
    }
    if (session->in_flight > 0) {  // Waiting for its replies is not idleness: look again later.
      session->last_active_at = clock.now();
      continue;
    }
    ++self->idle_closes_;
    TESS_LOG_INFO("rpc: closing connection from {}: no request for {} ms",
                  session->connection->peer_name(), self->options_.idle_timeout.count());
    session->connection->close(Status(StatusCode::kUnavailable, "connection idle"));
  }
}

Task<void> RpcServer::handle(RpcServer* self, std::shared_ptr<Session> session, Frame frame) {
  TaskCount running(self->running_tasks_);
  FrameHeader header = frame.header;
  Connection& connection = *session->connection;
  Result<Reply> reply = co_await self->dispatch(std::move(frame), connection.peer_name());
  --self->in_flight_;
  --session->in_flight;
  session->last_active_at = self->options_.clock->now();
  if (!reply.ok()) {
    self->reply_error(connection, header, reply.status());
    co_return;
  }
  FrameHeader response{
      .flags = kFlagResponse, .message_type = header.message_type, .request_id = header.request_id};
  connection.send(make_frame(response, std::move(reply->proto), std::move(reply->payload)));
}

Task<Result<Reply>> RpcServer::dispatch(Frame frame, std::string peer_name) {
  auto handler = handlers_.find(frame.header.message_type);
  if (handler == handlers_.end()) {
    co_return error(StatusCode::kUnimplemented, "no handler for message type {}",
                    frame.header.message_type);
  }
  Request request{
      frame.header.message_type,
      std::move(frame.proto),
      std::move(frame.payload),
      MapEpoch(frame.header.map_epoch),
      Deadline::after(std::chrono::milliseconds(frame.header.timeout_ms), *options_.clock),
      std::move(peer_name)};
  co_return co_await handler->second(std::move(request));
}

void RpcServer::reply_error(Connection& connection, const FrameHeader& request,
                            const Status& status) {
  proto::RpcError body;
  body.set_code(static_cast<uint32_t>(status.code()));
  body.set_message(std::string(status.message()));
  FrameHeader response{.flags = kFlagResponse | kFlagError,
                       .message_type = request.message_type,
                       .request_id = request.request_id};
  connection.send(make_frame(response, body, Buffer()));
}

Task<Result<Reply>> RpcServer::ping(Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto ping, request.parse<proto::PingRequest>());
  proto::PingResponse response;
  response.set_nonce(ping.nonce());
  response.set_payload_bytes(request.payload.size());
  co_return Reply::of(response, ping.echo_payload() ? request.payload : Buffer());
}

Task<void> RpcServer::shutdown(Deadline deadline) {
  stopping_ = true;
  if (listener_) listener_->close();
  if (accept_backoff_ != nullptr) accept_backoff_->cancel();
  const Clock& clock = *options_.clock;
  while (in_flight_ > 0 && !deadline.expired()) {
    (void)co_await clock.sleep_for(std::chrono::milliseconds(1));
  }
  if (in_flight_ > 0) {
    TESS_LOG_WARN("rpc: shutdown deadline passed with {} requests in flight", in_flight_);
  }
  // Let the last replies leave before the connections close.
  while (queued_reply_bytes() > 0 && !deadline.expired()) {
    (void)co_await clock.sleep_for(std::chrono::milliseconds(1));
  }
  for (const auto& session : sessions_) {
    session->connection->close(Status(StatusCode::kUnavailable, "server shut down"));
  }
  // Readers, watchdogs and handlers refer to this server: wait until every one has returned.
  while (running_tasks_ > 0) {
    (void)co_await clock.sleep_for(std::chrono::milliseconds(1));
  }
  TESS_LOG_INFO("rpc server on port {} stopped", port_);
}

}  // namespace tessera::rpc
