// Blocking HTTP/1.1 for the control plane (etcd's JSON gateway, the REST API). Every call has a
// timeout; nothing here is on the data path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

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

// A small blocking server: one thread accepts and serves one request per connection, calling
// `handler` on that thread. Requests above 1 MiB are refused (413).
class Server {
 public:
  using Handler = std::function<Response(const Request&)>;
  Server(std::string address, uint16_t port, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the serving thread. kUnavailable if the address cannot be bound.
  Status start();
  uint16_t port() const { return port_; }
  // Stops accepting and joins the thread.
  void stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::string address_;
  uint16_t port_;
  Handler handler_;
  std::thread thread_;
};

}  // namespace tessera::http
