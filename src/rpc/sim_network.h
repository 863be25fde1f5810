// SimNetwork: a simulated network of named nodes in one process, for running a whole cluster on
// one executor on simulated time (runtime/simulated_run.h). Each node has its own view, a Network
// (rpc/network.h): a node listens on ports of its own and connects to "other-node:port".
//
// The model, per connection: each direction is a FIFO of chunks (one per write, split at the
// window). A chunk written at time t is readable from max(previous chunk of that direction,
// t + latency) on, latency drawn from the seed in [min_latency, max_latency]; so bytes arrive in
// order, once, as on TCP. At most window_bytes per direction are written and not yet read: a
// writer beyond it waits (TCP's flow control), so a peer that does not read pushes back.
//
// Faults, all on the given clock and all repeatable from the seed:
// - partition(a, b) cuts both directions, partition_one_way(from, to) only bytes from `from` to
//   `to`. TCP does not drop bytes mid-stream: bytes crossing a cut are held, and delivered in
//   order if the cut heals in time; if a direction holds bytes across a cut for reset_after (TCP's
//   retransmission timeout) the whole connection is reset (both ends fail with
//   connection_reset). A connect across a cut in either direction (its SYN or its SYN-ACK is
//   lost) fails once its deadline or connect_timeout passes. The ACKs of the other direction are
//   not modelled: bytes flowing against a one-way cut are delivered.
// - stall(a, b, d): both directions between a and b deliver nothing for d, then catch up in order.
// - reset_connections(n): every connection of node n is reset (both ends).
// - crash(n): reset_connections(n) and n's listeners are closed (accept() fails, the ports are
//   free); the node's owner throws its objects away and may start it again (listen again).
// - A connect to a port nobody listens on is refused after one round trip.
//
// Lives on `executor`: the network, its nodes, streams and listeners are used only from tasks
// there (a simulation has one thread). The streams and listeners keep the network's state alive,
// so they may outlive the SimNetwork object; its clock must outlive them all.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/units.h"
#include "rpc/network.h"
#include "runtime/clock.h"

namespace tessera::rpc {

struct SimNetworkOptions {
  Clock::Duration min_latency = std::chrono::microseconds(50);
  Clock::Duration max_latency = std::chrono::milliseconds(2);
  size_t window_bytes = 256 * kKiB;  // Per direction of a connection.
  Clock::Duration reset_after = std::chrono::seconds(10);
  Clock::Duration connect_timeout = std::chrono::seconds(20);
  size_t backlog = 128;  // Connections waiting for accept() per listener; beyond: refused.
  bool record_trace = false;
};

namespace internal {
class SimCore;
}

class SimNetwork {
 public:
  SimNetwork(Executor executor, const Clock& clock, uint64_t seed, SimNetworkOptions options = {});
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // The network as node `name` sees it, made on first use. The reference stays valid while the
  // SimNetwork lives. listen() ignores the address (a node has one); connect() takes a node name
  // as host.
  Network& node(const std::string& name);

  void partition(const std::string& a, const std::string& b);
  void partition_one_way(const std::string& from, const std::string& to);
  // Removes every cut; held bytes are delivered in order.
  void heal();
  void stall(const std::string& a, const std::string& b, Clock::Duration duration);
  void reset_connections(const std::string& node);
  void crash(const std::string& node);

  // With record_trace: one line per read, "<time us> <from>-><to> #<connection> <bytes>".
  const std::vector<std::string>& trace() const;
  // Connections made so far (for tests).
  uint64_t connections_made() const;

 private:
  std::shared_ptr<internal::SimCore> core_;
};

}  // namespace tessera::rpc
