#include "rpc/sim_network.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <utility>

#include "base/fault_points.h"

namespace tessera::rpc {
namespace internal {

namespace {

using TimePoint = Clock::TimePoint;
using Timer = boost::asio::steady_timer;
using NodePair = std::pair<std::string, std::string>;

struct Chunk {
  std::vector<std::byte> bytes;
  size_t read = 0;
  TimePoint sent_at;
  TimePoint deliver_at;
};

// One direction of a connection.
struct Pipe {
  std::string from;
  std::string to;
  std::deque<Chunk> chunks;
  size_t buffered_bytes = 0;  // Written and not yet read: the window's measure.
  TimePoint last_deliver_at{};
  bool fin = false;            // The writer closed: the reader gets eof after the chunks.
  bool reader_closed = false;  // The reader closed: writes fail.
  Timer* reader_wake = nullptr;
  Timer* writer_wake = nullptr;
};

void wake(Timer*& timer) {
  if (timer != nullptr) std::exchange(timer, nullptr)->cancel();
}

// Clears a waiter slot when the waiting frame ends, however it ends.
struct SlotGuard {
  Timer** slot;
  Timer* timer;
  ~SlotGuard() {
    if (*slot == timer) *slot = nullptr;
  }
};

Task<bool> task_cancelled() {
  auto state = co_await boost::asio::this_coro::cancellation_state;
  co_return state.cancelled() != boost::asio::cancellation_type::none;
}

}  // namespace

struct SimConnection {
  uint64_t id = 0;
  Pipe pipes[2];  // [0]: client to server, [1]: server to client.
  boost::system::error_code reset;
  void wake_all() {
    for (Pipe& pipe : pipes) {
      wake(pipe.reader_wake);
      wake(pipe.writer_wake);
    }
  }
};

class SimListener;
class SimNode;

// The state of a SimNetwork, shared by its streams and listeners.
class SimCore : public std::enable_shared_from_this<SimCore> {
 public:
  SimCore(Executor executor, const Clock& clock, uint64_t seed, SimNetworkOptions options)
      : executor_(std::move(executor)), clock_(&clock), random_(seed), options_(options) {
    TESS_ASSERT(options_.min_latency <= options_.max_latency && options_.window_bytes > 0,
                "bad SimNetworkOptions");
  }

  const Clock& clock() const { return *clock_; }
  const SimNetworkOptions& options() const { return options_; }
  Network& node(const std::string& name);
  bool has_node(const std::string& name) const { return nodes_.contains(name); }

  Clock::Duration latency() {
    auto span = (options_.max_latency - options_.min_latency).count();
    if (span <= 0) return options_.min_latency;
    return options_.min_latency + Clock::Duration(random_() % static_cast<uint64_t>(span + 1));
  }

  // --- Faults.
  bool cut(const std::string& from, const std::string& to) const {
    return cuts_.contains({from, to});
  }
  TimePoint cut_since(const std::string& from, const std::string& to) const {
    return cuts_.at({from, to});
  }
  void add_cut(const std::string& from, const std::string& to) {
    cuts_.emplace(NodePair{from, to}, clock_->now());
    wake_everyone();
  }
  void heal() {
    cuts_.clear();
    wake_everyone();
  }
  void stall(const std::string& a, const std::string& b, Clock::Duration duration) {
    TimePoint until = clock_->after(duration);
    for (const NodePair& pair : {NodePair{a, b}, NodePair{b, a}}) {
      TimePoint& entry = stalls_[pair];
      entry = std::max(entry, until);
    }
    wake_everyone();
  }
  TimePoint stalled_until(const std::string& from, const std::string& to) const {
    auto it = stalls_.find({from, to});
    return it == stalls_.end() ? TimePoint::min() : it->second;
  }
  void reset_connections(const std::string& node) {
    for (const auto& connection : live_connections()) {
      if (connection->pipes[0].from != node && connection->pipes[0].to != node) continue;
      if (!connection->reset) connection->reset = boost::asio::error::connection_reset;
      connection->wake_all();
    }
  }
  void crash(const std::string& node);

  // When a connection whose direction `pipe` holds bytes across a cut gets reset (max if never).
  TimePoint reset_at(const Pipe& pipe) const {
    if (pipe.chunks.empty() || !cut(pipe.from, pipe.to)) return TimePoint::max();
    TimePoint held_from = std::max(cut_since(pipe.from, pipe.to), pipe.chunks.front().sent_at);
    return held_from + options_.reset_after;
  }
  // Resets `connection` if one of its directions held bytes across a cut for too long.
  void apply_cuts(SimConnection& connection) {
    if (connection.reset) return;
    for (const Pipe& pipe : connection.pipes) {
      if (clock_->now() >= reset_at(pipe)) {
        TESS_COVER("rpc.sim.reset_by_partition");
        connection.reset = boost::asio::error::connection_reset;
        connection.wake_all();
        return;
      }
    }
  }
  // When the first chunk of `pipe` may be read (ignoring cuts).
  TimePoint ready_at(const Pipe& pipe) const {
    return std::max(pipe.chunks.front().deliver_at, stalled_until(pipe.from, pipe.to));
  }
  bool readable(const Pipe& pipe) const {
    return !pipe.chunks.empty() && !cut(pipe.from, pipe.to) && ready_at(pipe) <= clock_->now();
  }

  // --- Connections and listeners.
  std::shared_ptr<SimConnection> new_connection(const std::string& client,
                                                const std::string& server) {
    auto connection = std::make_shared<SimConnection>();
    connection->id = ++connections_made_;
    connection->pipes[0].from = connection->pipes[1].to = client;
    connection->pipes[0].to = connection->pipes[1].from = server;
    connections_.push_back(connection);
    return connection;
  }
  uint64_t connections_made() const { return connections_made_; }
  SimListener* listener(const std::string& node, uint16_t port) const;
  Result<uint16_t> bind(const std::string& node, uint16_t port, SimListener* listener);
  void unbind(const std::string& node, uint16_t port, SimListener* listener);
  uint16_t ephemeral_port(const std::string& node) { return nodes_[node].next_ephemeral_port++; }

  void record(const Pipe& pipe, uint64_t connection, size_t bytes) {
    if (!options_.record_trace) return;
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_->now().time_since_epoch())
            .count();
    trace_.push_back(fmt::format("{} {}->{} #{} {}", us, pipe.from, pipe.to, connection, bytes));
  }
  const std::vector<std::string>& trace() const { return trace_; }

 private:
  struct NodeState {
    std::unique_ptr<SimNode> view;
    std::map<uint16_t, SimListener*> listeners;
    uint16_t next_listen_port = 7000;
    uint16_t next_ephemeral_port = 40000;
  };
  std::vector<std::shared_ptr<SimConnection>> live_connections() {
    std::erase_if(connections_,
                  [](const std::weak_ptr<SimConnection>& weak) { return weak.expired(); });
    std::vector<std::shared_ptr<SimConnection>> live;
    for (const auto& weak : connections_) live.push_back(weak.lock());
    return live;
  }
  void wake_everyone() {
    for (const auto& connection : live_connections()) connection->wake_all();
  }

  Executor executor_;
  const Clock* clock_;
  std::mt19937_64 random_;
  SimNetworkOptions options_;
  std::map<std::string, NodeState> nodes_;
  std::map<NodePair, TimePoint> cuts_;
  std::map<NodePair, TimePoint> stalls_;
  std::vector<std::weak_ptr<SimConnection>> connections_;
  uint64_t connections_made_ = 0;
  std::vector<std::string> trace_;
};

namespace {

// Waits on a timer published in *slot until `at`, a signal through the slot, or cancellation.
// `keep` keeps the slot's owner alive while the wait lasts.
Task<void> wait_in_slot(const Clock* clock, std::shared_ptr<void> keep, Timer** slot,
                        TimePoint at) {
  Timer timer(co_await boost::asio::this_coro::executor);
  *slot = &timer;
  SlotGuard guard{slot, &timer};
  co_await clock->wait(timer, at);
  (void)keep;
}

}  // namespace

// One end of a simulated connection.
class SimStream final : public ByteStream {
 public:
  SimStream(std::shared_ptr<SimCore> core, std::shared_ptr<SimConnection> connection, int side,
            std::string peer_name)
      : core_(std::move(core)),
        connection_(std::move(connection)),
        side_(side),
        peer_name_(std::move(peer_name)) {}
  ~SimStream() override { close(); }

  Task<Status> handshake(Deadline) override { co_return Status(); }

  Task<IoResult> read_some(boost::asio::mutable_buffer buffer) override {
    std::shared_ptr<SimConnection> connection = connection_;
    Pipe& in = incoming();
    while (true) {
      if (closed_) co_return IoResult{boost::asio::error::operation_aborted, 0};
      core_->apply_cuts(*connection);
      if (connection->reset) co_return IoResult{connection->reset, 0};
      if (buffer.size() == 0) co_return IoResult{boost::system::error_code(), 0};
      if (core_->readable(in)) co_return IoResult{boost::system::error_code(), take(in, buffer)};
      if (in.chunks.empty() && in.fin) co_return IoResult{boost::asio::error::eof, 0};
      TimePoint at = TimePoint::max();
      if (!in.chunks.empty()) {
        at = core_->cut(in.from, in.to) ? core_->reset_at(in) : core_->ready_at(in);
      }
      co_await wait_in_slot(&core_->clock(), connection, &in.reader_wake, at);
      if (co_await task_cancelled()) co_return IoResult{boost::asio::error::operation_aborted, 0};
    }
  }

  Task<IoResult> write_all(std::span<const boost::asio::const_buffer> buffers) override {
    std::shared_ptr<SimConnection> connection = connection_;
    Pipe& out = outgoing();
    size_t total = 0;
    for (const auto& buffer : buffers) {
      size_t done = 0;
      while (done < buffer.size()) {
        if (closed_) co_return IoResult{boost::asio::error::operation_aborted, total};
        core_->apply_cuts(*connection);
        if (connection->reset) co_return IoResult{connection->reset, total};
        if (out.reader_closed) co_return IoResult{boost::asio::error::broken_pipe, total};
        size_t window = core_->options().window_bytes;
        if (out.buffered_bytes >= window) {
          co_await wait_in_slot(&core_->clock(), connection, &out.writer_wake,
                                core_->reset_at(out));
          if (co_await task_cancelled()) {
            co_return IoResult{boost::asio::error::operation_aborted, total};
          }
          continue;
        }
        size_t n = std::min(buffer.size() - done, window - out.buffered_bytes);
        put(out, static_cast<const std::byte*>(buffer.data()) + done, n);
        done += n;
        total += n;
      }
    }
    co_return IoResult{boost::system::error_code(), total};
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    Pipe& out = outgoing();
    Pipe& in = incoming();
    out.fin = true;
    in.reader_closed = true;
    in.chunks.clear();
    in.buffered_bytes = 0;
    connection_->wake_all();
  }

  const std::string& peer_name() const override { return peer_name_; }

 private:
  Pipe& outgoing() { return connection_->pipes[side_]; }
  Pipe& incoming() { return connection_->pipes[1 - side_]; }

  void put(Pipe& out, const std::byte* data, size_t n) {
    const Clock& clock = core_->clock();
    Chunk chunk{std::vector<std::byte>(data, data + n), 0, clock.now(), {}};
    chunk.deliver_at = std::max(out.last_deliver_at, clock.now() + core_->latency());
    out.last_deliver_at = chunk.deliver_at;
    out.buffered_bytes += n;
    out.chunks.push_back(std::move(chunk));
    wake(out.reader_wake);
  }

  // Copies what is readable now into `buffer`.
  size_t take(Pipe& in, boost::asio::mutable_buffer buffer) {
    auto* target = static_cast<std::byte*>(buffer.data());
    // A read may return any nonzero count: the simulator sometimes returns one byte, so that
    // readers prove they reassemble.
    size_t wanted = TESS_BUGGIFY("rpc.sim.short_read") ? 1 : buffer.size();
    size_t copied = 0;
    while (copied < wanted && core_->readable(in)) {
      Chunk& chunk = in.chunks.front();
      size_t n = std::min(wanted - copied, chunk.bytes.size() - chunk.read);
      std::memcpy(target + copied, chunk.bytes.data() + chunk.read, n);
      chunk.read += n;
      copied += n;
      if (chunk.read == chunk.bytes.size()) in.chunks.pop_front();
    }
    in.buffered_bytes -= copied;
    core_->record(in, connection_->id, copied);
    wake(in.writer_wake);
    return copied;
  }

  std::shared_ptr<SimCore> core_;
  std::shared_ptr<SimConnection> connection_;
  int side_;
  std::string peer_name_;
  bool closed_ = false;
};

class SimListener final : public Listener {
 public:
  SimListener(std::shared_ptr<SimCore> core, std::string node)
      : core_(std::move(core)), node_(std::move(node)) {}
  ~SimListener() override { close(); }

  Status bind(uint16_t port) {
    TESS_ASSIGN_OR_RETURN(port_, core_->bind(node_, port, this));
    return Status();
  }

  Task<Result<std::unique_ptr<ByteStream>>> accept() override {
    while (true) {
      if (closed_) co_return Status(StatusCode::kCancelled, "listener closed");
      if (!backlog_.empty()) {
        std::unique_ptr<ByteStream> stream = std::move(backlog_.front());
        backlog_.pop_front();
        co_return std::move(stream);
      }
      co_await wait_in_slot(&core_->clock(), nullptr, &waiter_, TimePoint::max());
      if (co_await task_cancelled()) co_return Status(StatusCode::kCancelled, "accept cancelled");
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    core_->unbind(node_, port_, this);
    backlog_.clear();  // Their clients see the streams close.
    wake(waiter_);
  }
  uint16_t port() const override { return port_; }

  // False if the backlog is full (the connect is refused).
  bool offer(std::unique_ptr<ByteStream> stream) {
    if (closed_ || backlog_.size() >= core_->options().backlog) return false;
    backlog_.push_back(std::move(stream));
    wake(waiter_);
    return true;
  }

 private:
  std::shared_ptr<SimCore> core_;
  std::string node_;
  uint16_t port_ = 0;
  std::deque<std::unique_ptr<ByteStream>> backlog_;
  Timer* waiter_ = nullptr;
  bool closed_ = false;
};

// The network as one node sees it.
class SimNode final : public Network {
 public:
  SimNode(SimCore* core, std::string name) : core_(core), name_(std::move(name)) {}

  Result<std::unique_ptr<Listener>> listen(Executor, std::string, uint16_t port) override {
    auto listener = std::make_unique<SimListener>(core_->shared_from_this(), name_);
    TESS_RETURN_IF_ERROR(listener->bind(port));
    return std::unique_ptr<Listener>(std::move(listener));
  }

  Task<Result<std::unique_ptr<ByteStream>>> connect(std::string host, uint16_t port,
                                                    Deadline deadline) override {
    return connect_from(core_->shared_from_this(), name_, std::move(host), port, deadline);
  }

 private:
  static Task<Result<std::unique_ptr<ByteStream>>> connect_from(std::shared_ptr<SimCore> core,
                                                                std::string from, std::string host,
                                                                uint16_t port, Deadline deadline);
  SimCore* core_;
  std::string name_;
};

Task<Result<std::unique_ptr<ByteStream>>> SimNode::connect_from(std::shared_ptr<SimCore> core,
                                                                std::string from, std::string host,
                                                                uint16_t port, Deadline deadline) {
  const Clock& clock = core->clock();
  std::string target = fmt::format("{}:{}", host, port);
  if (!core->has_node(host)) {
    co_return error(StatusCode::kUnavailable, "connect to {}: no route to host", target);
  }
  // The SYN goes out and the SYN-ACK comes back: one round trip. The caller's deadline may be on
  // another clock than the network's (a simulated host's drifting clock), so it is honoured
  // through its own clock and compared as a remaining duration, never as a time point.
  Clock::Duration round_trip = core->latency() + core->latency();
  if (deadline.remaining() < round_trip) {
    (void)co_await deadline.clock().sleep_until(deadline.at());
    co_return error(StatusCode::kDeadlineExceeded, "connect to {} timed out", target);
  }
  TESS_CO_RETURN_IF_ERROR(co_await clock.sleep_for(round_trip));
  if (core->cut(from, host) || core->cut(host, from)) {
    // The SYN or its answer is lost; the caller gives up at its deadline or connect_timeout.
    TESS_COVER("rpc.sim.connect_across_cut");
    if (deadline.remaining() <= core->options().connect_timeout) {
      (void)co_await deadline.clock().sleep_until(deadline.at());
      co_return error(StatusCode::kDeadlineExceeded, "connect to {} timed out", target);
    }
    TESS_CO_RETURN_IF_ERROR(co_await clock.sleep_for(core->options().connect_timeout));
    co_return error(StatusCode::kUnavailable, "connect to {} timed out", target);
  }
  SimListener* listener = core->listener(host, port);
  if (listener == nullptr) {
    co_return error(StatusCode::kUnavailable, "connect to {}: connection refused", target);
  }
  auto connection = core->new_connection(from, host);
  std::string client_name = fmt::format("{}:{}", from, core->ephemeral_port(from));
  auto server_end = std::make_unique<SimStream>(core, connection, 1, client_name);
  if (!listener->offer(std::move(server_end))) {
    co_return error(StatusCode::kUnavailable, "connect to {}: connection refused (backlog full)",
                    target);
  }
  co_return std::unique_ptr<ByteStream>(std::make_unique<SimStream>(core, connection, 0, target));
}

Network& SimCore::node(const std::string& name) {
  NodeState& state = nodes_[name];
  if (!state.view) state.view = std::make_unique<SimNode>(this, name);
  return *state.view;
}

SimListener* SimCore::listener(const std::string& node, uint16_t port) const {
  auto state = nodes_.find(node);
  if (state == nodes_.end()) return nullptr;
  auto it = state->second.listeners.find(port);
  return it == state->second.listeners.end() ? nullptr : it->second;
}

Result<uint16_t> SimCore::bind(const std::string& node, uint16_t port, SimListener* listener) {
  NodeState& state = nodes_[node];
  if (port == 0) {
    while (state.listeners.contains(state.next_listen_port)) ++state.next_listen_port;
    port = state.next_listen_port++;
  }
  if (!state.listeners.emplace(port, listener).second) {
    return error(StatusCode::kUnavailable, "cannot listen on {}:{}: address in use", node, port);
  }
  return port;
}

void SimCore::unbind(const std::string& node, uint16_t port, SimListener* listener) {
  auto state = nodes_.find(node);
  if (state == nodes_.end()) return;
  auto it = state->second.listeners.find(port);
  // A crashed node's old listener must not unbind the port its restarted self listens on.
  if (it != state->second.listeners.end() && it->second == listener) {
    state->second.listeners.erase(it);
  }
}

void SimCore::crash(const std::string& node) {
  reset_connections(node);
  auto state = nodes_.find(node);
  if (state == nodes_.end()) return;
  auto listeners = state->second.listeners;  // close() unbinds: iterate over a copy.
  for (auto& [port, listener] : listeners) listener->close();
}

}  // namespace internal

SimNetwork::SimNetwork(Executor executor, const Clock& clock, uint64_t seed,
                       SimNetworkOptions options)
    : core_(std::make_shared<internal::SimCore>(std::move(executor), clock, seed, options)) {}

SimNetwork::~SimNetwork() = default;

Network& SimNetwork::node(const std::string& name) { return core_->node(name); }
void SimNetwork::partition(const std::string& a, const std::string& b) {
  core_->add_cut(a, b);
  core_->add_cut(b, a);
}
void SimNetwork::partition_one_way(const std::string& from, const std::string& to) {
  core_->add_cut(from, to);
}
void SimNetwork::heal() { core_->heal(); }
void SimNetwork::stall(const std::string& a, const std::string& b, Clock::Duration duration) {
  core_->stall(a, b, duration);
}
void SimNetwork::reset_connections(const std::string& node) { core_->reset_connections(node); }
void SimNetwork::crash(const std::string& node) { core_->crash(node); }
const std::vector<std::string>& SimNetwork::trace() const { return core_->trace(); }
uint64_t SimNetwork::connections_made() const { return core_->connections_made(); }

}  // namespace tessera::rpc
