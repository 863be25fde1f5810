// Stream: a connected byte stream, plain TCP or TLS over TCP, with coroutine read and write.
// Owned by one Connection and used on that connection's executor only.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <tuple>
#include <variant>

#include "base/status.h"
#include "runtime/task.h"

namespace tessera::rpc {

using tcp = boost::asio::ip::tcp;
using TlsStream = boost::asio::ssl::stream<tcp::socket>;
using IoResult = std::tuple<boost::system::error_code, size_t>;

class Stream {
 public:
  explicit Stream(tcp::socket socket) : stream_(std::move(socket)) {}
  explicit Stream(TlsStream stream) : stream_(std::move(stream)) {}

  // Reads at least one byte (fewer than buffer.size() is normal). error_code eof at a clean end.
  Task<IoResult> read_some(boost::asio::mutable_buffer buffer) {
    return std::visit([buffer](auto& s) { return s.async_read_some(buffer, use_task); }, stream_);
  }
  // Writes all of `buffers` or fails.
  template <typename ConstBufferSequence>
  Task<IoResult> write_all(const ConstBufferSequence& buffers) {
    return std::visit(
        [&buffers](auto& s) { return boost::asio::async_write(s, buffers, use_task); }, stream_);
  }
  // Closes the socket; pending reads and writes complete with operation_aborted.
  void close();
  tcp::socket& socket();
  // "address:port" of the peer, or "?" once closed.
  std::string peer_name();

 private:
  std::variant<tcp::socket, TlsStream> stream_;
};

// Builds TLS contexts from PEM files. The client verifies the server's certificate against
// `ca_file`; an empty ca_file disables verification (tests only).
Result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls(const std::string& cert_file,
                                                                   const std::string& key_file);
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls(const std::string& ca_file);

}  // namespace tessera::rpc
