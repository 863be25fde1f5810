// HTTP/1.1 for the control plane (etcd's JSON gateway, the REST API): a blocking client and a
// bounded server. Every call and every connection has a deadline; nothing here is on the data path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"

namespace tessera::http {

struct Request {
  std::string method = "GET";  // GET, POST, PUT, DELETE
  std::string target = "/";    // Path and query.
  std::string body;
  std::map<std::string, std::string> headers;
};

struct Response {
  int status = 200;
  std::string body;
  std::map<std::string, std::string> headers;  // Lower-case names.
};

// Sends `request` to host:port and returns the response (any HTTP status). kUnavailable if the
// peer cannot be reached or the connection fails; kDeadlineExceeded after `timeout`.
// Thread-safe: every call uses its own connection.
Result<Response> call(const std::string& host, uint16_t port, const Request& request,
                      std::chrono::milliseconds timeout);

// "host:port" -> parts. kInvalidArgument if malformed.
Status split_host_port(const std::string& address, std::string* host, uint16_t* port);

// "a:1, b:2,,c:3" -> {"a:1", "b:2", "c:3"}: a comma-separated list of addresses (etcd members,
// REST endpoints), items trimmed of spaces, empty items dropped.
std::vector<std::string> split_address_list(const std::string& text);

// Bounds of a Server. Every figure is a limit: what exceeds it is refused, never queued.
struct ServerOptions {
  // Open connections at once (idle ones included). A connection beyond this is answered 503
  // "busy" at once and closed.
  size_t max_connections = 128;
  // Threads that run the handler: this many requests are handled at once.
  size_t worker_threads = 8;
  // Requests read in full that wait for a worker; beyond this a request is answered 503 "busy".
  size_t max_queued_requests = 32;
  // A connection must deliver its whole request within this (an idle or slow client cannot hold
  // a slot longer); the server then closes it without an answer.
  uint32_t read_timeout_ms = 10'000;
  // The answer must be taken by the client within this.
  uint32_t write_timeout_ms = 10'000;
  // Larger request bodies are refused with 413.
  size_t max_request_bytes = 1 << 20;
};

// A small HTTP/1.1 server for the control plane: one request per connection. One thread reads
// and writes every connection (asynchronously, each with its own deadline), and a fixed pool of
// `worker_threads` threads calls `handler`, so a slow handler delays only its own request and idle
// connections cost a slot, not a thread. Over a bound (connections, queued requests) the answer is
// 503 with {"error": {"code": "busy"}} and "Retry-After: 1". A handler that throws answers 500.
//
// The handler runs on a worker thread, concurrently with other calls of itself: it must be
// thread-safe, and it bounds its own time (the server does not interrupt it).
// start() and stop() are called from one owning thread.
class Server {
 public:
  using Handler = std::function<Response(const Request&)>;
  Server(std::string address, uint16_t port, Handler handler, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the threads. kUnavailable if the address cannot be bound.
  Status start();
  uint16_t port() const { return port_; }
  // Stops accepting, closes idle connections, waits for the handlers running now to return and
  // their answers to be written (each within write_timeout_ms), and joins the threads. Blocks as
  // long as the slowest running handler: REQUIRES: not called from a thread a handler waits on
  // (tessd calls it off its event loop, since handlers wait on that loop).
  void stop();

  struct State;  // Implementation (http.cc).

 private:
  std::shared_ptr<State> state_;
  std::string address_;
  uint16_t port_;
  std::thread io_thread_;
};

}  // namespace tessera::http
