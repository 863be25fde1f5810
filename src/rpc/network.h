// The network under the RPC layer: byte streams, listeners, and a Network that makes them. Three
// implementations: TcpNetwork (plain TCP), TcpNetwork with TLS contexts (TLS over TCP), both in
// rpc/tcp_network.h, and SimNetwork (rpc/sim_network.h), a simulated network of named nodes for
// running a whole cluster in one process on simulated time. RpcClient and RpcServer take a
// Network* in their options and know nothing of sockets.
//
// Every object here lives on one executor (the one its task runs on when it is made) and is used
// only from tasks on it. Failures are values: I/O results carry an error_code as Asio does
// (eof at a clean end, operation_aborted after close(), connection_reset when the peer vanished);
// connect/listen/accept return Status.
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <tuple>

#include "base/status.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::rpc {

using IoResult = std::tuple<boost::system::error_code, size_t>;

// A connected, reliable, in-order byte stream (TCP's contract: no loss, no duplicates, no
// reordering; it either delivers every byte in order or fails).
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Completes the stream's security handshake (TLS, server side) by `deadline`; plain streams and
  // streams returned by Network::connect (already shaken) return OK at once. kDeadlineExceeded
  // when the deadline passed, kUnavailable when the handshake failed.
  virtual Task<Status> handshake(Deadline deadline) = 0;
  // Reads at least one byte into `buffer` (fewer than its size is normal).
  // REQUIRES: one read at a time; `buffer` stays valid until it completes.
  virtual Task<IoResult> read_some(boost::asio::mutable_buffer buffer) = 0;
  // Writes all of `buffers` or fails. REQUIRES: one write at a time; the span and the bytes it
  // points at stay valid until it completes.
  virtual Task<IoResult> write_all(std::span<const boost::asio::const_buffer> buffers) = 0;
  // Closes both directions; pending and later reads and writes fail. Idempotent.
  virtual void close() = 0;
  // "host:port" of the peer, fixed when the stream is made.
  virtual const std::string& peer_name() const = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;
  // The next incoming stream (not yet handshaken: see ByteStream::handshake). Errors: kCancelled
  // once the listener is closed; kUnavailable for a failed accept (e.g. out of descriptors), after
  // which accepting may be tried again later.
  virtual Task<Result<std::unique_ptr<ByteStream>>> accept() = 0;
  // Stops listening; a pending accept() fails with kCancelled. Idempotent.
  virtual void close() = 0;
  virtual uint16_t port() const = 0;
};

class Network {
 public:
  virtual ~Network() = default;
  // Listens on address:port (port 0: any free port, see Listener::port()). The listener lives on
  // `executor`. Errors: kInvalidArgument for a bad address, kUnavailable if it cannot be bound.
  virtual Result<std::unique_ptr<Listener>> listen(Executor executor, std::string address,
                                                   uint16_t port) = 0;
  // Connects (and shakes hands, for TLS) to host:port by `deadline`; the stream lives on the
  // calling task's executor. Errors: kDeadlineExceeded when the deadline passed first;
  // kUnavailable when refused, unreachable or the handshake failed; kInvalidArgument for a bad
  // address.
  virtual Task<Result<std::unique_ptr<ByteStream>>> connect(std::string host, uint16_t port,
                                                            Deadline deadline) = 0;
};

}  // namespace tessera::rpc
