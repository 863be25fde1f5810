#include "rpc/server.h"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "base/log.h"
#include "proto/rpc.pb.h"
#include "runtime/clock.h"

namespace tessera::rpc {

namespace {
// Counts a task as running for as long as the guard lives.
struct TaskCount {
  explicit TaskCount(size_t& count) : count_(count) { ++count_; }
  ~TaskCount() { --count_; }
  TaskCount(const TaskCount&) = delete;
  TaskCount& operator=(const TaskCount&) = delete;
  size_t& count_;
};
}  // namespace

RpcServer::RpcServer(Executor executor, ServerOptions options)
    : executor_(std::move(executor)), options_(std::move(options)), acceptor_(executor_) {
  register_handler(MessageType::kPing, &RpcServer::ping);
}

RpcServer::~RpcServer() {
  TESS_ASSERT(running_tasks_ == 0, "RpcServer destroyed with {} tasks running; co_await shutdown()",
              running_tasks_);
}

void RpcServer::register_handler(uint32_t message_type, Handler handler) {
  TESS_ASSERT(!acceptor_.is_open(), "register handlers before start()");
  bool inserted = handlers_.emplace(message_type, std::move(handler)).second;
  TESS_ASSERT(inserted, "two handlers for message type {}", message_type);
}

Status RpcServer::start() {
  boost::system::error_code error;
  auto address = boost::asio::ip::make_address(options_.address, error);
  if (error) {
    return tessera::error(StatusCode::kInvalidArgument, "bad listen address '{}': {}",
                          options_.address, error.message());
  }
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(tcp::acceptor::max_listen_connections, error);
  if (error) {
    acceptor_.close();
    return tessera::error(StatusCode::kUnavailable, "cannot listen on {}:{}: {}", options_.address,
                          options_.port, error.message());
  }
  port_ = acceptor_.local_endpoint().port();
  spawn_detached(executor_, accept_loop(this), "rpc accept loop");
  TESS_LOG_INFO("rpc server listening on {}:{}{}", options_.address, port_,
                options_.tls ? " (TLS)" : "");
  return Status();
}

Task<void> RpcServer::accept_loop(RpcServer* self) {
  TaskCount running(self->running_tasks_);
  while (!self->stopping_) {
    auto [error, socket] = co_await self->acceptor_.async_accept(use_task);
    if (error) {
      if (self->stopping_) break;
      TESS_LOG_WARN("rpc accept failed: {}", error.message());
      continue;  // e.g. EMFILE; the next accept may succeed once descriptors free up.
    }
    if (self->connections_.size() >= self->options_.max_connections) {
      TESS_LOG_WARN("rpc: refusing a connection, already {} open", self->connections_.size());
      continue;  // The socket closes as it goes out of scope.
    }
    socket.set_option(tcp::no_delay(true));
    auto stream = co_await self->secure(std::move(socket));
    if (!stream.ok()) {
      TESS_LOG_WARN("rpc: {}", stream.status());
      continue;
    }
    auto connection = std::make_shared<Connection>(std::move(*stream), self->options_.limits);
    self->connections_.insert(connection);
    spawn_detached(self->executor_, serve(self, connection), "rpc connection reader");
  }
}

Task<Result<Stream>> RpcServer::secure(tcp::socket socket) {
  if (!options_.tls) co_return Stream(std::move(socket));
  using namespace boost::asio::experimental::awaitable_operators;
  TlsStream tls(std::move(socket), *options_.tls);
  auto outcome = co_await (tls.async_handshake(boost::asio::ssl::stream_base::server, use_task) ||
                           options_.clock->sleep_for(options_.handshake_timeout));
  if (outcome.index() == 1) {
    co_return Status(StatusCode::kDeadlineExceeded, "TLS handshake timed out");
  }
  if (auto [error] = std::get<0>(outcome); error) {
    co_return tessera::error(StatusCode::kUnavailable, "TLS handshake failed: {}", error.message());
  }
  co_return Stream(std::move(tls));
}

Task<void> RpcServer::serve(RpcServer* self, std::shared_ptr<Connection> connection) {
  TaskCount running(self->running_tasks_);
  while (true) {
    auto frame = co_await connection->read_frame();
    if (!frame.ok()) {
      if (frame.status().code() == StatusCode::kInvalidArgument) {
        TESS_LOG_WARN("rpc: closing connection from {}: {}", connection->peer_name(),
                      frame.status());
      } else {
        TESS_LOG_DEBUG("rpc: connection from {} ended: {}", connection->peer_name(),
                       frame.status());
      }
      break;
    }
    if (frame->header.is_response()) {
      connection->close(Status(StatusCode::kInvalidArgument, "a client sent a response frame"));
      TESS_LOG_WARN("rpc: closing connection from {}: it sent a response frame",
                    connection->peer_name());
      break;
    }
    if (self->stopping_) {
      self->reply_error(*connection, frame->header,
                        Status(StatusCode::kUnavailable, "server is shutting down"));
    } else if (self->in_flight_ >= self->options_.max_in_flight_requests) {
      ++self->busy_rejections_;
      self->reply_error(
          *connection, frame->header,
          error(StatusCode::kBusy, "server has {} requests in flight", self->in_flight_));
    } else {
      ++self->in_flight_;
      spawn_detached(self->executor_, handle(self, connection, std::move(*frame)), "rpc handler");
    }
  }
  self->connections_.erase(connection);
}

Task<void> RpcServer::handle(RpcServer* self, std::shared_ptr<Connection> connection, Frame frame) {
  TaskCount running(self->running_tasks_);
  FrameHeader header = frame.header;
  Result<Reply> reply = co_await self->dispatch(std::move(frame), connection->peer_name());
  --self->in_flight_;
  if (!reply.ok()) {
    self->reply_error(*connection, header, reply.status());
    co_return;
  }
  FrameHeader response{
      .flags = kFlagResponse, .message_type = header.message_type, .request_id = header.request_id};
  connection->send(make_frame(response, std::move(reply->proto), std::move(reply->payload)));
}

Task<Result<Reply>> RpcServer::dispatch(Frame frame, std::string peer_name) {
  auto handler = handlers_.find(frame.header.message_type);
  if (handler == handlers_.end()) {
    co_return error(StatusCode::kUnimplemented, "no handler for message type {}",
                    frame.header.message_type);
  }
  Request request{frame.header.message_type,
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
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  const Clock& clock = *options_.clock;
  while (in_flight_ > 0 && !deadline.expired()) {
    (void)co_await clock.sleep_for(std::chrono::milliseconds(1));
  }
  if (in_flight_ > 0) {
    TESS_LOG_WARN("rpc: shutdown deadline passed with {} requests in flight", in_flight_);
  }
  // Let the last replies leave before the sockets close.
  auto unsent = [this] {
    size_t bytes = 0;
    for (const auto& connection : connections_) bytes += connection->queued_bytes();
    return bytes;
  };
  while (unsent() > 0 && !deadline.expired()) {
    (void)co_await clock.sleep_for(std::chrono::milliseconds(1));
  }
  for (const auto& connection : connections_) {
    connection->close(Status(StatusCode::kUnavailable, "server shut down"));
  }
  // Readers and handlers refer to this server: wait until every one has returned.
  while (running_tasks_ > 0) {
    (void)co_await clock.sleep_for(std::chrono::milliseconds(1));
  }
  TESS_LOG_INFO("rpc server on port {} stopped", port_);
}

}  // namespace tessera::rpc
