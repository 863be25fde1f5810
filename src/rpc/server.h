// RpcServer: accepts connections and runs one handler task per request.
//
// Bounds: at most max_in_flight_requests handlers run at once across all connections; a request
// beyond that is answered at once with kBusy (the client backs off) instead of queueing. Frames
// above the limits close the connection. A connection that sends a malformed frame is closed with
// the reason logged; the server keeps serving everyone else.
//
// Lives on one executor (the loop given to the constructor): every method must be called from it,
// and handlers run on it. Lifecycle: register handlers, start(), ..., co_await shutdown(), destroy.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "base/status.h"
#include "rpc/call.h"
#include "rpc/connection.h"
#include "rpc/message_type.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::rpc {

// A handler's result: a Reply, or a non-OK Status sent back as an error frame. Handlers are
// usually member functions bound with std::bind_front(&Service::method, this); the service must
// outlive the server's shutdown().
using Handler = std::function<Task<Result<Reply>>(Request)>;

struct ServerOptions {
  // Request deadlines, handshake timeouts and shutdown waits run on this clock.
  const Clock* clock = &RealClock::instance();
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (see RpcServer::port()).
  size_t max_in_flight_requests = 1024;
  size_t max_connections = 4096;
  FrameLimits limits;
  // Set for TLS; every connection must then complete a handshake within handshake_timeout.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::chrono::milliseconds handshake_timeout{5000};
};

class RpcServer {
 public:
  RpcServer(Executor executor, ServerOptions options);
  ~RpcServer();
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // REQUIRES: before start(); one handler per type. kPing is built in.
  void register_handler(uint32_t message_type, Handler handler);
  void register_handler(MessageType message_type, Handler handler) {
    register_handler(static_cast<uint32_t>(message_type), std::move(handler));
  }

  // Binds and listens; returns kUnavailable if the address cannot be bound.
  Status start();
  uint16_t port() const { return port_; }

  // Stops accepting, lets running handlers finish until `deadline`, then closes every
  // connection. Requests that arrive meanwhile are answered kUnavailable.
  Task<void> shutdown(Deadline deadline);

  size_t in_flight_requests() const { return in_flight_; }
  size_t connection_count() const { return connections_.size(); }
  uint64_t busy_rejections() const { return busy_rejections_; }

 private:
  static Task<void> accept_loop(RpcServer* self);
  static Task<void> serve(RpcServer* self, std::shared_ptr<Connection> connection);
  static Task<void> handle(RpcServer* self, std::shared_ptr<Connection> connection, Frame frame);
  Task<Result<Reply>> dispatch(Frame frame, std::string peer_name);
  static Task<Result<Reply>> ping(Request request);
  Task<Result<Stream>> secure(tcp::socket socket);
  void reply_error(Connection& connection, const FrameHeader& request, const Status& status);

  Executor executor_;
  ServerOptions options_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::unordered_map<uint32_t, Handler> handlers_;
  std::set<std::shared_ptr<Connection>> connections_;
  size_t in_flight_ = 0;
  size_t running_tasks_ = 0;  // accept loop + connection readers + handlers
  uint64_t busy_rejections_ = 0;
  bool stopping_ = false;
};

}  // namespace tessera::rpc
