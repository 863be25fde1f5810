#include "rpc/tcp_network.h"

#include <fmt/format.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <variant>

namespace tessera::rpc {

namespace {

using boost::asio::ssl::stream_base;

std::string endpoint_name(const tcp::socket& socket) {
  boost::system::error_code error;
  auto endpoint = socket.remote_endpoint(error);
  if (error) return "?";
  return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

// Runs the TLS handshake of `tls` by `deadline`. The stream must outlive the call.
Task<Status> handshake_by(TlsStream* tls, stream_base::handshake_type type, Deadline deadline) {
  using namespace boost::asio::experimental::awaitable_operators;
  boost::system::error_code error;
  if (deadline.is_never()) {
    std::tie(error) = co_await tls->async_handshake(type, use_task);
  } else {
    auto outcome = co_await (tls->async_handshake(type, use_task) ||
                             deadline.clock().sleep_until(deadline.at()));
    if (outcome.index() == 1)
      co_return Status(StatusCode::kDeadlineExceeded, "TLS handshake timed out");
    std::tie(error) = std::get<0>(outcome);
  }
  if (error)
    co_return tessera::error(StatusCode::kUnavailable, "TLS handshake: {}", error.message());
  co_return Status();
}

// A TCP or TLS stream. Lives on its socket's executor.
class TcpStream final : public ByteStream {
 public:
  explicit TcpStream(tcp::socket socket)
      : peer_name_(endpoint_name(socket)), stream_(std::move(socket)) {}
  // `server_handshake`: handshake() must still run the server side of the TLS handshake.
  TcpStream(TlsStream tls, bool server_handshake)
      : peer_name_(endpoint_name(tls.next_layer())),
        stream_(std::move(tls)),
        needs_handshake_(server_handshake) {}

  Task<Status> handshake(Deadline deadline) override {
    if (!needs_handshake_) return ready_status();
    needs_handshake_ = false;
    return handshake_by(&std::get<TlsStream>(stream_), stream_base::server, deadline);
  }
  Task<IoResult> read_some(boost::asio::mutable_buffer buffer) override {
    return std::visit([buffer](auto& s) { return s.async_read_some(buffer, use_task); }, stream_);
  }
  Task<IoResult> write_all(std::span<const boost::asio::const_buffer> buffers) override {
    return std::visit([buffers](auto& s) { return boost::asio::async_write(s, buffers, use_task); },
                      stream_);
  }
  void close() override {
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }
  const std::string& peer_name() const override { return peer_name_; }

 private:
  static Task<Status> ready_status() { co_return Status(); }
  tcp::socket& socket() {
    if (auto* plain = std::get_if<tcp::socket>(&stream_)) return *plain;
    return std::get<TlsStream>(stream_).next_layer();
  }

  std::string peer_name_;
  std::variant<tcp::socket, TlsStream> stream_;
  bool needs_handshake_ = false;
};

// Lives on its acceptor's executor.
class TcpListener final : public Listener {
 public:
  TcpListener(tcp::acceptor acceptor, std::shared_ptr<boost::asio::ssl::context> tls)
      : acceptor_(std::move(acceptor)),
        port_(acceptor_.local_endpoint().port()),
        tls_(std::move(tls)) {}

  Task<Result<std::unique_ptr<ByteStream>>> accept() override {
    auto [error, socket] = co_await acceptor_.async_accept(use_task);
    if (closed_) co_return Status(StatusCode::kCancelled, "listener closed");
    if (error) co_return tessera::error(StatusCode::kUnavailable, "accept: {}", error.message());
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (!tls_)
      co_return std::unique_ptr<ByteStream>(std::make_unique<TcpStream>(std::move(socket)));
    co_return std::unique_ptr<ByteStream>(std::make_unique<TcpStream>(
        TlsStream(std::move(socket), *tls_), /*server_handshake=*/true));
  }
  void close() override {
    closed_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }
  uint16_t port() const override { return port_; }

 private:
  tcp::acceptor acceptor_;
  uint16_t port_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  bool closed_ = false;
};

Task<Result<tcp::socket>> connect_socket(tcp::endpoint endpoint, Deadline deadline) {
  using namespace boost::asio::experimental::awaitable_operators;
  tcp::socket socket(co_await boost::asio::this_coro::executor);
  boost::system::error_code error;
  if (deadline.is_never()) {
    std::tie(error) = co_await socket.async_connect(endpoint, use_task);
  } else {
    auto connected = co_await (socket.async_connect(endpoint, use_task) ||
                               deadline.clock().sleep_until(deadline.at()));
    if (connected.index() == 1)
      co_return Status(StatusCode::kDeadlineExceeded, "connect timed out");
    std::tie(error) = std::get<0>(connected);
  }
  if (error) co_return tessera::error(StatusCode::kUnavailable, "connect: {}", error.message());
  socket.set_option(tcp::no_delay(true), error);
  co_return std::move(socket);
}

}  // namespace

TcpNetwork& TcpNetwork::plain() {
  static TcpNetwork network;
  return network;
}

Result<std::unique_ptr<Listener>> TcpNetwork::listen(Executor executor, std::string address,
                                                     uint16_t port) {
  boost::system::error_code error;
  auto ip = boost::asio::ip::make_address(address, error);
  if (error) {
    return tessera::error(StatusCode::kInvalidArgument, "bad listen address '{}': {}", address,
                          error.message());
  }
  tcp::endpoint endpoint(ip, port);
  tcp::acceptor acceptor(executor);
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(tcp::acceptor::max_listen_connections, error);
  if (error) {
    return tessera::error(StatusCode::kUnavailable, "cannot listen on {}:{}: {}", address, port,
                          error.message());
  }
  return std::unique_ptr<Listener>(
      std::make_unique<TcpListener>(std::move(acceptor), options_.server_tls));
}

Task<Result<std::unique_ptr<ByteStream>>> TcpNetwork::connect(std::string host, uint16_t port,
                                                              Deadline deadline) {
  boost::system::error_code error;
  auto address = boost::asio::ip::make_address(host, error);
  if (error) co_return tessera::error(StatusCode::kInvalidArgument, "bad address '{}'", host);
  TESS_CO_ASSIGN_OR_RETURN(tcp::socket socket,
                           co_await connect_socket(tcp::endpoint(address, port), deadline));
  if (!options_.client_tls) {
    co_return std::unique_ptr<ByteStream>(std::make_unique<TcpStream>(std::move(socket)));
  }
  auto tls = std::make_unique<TlsStream>(std::move(socket), *options_.client_tls);
  if (!options_.tls_server_name.empty()) {
    tls->set_verify_callback(boost::asio::ssl::host_name_verification(options_.tls_server_name));
    SSL_set_tlsext_host_name(tls->native_handle(), options_.tls_server_name.c_str());
  }
  TESS_CO_RETURN_IF_ERROR(co_await handshake_by(tls.get(), stream_base::client, deadline));
  co_return std::unique_ptr<ByteStream>(
      std::make_unique<TcpStream>(std::move(*tls), /*server_handshake=*/false));
}

namespace {
using boost::asio::ssl::context;

std::shared_ptr<context> tls_context(context::method method) {
  auto ctx = std::make_shared<context>(method);
  ctx->set_options(context::default_workarounds | context::no_sslv2 | context::no_sslv3 |
                   context::no_tlsv1 | context::no_tlsv1_1);
  return ctx;
}
}  // namespace

Result<std::shared_ptr<context>> make_server_tls(const std::string& cert_file,
                                                 const std::string& key_file) {
  auto ctx = tls_context(context::tls_server);
  boost::system::error_code error;
  ctx->use_certificate_chain_file(cert_file, error);
  if (error) {
    return tessera::error(StatusCode::kInvalidArgument, "TLS certificate {}: {}", cert_file,
                          error.message());
  }
  ctx->use_private_key_file(key_file, context::pem, error);
  if (error) {
    return tessera::error(StatusCode::kInvalidArgument, "TLS key {}: {}", key_file,
                          error.message());
  }
  return ctx;
}

Result<std::shared_ptr<context>> make_client_tls(const std::string& ca_file) {
  auto ctx = tls_context(context::tls_client);
  if (ca_file.empty()) {
    ctx->set_verify_mode(boost::asio::ssl::verify_none);
    return ctx;
  }
  boost::system::error_code error;
  ctx->load_verify_file(ca_file, error);
  if (error) {
    return tessera::error(StatusCode::kInvalidArgument, "TLS CA file {}: {}", ca_file,
                          error.message());
  }
  ctx->set_verify_mode(boost::asio::ssl::verify_peer);
  return ctx;
}

}  // namespace tessera::rpc
