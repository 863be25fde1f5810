// RpcServer: accepts connections and runs one handler task per request.
//
// Bounds: at most max_in_flight_requests handlers run at once across all connections; a request
// beyond that is answered at once with kBusy (the client backs off) instead of queueing. Frames
// above the limits close the connection. A connection that sends a malformed frame is closed with
// the reason logged; the server keeps serving everyone else. At most max_connections are open
// (including those still in their TLS handshake, which each must finish within
// handshake_timeout, in the connection's own task). The server stops reading requests from a
// connection while more than max_queued_reply_bytes of its replies wait to be sent (a peer that
// does not read its replies gets no more served); such a connection holds at most that bound plus
// the replies of its requests already running. A connection that sends no frame for
// idle_timeout while none of its requests runs is closed. After a failed accept (e.g. out of
// descriptors) the server waits before accepting again, 1 ms doubling to 1 s.
//
// Listens through ServerOptions::network (TCP by default; a SimNetwork node in simulation); all
// timing on ServerOptions::clock.
//
// Lives on one executor (the loop given to the constructor): every method must be called from it,
// and handlers run on it. Lifecycle: register handlers, start(), ..., co_await shutdown(), destroy.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "base/status.h"
#include "rpc/call.h"
#include "rpc/connection.h"
#include "rpc/message_type.h"
#include "rpc/network.h"
#include "rpc/tcp_network.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::rpc {

// A handler's result: a Reply, or a non-OK Status sent back as an error frame. Handlers are
// usually member functions bound with std::bind_front(&Service::method, this); the service must
// outlive the server's shutdown().
using Handler = std::function<Task<Result<Reply>>(Request)>;

struct ServerOptions {
  // Request deadlines, handshake and idle timeouts, accept backoff and shutdown waits run on this
  // clock.
  const Clock* clock = &RealClock::instance();
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (see RpcServer::port()).
  size_t max_in_flight_requests = 1024;
  size_t max_connections = 4096;
  // Per connection: above this many bytes of unsent replies, its requests are no longer read.
  size_t max_queued_reply_bytes = 16 * kMiB;
  // A connection that sends no frame for this long, with none of its requests running, is closed.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  FrameLimits limits;
  // Where the server listens; nullptr: TCP (TcpNetwork::plain(), or a TLS TcpNetwork of the
  // server's own when `tls` is set). Not owned; must outlive the server.
  Network* network = nullptr;
  // Set for TLS over TCP; every connection must then complete a handshake within
  // handshake_timeout. REQUIRES: network == nullptr (a given network brings its own security).
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

  // Binds and listens; kUnavailable if the address cannot be bound, kInvalidArgument if it is
  // malformed.
  Status start();
  uint16_t port() const { return port_; }

  // Stops accepting, lets running handlers finish until `deadline`, then closes every
  // connection. Requests that arrive meanwhile are answered kUnavailable.
  Task<void> shutdown(Deadline deadline);

  size_t in_flight_requests() const { return in_flight_; }
  size_t connection_count() const { return sessions_.size(); }
  uint64_t busy_rejections() const { return busy_rejections_; }
  uint64_t accept_failures() const { return accept_failures_; }
  uint64_t idle_closes() const { return idle_closes_; }
  // Bytes of replies queued and not yet sent, over all connections.
  size_t queued_reply_bytes() const;

 private:
  // One accepted connection and what the server tracks about it.
  struct Session {
    std::shared_ptr<Connection> connection;
    size_t in_flight = 0;  // Its requests whose handlers are running.
    // When it was accepted, a frame arrived or a reply was queued.
    Clock::TimePoint last_active_at;
    boost::asio::steady_timer* watchdog = nullptr;  // Signals its idle watchdog, while it waits.
  };

  static Task<void> accept_loop(RpcServer* self);
  static Task<void> serve(RpcServer* self, std::shared_ptr<Session> session);
  static Task<void> read_requests(RpcServer* self, std::shared_ptr<Session> session);
  static Task<void> watch_idle(RpcServer* self, std::shared_ptr<Session> session);
  static Task<void> handle(RpcServer* self, std::shared_ptr<Session> session, Frame frame);
  void admit(const std::shared_ptr<Session>& session, Frame frame);
  Task<Result<Reply>> dispatch(Frame frame, std::string peer_name);
  static Task<Result<Reply>> ping(Request request);
  void reply_error(Connection& connection, const FrameHeader& request, const Status& status);

  Executor executor_;
  ServerOptions options_;
  std::unique_ptr<TcpNetwork> tls_network_;  // Made when options_.tls is set.
  Network* network_;
  std::unique_ptr<Listener> listener_;
  uint16_t port_ = 0;
  std::unordered_map<uint32_t, Handler> handlers_;
  std::set<std::shared_ptr<Session>> sessions_;
  size_t in_flight_ = 0;
  size_t running_tasks_ = 0;  // accept loop + connection readers + handlers
  uint64_t busy_rejections_ = 0;
  uint64_t accept_failures_ = 0;
  uint64_t idle_closes_ = 0;
  boost::asio::steady_timer* accept_backoff_ = nullptr;  // Signals the accept loop's backoff.
  bool stopping_ = false;
};

}  // namespace tessera::rpc
