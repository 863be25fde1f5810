// rpc_bench: the RPC layer's throughput and call rate over loopback, next to a plain TCP socket
// pump measured in the same run.
//
//   rpc_bench [--seconds S] [--depth D]
//
// Figures: raw TCP MiB/s (one stream, 1 MiB writes, blocking sockets, one sender and one receiver
// thread); RPC MiB/s with 1 MiB request payloads (server on one loop, client on another, D calls
// in flight on one connection) and its ratio to raw TCP, each the best of three alternating
// rounds; small calls per second on one connection, one at a time and 64 in flight.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "bench/bench_report.h"
#include "proto/rpc.pb.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "runtime/event_loop.h"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kPayloadBytes = kMiB;
constexpr int kRounds = 3;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Plain TCP: one thread writes 1 MiB blocks for `seconds`, another reads them.
double raw_tcp_mib_per_s(double seconds) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  TESS_ASSERT(bind(listener, reinterpret_cast<sockaddr*>(&address), length) == 0, "bind");
  TESS_ASSERT(listen(listener, 1) == 0, "listen");
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::atomic<uint64_t> received{0};
  std::thread receiver([&] {
    int connection = accept(listener, nullptr, nullptr);
    std::vector<char> buffer(kPayloadBytes);
    ssize_t n;
    while ((n = recv(connection, buffer.data(), buffer.size(), 0)) > 0) received += n;
    close(connection);
  });
  int sender = socket(AF_INET, SOCK_STREAM, 0);
  TESS_ASSERT(connect(sender, reinterpret_cast<sockaddr*>(&address), length) == 0, "connect");
  std::vector<char> block(kPayloadBytes, 'x');
  auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    size_t sent = 0;
    while (sent < block.size()) {
      ssize_t n = send(sender, block.data() + sent, block.size() - sent, 0);
      TESS_ASSERT(n > 0, "send failed");
      sent += n;
    }
  }
  shutdown(sender, SHUT_WR);
  receiver.join();
  double elapsed = seconds_since(start);
  close(sender);
  close(listener);
  return static_cast<double>(received) / kMiB / elapsed;
}

struct Counters {
  uint64_t calls = 0;
  uint64_t failures = 0;
};

// One caller: sends Ping calls with `payload` back to back until `end`.
Task<Counters> caller(rpc::RpcClient& client, Buffer payload, Clock::time_point end) {
  Counters counters;
  proto::PingRequest ping;
  while (Clock::now() < end) {
    ping.set_nonce(counters.calls);
    auto reply = co_await client.call(rpc::MessageType::kPing, ping, payload, {});
    if (reply.ok()) {
      ++counters.calls;
    } else {
      ++counters.failures;
    }
  }
  co_return counters;
}

// Runs `depth` callers on the client loop for `seconds`; returns completed calls per second.
double calls_per_s(EventLoopGroup& loops, rpc::RpcClient& client, size_t depth,
                   const Buffer& payload, double seconds) {
  auto end = Clock::now() +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto start = Clock::now();
  std::vector<std::future<Counters>> callers;
  for (size_t i = 0; i < depth; ++i) {
    callers.push_back(boost::asio::co_spawn(loops.executor(1), caller(client, payload, end),
                                            boost::asio::use_future));
  }
  uint64_t calls = 0, failures = 0;
  for (auto& f : callers) {
    Counters c = f.get();
    calls += c.calls;
    failures += c.failures;
  }
  TESS_ASSERT(failures == 0, "{} calls failed during the benchmark", failures);
  return static_cast<double>(calls) / seconds_since(start);
}

Task<Status> start_server(rpc::RpcServer& server) { co_return server.start(); }

Task<void> shutdown_server(rpc::RpcServer& server) {
  co_await server.shutdown(Deadline::after(std::chrono::seconds(5), RealClock::instance()));
}

Task<void> destroy_client(std::unique_ptr<rpc::RpcClient> client) {
  client.reset();
  co_return;
}

int run(double seconds, size_t depth) {
  fmt::print(
      "rpc_bench: {:.1f} s per figure, 1 MiB payloads with {} calls in flight, best of {} "
      "alternating rounds\n",
      seconds, depth, kRounds);
  EventLoopGroup loops(2);
  rpc::RpcServer server(loops.executor(0), rpc::ServerOptions{});
  Status started =
      boost::asio::co_spawn(loops.executor(0), start_server(server), boost::asio::use_future).get();
  TESS_ASSERT(started.ok(), "{}", started);
  auto client = std::make_unique<rpc::RpcClient>(loops.executor(1), "127.0.0.1", server.port());

  // The machine's own noise moves both figures; alternate them and keep each one's best round,
  // so that a slow moment cannot land on only one side of the ratio.
  Buffer payload = Buffer::allocate(kPayloadBytes);
  std::memset(payload.data(), 'x', payload.size());
  double raw = 0, rpc_mib = 0;
  for (int round = 0; round < kRounds; ++round) {
    raw = std::max(raw, raw_tcp_mib_per_s(seconds / kRounds));
    rpc_mib = std::max(rpc_mib, calls_per_s(loops, *client, depth, payload, seconds / kRounds) *
                                    kPayloadBytes / kMiB);
  }
  double sequential = calls_per_s(loops, *client, 1, Buffer(), seconds);
  double pipelined = calls_per_s(loops, *client, 64, Buffer(), seconds);

  bench::Report report("rpc");
  report.add("raw_tcp_mib_per_s", raw, "plain TCP socket pump, 1 MiB writes (baseline)");
  report.add("payload_1mib_mib_per_s", rpc_mib, "RPC calls carrying 1 MiB payloads");
  report.add("payload_1mib_ratio", rpc_mib / raw, "RPC / raw TCP (aim >= 0.8)");
  report.add("small_calls_per_s", pipelined,
             "empty calls, 64 in flight, one connection (aim >= 50000)");
  report.add("small_calls_sequential_per_s", sequential,
             "empty calls, one at a time (round trips)");

  // The client lives on loop 1, so it is destroyed there.
  boost::asio::co_spawn(loops.executor(1), destroy_client(std::move(client)),
                        boost::asio::use_future)
      .get();
  boost::asio::co_spawn(loops.executor(0), shutdown_server(server), boost::asio::use_future).get();
  loops.stop();
  report.print_json();
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  double seconds = 3;
  size_t depth = 4;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--depth" && i + 1 < argc) {
      depth = std::strtoul(argv[++i], nullptr, 10);
    } else {
      fmt::print(stderr, "usage: rpc_bench [--seconds S] [--depth D]\n");
      return arg == "--help" ? 0 : 2;
    }
  }
  if (seconds <= 0 || depth == 0) {
    fmt::print(stderr, "rpc_bench: --seconds and --depth must be positive\n");
    return 2;
  }
  if (tessera::Status logging =
          tessera::init_logging({.level = "warn", .process_name = "rpc_bench"});
      !logging.ok()) {
    fmt::print(stderr, "rpc_bench: {}\n", logging);
    return 1;
  }
  return tessera::run(seconds, depth);
}
