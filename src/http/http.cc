#include "http/http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/log.h"

namespace tessera::http {

namespace beast = boost::beast;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxBodyBytes = 1 << 20;
constexpr size_t kMaxResponseBytes = 64 << 20;
constexpr std::chrono::seconds kConnectionTimeout{10};

beast::http::verb verb_of(const std::string& method) {
  beast::http::verb verb = beast::http::string_to_verb(method);
  TESS_ASSERT(verb != beast::http::verb::unknown, "HTTP method {}", method);
  return verb;
}

}  // namespace

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

struct Server::State {
  asio::io_context context{1};
  tcp::acceptor acceptor{context};
  std::atomic<bool> stopping{false};
};

Server::Server(std::string address, uint16_t port, Handler handler)
    : state_(std::make_unique<State>()),
      address_(std::move(address)),
      port_(port),
      handler_(std::move(handler)) {}

Server::~Server() { stop(); }

Status Server::start() {
  beast::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(address_, ec), port_);
  if (ec) return error(StatusCode::kInvalidArgument, "HTTP address {}: {}", address_, ec.message());
  state_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) state_->acceptor.bind(endpoint, ec);
  if (!ec) state_->acceptor.listen(64, ec);
  if (ec) {
    return error(StatusCode::kUnavailable, "cannot serve HTTP on {}:{}: {}", address_, port_,
                 ec.message());
  }
  port_ = state_->acceptor.local_endpoint().port();
  thread_ = std::thread([this] {
    while (!state_->stopping) {
      beast::error_code accepted;
      tcp::socket socket = state_->acceptor.accept(accepted);
      if (accepted) {
        if (state_->stopping) break;
        continue;
      }
      // One request per connection, read and answered within kConnectionTimeout (a client that
      // stalls cannot hold the server).
      beast::tcp_stream stream(std::move(socket));
      stream.expires_after(kConnectionTimeout);
      beast::flat_buffer buffer;
      beast::http::request_parser<beast::http::string_body> parser;
      parser.body_limit(kMaxBodyBytes);
      beast::error_code read;
      beast::http::async_read(stream, buffer, parser,
                              [&read](beast::error_code failed, size_t) { read = failed; });
      state_->context.restart();
      state_->context.run();
      Response response;
      if (read == beast::http::error::body_limit) {
        response = Response{413, R"({"error":{"code":"too_large","message":"request too large"}})"};
      } else if (read) {
        continue;
      } else {
        const auto& message = parser.get();
        Request request{std::string(message.method_string()),
                        std::string(message.target()),
                        message.body(),
                        {}};
        for (const auto& field : message) {
          request.headers[std::string(field.name_string())] = std::string(field.value());
        }
        try {
          response = handler_(request);
        } catch (const std::exception& failure) {
          // A handler bug or a peer's malformed JSON must not take the server down.
          TESS_LOG_ERROR("HTTP {} {}: {}", request.method, request.target, failure.what());
          response = Response{500, R"({"error":{"code":"internal","message":"internal error"}})"};
        }
      }
      beast::http::response<beast::http::string_body> reply(
          static_cast<beast::http::status>(response.status), 11);
      reply.set(beast::http::field::content_type, "application/json");
      for (const auto& [name, value] : response.headers) reply.set(name, value);
      reply.body() = std::move(response.body);
      reply.keep_alive(false);
      reply.prepare_payload();
      stream.expires_after(kConnectionTimeout);
      beast::http::async_write(stream, reply, [](beast::error_code, size_t) {});
      state_->context.restart();
      state_->context.run();
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
  });
  return Status();
}

void Server::stop() {
  if (!thread_.joinable()) return;
  state_->stopping = true;
  // Wake the blocking accept with a connection of our own.
  beast::error_code ignored;
  asio::io_context context;
  tcp::socket poke(context);
  poke.connect(
      tcp::endpoint(asio::ip::make_address(address_ == "0.0.0.0" ? "127.0.0.1" : address_), port_),
      ignored);
  poke.close(ignored);  // Its request is empty: the server's read ends at once.
  thread_.join();
  state_->acceptor.close(ignored);
}

}  // namespace tessera::http
