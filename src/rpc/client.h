// RpcClient: calls to one peer over one reused connection, opened on first use and reopened after
// it fails. Many calls share the connection at once (pipelined, matched by request id).
//
// Every call has a deadline (the earlier of CallOptions::deadline and ::timeout, on the client's
// clock). At most max_in_flight_calls are outstanding;
// further calls wait for a slot within their deadline. A call is retried (after a short backoff,
// within its deadline) only when the caller marks it idempotent and it failed with kUnavailable
// (connection lost: the server may or may not have run it) or kBusy (the server shed it).
//
// Connects through ClientOptions::network (TCP by default; a SimNetwork node in simulation).
//
// Lives on one executor: construct it there and call it only from tasks running there.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/strong_id.h"
#include "rpc/call.h"
#include "rpc/connection.h"
#include "rpc/message_type.h"
#include "rpc/network.h"
#include "rpc/tcp_network.h"
#include "runtime/async_semaphore.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::rpc {

struct ClientOptions {
  // Every timeout, backoff and deadline of the client runs on this clock (a simulation's own).
  const Clock* clock = &RealClock::instance();
  size_t max_in_flight_calls = 256;
  std::chrono::milliseconds connect_timeout{2000};
  FrameLimits limits;
  // Where connections are made; nullptr: TCP (TcpNetwork::plain(), or a TLS TcpNetwork of the
  // client's own when `tls` is set). Not owned; must outlive the client.
  Network* network = nullptr;
  // Set for TLS over TCP; tls_server_name is checked against the server certificate when
  // verifying. REQUIRES: network == nullptr (a given network brings its own security).
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string tls_server_name;
};

struct CallOptions {
  // The call ends by the earlier of `deadline` (the caller's own budget, passed down) and
  // `timeout` from now. (`deadline` comes last so that callers that list the other fields in
  // order, {timeout, idempotent, map_epoch}, still compile.)
  std::chrono::milliseconds timeout{5000};
  bool idempotent = false;
  MapEpoch map_epoch;
  Deadline deadline = Deadline::never();
};

class RpcClient {
 public:
  RpcClient(Executor executor, std::string host, uint16_t port, ClientOptions options = {});
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // Sends a request and waits for its reply. Errors: the handler's own status; kDeadlineExceeded
  // when the call's deadline passed (also while connecting); kUnavailable when the peer cannot be
  // reached (refused, or connect_timeout passed) or the connection broke; kBusy when the server
  // shed the request; kInvalidArgument if the reply is malformed.
  Task<Result<Reply>> call(uint32_t message_type, std::string proto, Buffer payload,
                           CallOptions options);
  template <typename Message>
  Task<Result<Reply>> call(MessageType message_type, const Message& message, Buffer payload,
                           CallOptions options) {
    return call(static_cast<uint32_t>(message_type), message.SerializeAsString(),
                std::move(payload), options);
  }

  // Closes the connection; outstanding calls fail with kUnavailable. The next call reconnects.
  void close();

  size_t in_flight_calls() const { return pending_->size(); }
  uint64_t connects() const { return connects_; }
  std::string peer() const { return host_ + ":" + std::to_string(port_); }

 private:
  struct Pending {
    boost::asio::steady_timer* wake;
    std::optional<Result<Reply>> result;
    const Connection* connection;  // The call's frame went out on this connection.
  };
  // Shared with the connection's reader task, which may outlive the client by a moment.
  using PendingMap = std::unordered_map<uint64_t, Pending*>;
  Task<Result<Reply>> call_once(uint32_t message_type, const std::string& proto,
                                const Buffer& payload, const CallOptions& options,
                                Deadline deadline);
  Task<Status> ensure_connected(Deadline deadline);
  Task<Result<std::shared_ptr<Connection>>> connect(Deadline deadline);
  static Task<void> read_loop(std::shared_ptr<PendingMap> pending,
                              std::shared_ptr<Connection> connection);
  // Fails the calls sent on `connection`, or all calls if it is null.
  static void fail_pending(PendingMap& pending, const Status& reason, const Connection* connection);

  Executor executor_;
  std::string host_;
  uint16_t port_;
  ClientOptions options_;
  std::unique_ptr<TcpNetwork> tls_network_;  // Made when options_.tls is set.
  Network* network_;
  AsyncSemaphore slots_;
  std::shared_ptr<Connection> connection_;
  AsyncSemaphore connect_lock_{1};  // One connect attempt at a time; others wait for it.
  std::shared_ptr<PendingMap> pending_ = std::make_shared<PendingMap>();
  uint64_t next_request_id_ = 1;
  uint64_t connects_ = 0;
};

}  // namespace tessera::rpc
