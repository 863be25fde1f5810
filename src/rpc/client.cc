#include "rpc/client.h"

#include "base/log.h"
#include "proto/rpc.pb.h"
#include "runtime/clock.h"

namespace tessera::rpc {

namespace {
constexpr auto kFirstBackoff = std::chrono::milliseconds(5);
constexpr auto kMaxBackoff = std::chrono::milliseconds(200);

bool retryable(const Status& status) {
  return status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kBusy;
}

Status status_from_error_frame(const Frame& frame) {
  auto body = parse_message<proto::RpcError>(frame.proto);
  if (!body.ok()) return body.status();
  if (body->code() == 0 || body->code() >= static_cast<uint32_t>(kStatusCodeCount)) {
    return error(StatusCode::kInternal, "peer sent unknown error code {}: {}", body->code(),
                 body->message());
  }
  return Status(static_cast<StatusCode>(body->code()), body->message());
}
}  // namespace

RpcClient::RpcClient(Executor executor, std::string host, uint16_t port, ClientOptions options)
    : executor_(std::move(executor)),
      host_(std::move(host)),
      port_(port),
      options_(std::move(options)),
      network_(options_.network),
      slots_(options_.max_in_flight_calls) {
  TESS_ASSERT(!(options_.tls && options_.network != nullptr),
              "ClientOptions: tls is for the default TCP network only");
  if (options_.tls) {
    tls_network_ = std::make_unique<TcpNetwork>(
        TcpNetworkOptions{.client_tls = options_.tls, .tls_server_name = options_.tls_server_name});
    network_ = tls_network_.get();
  } else if (network_ == nullptr) {
    network_ = &TcpNetwork::plain();
  }
}

RpcClient::~RpcClient() {
  TESS_ASSERT(pending_->empty(), "RpcClient destroyed with {} calls in flight", pending_->size());
  close();
}

void RpcClient::close() {
  if (connection_) connection_->close(Status(StatusCode::kUnavailable, "client closed"));
  connection_.reset();
  fail_pending(*pending_, Status(StatusCode::kUnavailable, "client closed"), nullptr);
}

Task<Result<Reply>> RpcClient::call(uint32_t message_type, std::string proto, Buffer payload,
                                    CallOptions options) {
  Deadline deadline = options.deadline.capped(options.timeout, *options_.clock);
  TESS_CO_RETURN_IF_ERROR(co_await slots_.acquire(deadline));
  SemaphorePermit slot(&slots_);
  auto backoff = std::chrono::duration_cast<Clock::Duration>(kFirstBackoff);
  while (true) {
    auto reply = co_await call_once(message_type, proto, payload, options, deadline);
    if (reply.ok() || !options.idempotent || !retryable(reply.status())) co_return reply;
    if (deadline.remaining() <= backoff) co_return reply;
    TESS_LOG_DEBUG("rpc: retrying call {} to {}: {}", message_type, peer(), reply.status());
    (void)co_await options_.clock->sleep_for(backoff);
    backoff = std::min<Clock::Duration>(backoff * 2, kMaxBackoff);
  }
}

Task<Result<Reply>> RpcClient::call_once(uint32_t message_type, const std::string& proto,
                                         const Buffer& payload, const CallOptions& options,
                                         Deadline deadline) {
  TESS_CO_RETURN_IF_ERROR(co_await ensure_connected(deadline));
  if (deadline.expired()) co_return Status(StatusCode::kDeadlineExceeded, "deadline exceeded");
  uint64_t request_id = next_request_id_++;
  FrameHeader header{.message_type = message_type,
                     .request_id = request_id,
                     .map_epoch = options.map_epoch.value(),
                     .timeout_ms = std::max<uint32_t>(1, deadline.remaining_ms())};
  boost::asio::steady_timer wake(executor_);
  Pending pending{&wake, std::nullopt, connection_.get()};
  pending_->emplace(request_id, &pending);
  connection_->send(make_frame(header, proto, payload));
  co_await deadline.wait(wake);
  if (!pending.result) {
    pending_->erase(request_id);
    if (deadline.expired()) {
      co_return error(StatusCode::kDeadlineExceeded, "no reply from {} within the deadline",
                      peer());
    }
    co_return Status(StatusCode::kCancelled, "call cancelled");
  }
  co_return std::move(*pending.result);
}

Task<Status> RpcClient::ensure_connected(Deadline deadline) {
  if (connection_ && !connection_->is_closed()) co_return Status();
  TESS_CO_RETURN_IF_ERROR(co_await connect_lock_.acquire(deadline));
  SemaphorePermit lock(&connect_lock_);
  if (connection_ && !connection_->is_closed()) co_return Status();  // Another call connected.
  auto connection = co_await connect(deadline);
  if (!connection.ok()) co_return connection.status().with_context(peer());
  connection_ = *connection;
  ++connects_;
  spawn_detached(executor_, read_loop(pending_, connection_), "rpc client reader");
  co_return Status();
}

Task<Result<std::shared_ptr<Connection>>> RpcClient::connect(Deadline deadline) {
  Deadline connect_deadline = deadline.capped(options_.connect_timeout, *options_.clock);
  auto stream = co_await network_->connect(host_, port_, connect_deadline);
  if (!stream.ok()) {
    // Only the caller's own deadline is "deadline exceeded"; the connect timeout alone means the
    // peer is unreachable (and an idempotent call may retry).
    if (stream.status().code() == StatusCode::kDeadlineExceeded && !deadline.expired()) {
      co_return error(StatusCode::kUnavailable, "{}", stream.status().message());
    }
    co_return stream.status();
  }
  co_return std::make_shared<Connection>(executor_, std::move(*stream), options_.limits);
}

Task<void> RpcClient::read_loop(std::shared_ptr<PendingMap> pending,
                                std::shared_ptr<Connection> connection) {
  while (true) {
    auto frame = co_await connection->read_frame();
    if (!frame.ok()) {
      if (frame.status().code() == StatusCode::kInvalidArgument) {
        TESS_LOG_WARN("rpc: closing connection to {}: {}", connection->peer_name(), frame.status());
      }
      fail_pending(*pending,
                   Status(StatusCode::kUnavailable,
                          fmt::format("connection lost: {}", frame.status().message())),
                   connection.get());
      co_return;
    }
    if (!frame->header.is_response()) {
      connection->close(Status(StatusCode::kInvalidArgument, "server sent a request frame"));
      continue;
    }
    auto entry = pending->find(frame->header.request_id);
    if (entry == pending->end()) continue;  // The caller gave up (deadline) before the reply.
    Pending* call = entry->second;
    pending->erase(entry);
    if (frame->header.is_error()) {
      call->result.emplace(status_from_error_frame(*frame));
    } else {
      call->result.emplace(Reply{std::move(frame->proto), std::move(frame->payload)});
    }
    call->wake->cancel();
  }
}

void RpcClient::fail_pending(PendingMap& pending, const Status& reason,
                             const Connection* connection) {
  for (auto it = pending.begin(); it != pending.end();) {
    Pending* call = it->second;
    if (connection != nullptr && call->connection != connection) {
      ++it;
      continue;
    }
    call->result.emplace(reason);
    call->wake->cancel();
    it = pending.erase(it);
  }
}

}  // namespace tessera::rpc
