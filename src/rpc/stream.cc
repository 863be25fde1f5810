#include "rpc/stream.h"

#include <fmt/format.h>

namespace tessera::rpc {

void Stream::close() {
  boost::system::error_code ignored;
  socket().shutdown(tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
}

tcp::socket& Stream::socket() {
  if (auto* plain = std::get_if<tcp::socket>(&stream_)) return *plain;
  return std::get<TlsStream>(stream_).next_layer();
}

std::string Stream::peer_name() {
  boost::system::error_code error;
  auto endpoint = socket().remote_endpoint(error);
  if (error) return "?";
  return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

namespace {
using boost::asio::ssl::context;

Result<std::shared_ptr<context>> tls_context(context::method method) {
  auto ctx = std::make_shared<context>(method);
  ctx->set_options(context::default_workarounds | context::no_sslv2 | context::no_sslv3 |
                   context::no_tlsv1 | context::no_tlsv1_1);
  return ctx;
}
}  // namespace

Result<std::shared_ptr<context>> make_server_tls(const std::string& cert_file,
                                                 const std::string& key_file) {
  TESS_ASSIGN_OR_RETURN(auto ctx, tls_context(context::tls_server));
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
  TESS_ASSIGN_OR_RETURN(auto ctx, tls_context(context::tls_client));
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
