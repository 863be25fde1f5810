#include "http/http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <optional>
#include <vector>

#include "base/log.h"

namespace tessera::http {

namespace beast = boost::beast;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxResponseBytes = 64 << 20;

beast::http::verb verb_of(const std::string& method) {
  beast::http::verb verb = beast::http::string_to_verb(method);
  TESS_ASSERT(verb != beast::http::verb::unknown, "HTTP method {}", method);
  return verb;
}

}  // namespace

std::vector<std::string> split_address_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    size_t first = text.find_first_not_of(' ', start);
    size_t last = text.find_last_not_of(' ', comma == 0 ? 0 : comma - 1);
    if (first != std::string::npos && first < comma && last != std::string::npos && last >= first) {
      out.push_back(text.substr(first, last - first + 1));
    }
    start = comma + 1;
  }
  return out;
}

Status split_host_port(const std::string& address, std::string* host, uint16_t* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return error(StatusCode::kInvalidArgument, "'{}' is not HOST:PORT", address);
  }
  unsigned long value = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9' || value > 65535) {
      return error(StatusCode::kInvalidArgument, "'{}' is not HOST:PORT", address);
    }
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value > 65535) return error(StatusCode::kInvalidArgument, "'{}': port out of range", address);
  *host = address.substr(0, colon);
  *port = static_cast<uint16_t>(value);
  return Status();
}

Result<Response> call(const std::string& host, uint16_t port, const Request& request,
                      std::chrono::milliseconds timeout) {
  asio::io_context context(1);
  beast::tcp_stream stream(context);
  beast::http::request<beast::http::string_body> message(verb_of(request.method), request.target,
                                                         11);
  message.set(beast::http::field::host, host);
  message.set(beast::http::field::content_type, "application/json");
  for (const auto& [name, value] : request.headers) message.set(name, value);
  message.body() = request.body;
  message.prepare_payload();
  beast::flat_buffer buffer;
  beast::http::response_parser<beast::http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  beast::error_code failure;
  const char* stage = "connect";

  stream.expires_after(timeout);
  tcp::resolver resolver(context);
  resolver.async_resolve(host, std::to_string(port), [&](beast::error_code ec, auto results) {
    if (ec) {
      failure = ec;
      return;
    }
    stream.async_connect(results, [&](beast::error_code connected, auto) {
      if (connected) {
        failure = connected;
        return;
      }
      stage = "send";
      beast::http::async_write(stream, message, [&](beast::error_code written, size_t) {
        if (written) {
          failure = written;
          return;
        }
        stage = "receive";
        beast::http::async_read(stream, buffer, parser,
                                [&](beast::error_code read, size_t) { failure = read; });
      });
    });
  });
  context.run();
  if (failure == beast::error::timeout) {
    return error(StatusCode::kDeadlineExceeded, "{}:{}{}: no answer within {} ms ({})", host, port,
                 request.target, timeout.count(), stage);
  }
  if (failure) {
    return error(StatusCode::kUnavailable, "{}:{}{}: {} failed: {}", host, port, request.target,
                 stage, failure.message());
  }
  Response response;
  response.status = static_cast<int>(parser.get().result_int());
  response.body = std::move(parser.get().body());
  for (const auto& field : parser.get()) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    response.headers[name] = std::string(field.value());
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return response;
}

namespace {

class Connection;

}  // namespace

// Shared by the Server, its I/O thread, its connections and its workers; lives until the last of
// them lets go.
struct Server::State {
  State(Handler handler_in, ServerOptions options_in)
      : handler(std::move(handler_in)), options(options_in), pool(options_in.worker_threads) {}

  const Handler handler;
  const ServerOptions options;
  asio::io_context context{1};
  tcp::acceptor acceptor{context};
  asio::steady_timer accept_backoff{context};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  asio::thread_pool pool;
  // Requests given to the pool and not yet answered by the handler (any thread).
  std::atomic<size_t> in_handler{0};
  // Open connections being served, and those being refused (any thread: destructors).
  std::atomic<size_t> connections{0};
  std::atomic<size_t> refusing{0};
  // I/O thread only: set by stop(); connections still reading their request, closed by stop().
  bool stopping = false;
  uint64_t next_connection_id = 0;
  std::map<uint64_t, std::weak_ptr<Connection>> reading;
};

namespace {

Response busy_response(std::string_view why) {
  Response response{
      503,
      fmt::format(R"({{"error":{{"code":"busy","message":"the REST API is busy: {}"}}}})", why),
      {}};
  response.headers["Retry-After"] = "1";
  return response;
}

Response run_handler(const Server::Handler& handler, const Request& request) {
  try {
    return handler(request);
  } catch (const std::exception& failure) {
    // A handler bug or a peer's malformed JSON must not take the server down.
    TESS_LOG_ERROR("HTTP {} {}: {}", request.method, request.target, failure.what());
    return Response{500, R"({"error":{"code":"internal","message":"internal error"}})", {}};
  }
}

// One connection, one request. Lives on the I/O thread (a worker only runs the handler on a copy
// of the request and posts the answer back).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `refuse`: the server is over its connection bound; read the request (briefly) and answer
  // 503, so that the client sees the answer instead of a reset.
  Connection(std::shared_ptr<Server::State> state, tcp::socket socket, bool refuse)
      : state_(std::move(state)), stream_(std::move(socket)), refuse_(refuse) {
    ++(refuse_ ? state_->refusing : state_->connections);
  }
  ~Connection() { --(refuse_ ? state_->refusing : state_->connections); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() {
    id_ = state_->next_connection_id++;
    state_->reading[id_] = weak_from_this();
    parser_.body_limit(state_->options.max_request_bytes);
    uint32_t read_timeout_ms = state_->options.read_timeout_ms;
    // A refused client gets a second at most: refusing must stay cheap.
    if (refuse_) read_timeout_ms = std::min<uint32_t>(read_timeout_ms, 1000);
    stream_.expires_after(std::chrono::milliseconds(read_timeout_ms));
    beast::http::async_read(
        stream_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code read, size_t) { self->on_read(read); });
  }

  // Ends a connection that is still waiting for its request (stop()).
  void abandon() { stream_.close(); }

  void respond(Response response) {
    reply_ = beast::http::response<beast::http::string_body>(
        static_cast<beast::http::status>(response.status), 11);
    reply_.set(beast::http::field::content_type, "application/json");
    for (const auto& [name, value] : response.headers) reply_.set(name, value);
    reply_.body() = std::move(response.body);
    reply_.keep_alive(false);
    reply_.prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(state_->options.write_timeout_ms));
    beast::http::async_write(
        stream_, reply_, [self = shared_from_this()](beast::error_code written, size_t) {
          beast::error_code ignored;
          if (self->linger_ && !written) {
            self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            self->drain();
            return;
          }
          self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        });
  }

 private:
  void on_read(beast::error_code read) {
    state_->reading.erase(id_);
    if (read == beast::http::error::body_limit) {
      // The client may still be sending the body: closing now, with it unread, would reset the
      // connection, and the client would see the reset rather than this answer.
      linger_ = true;
      respond(Response{413, R"({"error":{"code":"too_large","message":"request too large"}})", {}});
      return;
    }
    if (read) return;  // Closed, idle past the deadline, or malformed: no answer.
    if (refuse_) {
      respond(busy_response("too many connections"));
      return;
    }
    if (state_->stopping) {
      respond(busy_response("the server is stopping"));
      return;
    }
    const ServerOptions& options = state_->options;
    if (state_->in_handler.load() >= options.worker_threads + options.max_queued_requests) {
      respond(busy_response("too many requests in progress"));
      return;
    }
    ++state_->in_handler;
    const auto& message = parser_.get();
    Request request{
        std::string(message.method_string()), std::string(message.target()), message.body(), {}};
    for (const auto& field : message) {
      request.headers[std::string(field.name_string())] = std::string(field.value());
    }
    asio::post(state_->pool, [self = shared_from_this(), request = std::move(request)] {
      Response response = run_handler(self->state_->handler, request);
      --self->state_->in_handler;
      asio::post(self->state_->context, [self, response = std::move(response)]() mutable {
        self->respond(std::move(response));
      });
    });
  }

  // A lingering close (after a 413): reads and discards what the client still sends, at most
  // kLingerBytes within kLingerMs, then closes.
  void drain() {
    constexpr size_t kLingerBytes = size_t{4} << 20;
    constexpr int kLingerMs = 2000;
    if (discard_.empty()) {
      discard_.resize(64 << 10);
      stream_.expires_after(std::chrono::milliseconds(kLingerMs));
    }
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](beast::error_code read, size_t bytes) {
                              self->lingered_bytes_ += bytes;
                              if (read || self->lingered_bytes_ > kLingerBytes) {
                                self->stream_.close();
                                return;
                              }
                              self->drain();
                            });
  }

  std::shared_ptr<Server::State> state_;
  beast::tcp_stream stream_;
  bool refuse_;
  bool linger_ = false;
  std::vector<char> discard_;
  size_t lingered_bytes_ = 0;
  uint64_t id_ = 0;
  beast::flat_buffer buffer_;
  beast::http::request_parser<beast::http::string_body> parser_;
  beast::http::response<beast::http::string_body> reply_;
};

void accept_next(std::shared_ptr<Server::State> state) {
  Server::State& s = *state;
  s.acceptor.async_accept(
      [state = std::move(state)](beast::error_code accepted, tcp::socket socket) mutable {
        if (state->stopping) return;
        if (accepted) {
          // Out of descriptors or memory: wait a little rather than spin on the failure.
          TESS_LOG_WARN("HTTP accept failed: {}", accepted.message());
          state->accept_backoff.expires_after(std::chrono::milliseconds(100));
          state->accept_backoff.async_wait([state](beast::error_code) mutable {
            if (!state->stopping) accept_next(std::move(state));
          });
          return;
        }
        const size_t max_connections = state->options.max_connections;
        if (state->connections.load() < max_connections) {
          std::make_shared<Connection>(state, std::move(socket), false)->start();
        } else if (state->refusing.load() < max_connections) {
          std::make_shared<Connection>(state, std::move(socket), true)->start();
        }  // Else far over the bound: the socket closes here, unanswered.
        accept_next(std::move(state));
      });
}

}  // namespace

Server::Server(std::string address, uint16_t port, Handler handler, ServerOptions options)
    : state_(std::make_shared<State>(std::move(handler), options)),
      address_(std::move(address)),
      port_(port) {
  TESS_ASSERT(options.max_connections > 0 && options.worker_threads > 0,
              "an HTTP server needs a connection and a worker");
}

Server::~Server() { stop(); }

Status Server::start() {
  TESS_ASSERT(!io_thread_.joinable(), "HTTP server started twice");
  beast::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(address_, ec), port_);
  if (ec) return error(StatusCode::kInvalidArgument, "HTTP address {}: {}", address_, ec.message());
  tcp::acceptor& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return error(StatusCode::kUnavailable, "cannot serve HTTP on {}:{}: {}", address_, port_,
                 ec.message());
  }
  port_ = acceptor.local_endpoint().port();
  state_->work.emplace(state_->context.get_executor());
  accept_next(state_);
  io_thread_ = std::thread([state = state_] { state->context.run(); });
  return Status();
}

void Server::stop() {
  if (!io_thread_.joinable()) return;
  // 1. On the I/O thread: no more connections or requests; idle connections end now.
  std::promise<void> stopped;
  asio::post(state_->context, [state = state_, &stopped] {
    state->stopping = true;
    beast::error_code ignored;
    state->acceptor.close(ignored);
    state->accept_backoff.cancel();
    for (auto& [id, weak] : state->reading) {
      if (auto connection = weak.lock()) connection->abandon();
    }
    stopped.set_value();
  });
  stopped.get_future().wait();
  // 2. The handlers running now return (nothing new reaches the pool: `stopping` is set).
  state_->pool.join();
  // 3. Their answers are written (each within write_timeout_ms); then the I/O thread ends.
  asio::post(state_->context, [state = state_] { state->work.reset(); });
  io_thread_.join();
}

}  // namespace tessera::http
