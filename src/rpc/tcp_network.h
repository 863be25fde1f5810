// TcpNetwork: the real network (rpc/network.h) over TCP, optionally TLS 1.2+ over TCP.
//
// Without TLS contexts it is plain TCP (Nagle off). With `client_tls`, connect() performs the TLS
// client handshake (checking `tls_server_name` against the certificate when set) within the
// connect deadline. With `server_tls`, accepted streams are TLS streams whose handshake the
// server runs per connection through ByteStream::handshake(deadline), in that connection's own
// task, so a client that connects and stays silent never holds up accepting others.
//
// Stateless apart from its options: one instance may serve every executor at once (each stream
// and listener lives on the executor it was made for).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <memory>
#include <string>

#include "rpc/network.h"

namespace tessera::rpc {

using tcp = boost::asio::ip::tcp;
using TlsStream = boost::asio::ssl::stream<tcp::socket>;

struct TcpNetworkOptions {
  // Set to make connect() speak TLS; tls_server_name is checked against the server certificate
  // when verifying (the context decides whether to verify).
  std::shared_ptr<boost::asio::ssl::context> client_tls;
  std::string tls_server_name;
  // Set to make accepted streams speak TLS.
  std::shared_ptr<boost::asio::ssl::context> server_tls;
};

class TcpNetwork final : public Network {
 public:
  explicit TcpNetwork(TcpNetworkOptions options = {}) : options_(std::move(options)) {}
  // The process-wide plain TCP network: the default of ClientOptions and ServerOptions.
  static TcpNetwork& plain();

  Result<std::unique_ptr<Listener>> listen(Executor executor, std::string address,
                                           uint16_t port) override;
  Task<Result<std::unique_ptr<ByteStream>>> connect(std::string host, uint16_t port,
                                                    Deadline deadline) override;

 private:
  TcpNetworkOptions options_;
};

// Builds TLS contexts from PEM files. The client verifies the server's certificate against
// `ca_file`; an empty ca_file disables verification (tests only).
Result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls(const std::string& cert_file,
                                                                   const std::string& key_file);
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls(const std::string& ca_file);

}  // namespace tessera::rpc
