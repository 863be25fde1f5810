// Client and server together on one event loop: over real loopback TCP (and TLS), and over a
// SimNetwork on a FakeClock (run_simulated) wherever a scenario depends on timing, so that a
// loaded machine cannot change its outcome.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <functional>
#include <random>
#include <set>

#include "base/fault_points.h"
#include "proto/rpc.pb.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "rpc/sim_network.h"
#include "runtime/clock.h"
#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera::rpc {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::run_task;

constexpr uint32_t kSlow = 9001;
constexpr uint32_t kFail = 9002;

// Handlers used by the tests: a slow one (sleeps `sleep_ms` from the request nonce, on `clock`)
// and one that always fails with a given status.
struct TestService {
  const Clock* clock = &RealClock::instance();
  int running = 0;
  int peak = 0;
  Task<Result<Reply>> slow(Request request) {
    TESS_CO_ASSIGN_OR_RETURN(auto ping, request.parse<proto::PingRequest>());
    peak = std::max(peak, ++running);
    (void)co_await clock->sleep_for(std::chrono::milliseconds(ping.nonce()));
    --running;
    proto::PingResponse response;
    response.set_nonce(ping.nonce());
    co_return Reply::of(response);
  }
  Task<Result<Reply>> fail(Request) {
    co_return error(StatusCode::kNoSpace, "drive {} is full", 4);
  }
};

ServerOptions server_options(size_t max_in_flight = 64) {
  ServerOptions options;
  options.max_in_flight_requests = max_in_flight;
  return options;
}

void add_test_handlers(RpcServer& server, TestService& service) {
  server.register_handler(kSlow, std::bind_front(&TestService::slow, &service));
  server.register_handler(kFail, std::bind_front(&TestService::fail, &service));
}

// A started server with the test handlers and a client of it, on the given executor. The server
// must be shut down (co_await server.shutdown(...)) before the Loopback is destroyed.
struct Loopback {
  Loopback(const Executor& executor, const ServerOptions& options,
           const ClientOptions& client_options = {}, const std::string& host = "127.0.0.1")
      : service{options.clock},
        server(executor, options),
        client(executor, host, start(), client_options) {}
  TestService service;
  RpcServer server;
  RpcClient client;

 private:
  uint16_t start() {
    add_test_handlers(server, service);
    Status started = server.start();
    TESS_ASSERT(started.ok(), "test server: {}", started);
    return server.port();
  }
};

proto::PingRequest ping_of(uint64_t nonce, bool echo = false) {
  proto::PingRequest ping;
  ping.set_nonce(nonce);
  ping.set_echo_payload(echo);
  return ping;
}

Task<Result<Reply>> slow_call(RpcClient& client, uint64_t sleep_ms, CallOptions options) {
  co_return co_await client.call(static_cast<MessageType>(kSlow), ping_of(sleep_ms), Buffer(),
                                 options);
}

// The results of calls spawned in the background, and how many have finished.
struct Outcomes {
  explicit Outcomes(size_t count) : results(count) {}
  bool all_done() const { return done == results.size(); }
  std::vector<Result<Reply>> results;
  size_t done = 0;
};

Task<void> store_into(Task<Result<Reply>> task, Outcomes* outcomes, size_t index) {
  outcomes->results[index] = co_await std::move(task);
  ++outcomes->done;
}

// A client and servers in one simulated world: one io_context, its FakeClock, a SimNetwork with
// the nodes "server" and "client" (and any others a test names).
struct SimWorld {
  explicit SimWorld(uint64_t seed = 1, SimNetworkOptions options = {})
      : network(context.get_executor(), clock, seed, options) {}
  ServerOptions server_options(size_t max_in_flight = 64, const std::string& node = "server") {
    ServerOptions options = rpc::server_options(max_in_flight);
    options.clock = &clock;
    options.network = &network.node(node);
    return options;
  }
  ClientOptions client_options(ClientOptions options = {}, const std::string& node = "client") {
    options.clock = &clock;
    options.network = &network.node(node);
    return options;
  }
  void run(Task<void> task) { run_simulated(context, clock, std::move(task)); }

  boost::asio::io_context context{1};
  FakeClock clock;
  SimNetwork network;
};

// Waits until `condition()` holds, looking every simulated millisecond; false after a simulated
// minute.
template <typename Condition>
Task<bool> sim_eventually(const Clock* clock, Condition condition) {
  Deadline deadline = Deadline::after(std::chrono::minutes(1), *clock);
  while (!condition()) {
    if (deadline.expired()) co_return false;
    (void)co_await clock->sleep_for(1ms);
  }
  co_return true;
}

Task<void> ping_echo_scenario() {
  auto executor = co_await boost::asio::this_coro::executor;
  RpcServer server(executor, server_options());
  CO_ASSERT_OK(server.start());
  RpcClient client(executor, "127.0.0.1", server.port());
  Buffer payload = Buffer::allocate(300000);
  for (size_t i = 0; i < payload.size(); ++i) payload.data()[i] = std::byte(i * 7);
  auto reply = co_await client.call(MessageType::kPing, ping_of(99, true), payload, CallOptions{});
  CO_ASSERT_OK(reply);
  auto body = reply->parse<proto::PingResponse>();
  CO_ASSERT_OK(body);
  EXPECT_EQ(body->nonce(), 99u);
  EXPECT_EQ(body->payload_bytes(), 300000u);
  CO_ASSERT_TRUE(reply->payload.size() == payload.size());
  EXPECT_EQ(std::memcmp(reply->payload.data(), payload.data(), payload.size()), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(reply->payload.data()) % kBlockSize, 0u);
  co_await server.shutdown(Deadline::after(1s, RealClock::instance()));
}

TEST(RpcTest, PingEchoesPayloadIntact) { run_task(ping_echo_scenario()); }

Task<void> errors_scenario() {
  auto executor = co_await boost::asio::this_coro::executor;
  Loopback net(executor, server_options());
  auto& [service, server, client] = net;
  auto failed = co_await client.call(kFail, "", Buffer(), CallOptions{});
  EXPECT_EQ(failed.status(), error(StatusCode::kNoSpace, "drive 4 is full"));
  auto unknown = co_await client.call(4242, "", Buffer(), CallOptions{});
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnimplemented);
  auto malformed = co_await client.call(1u, std::string("\xff\xff\xff"), Buffer(), {});
  EXPECT_EQ(malformed.status().code(), StatusCode::kInvalidArgument);
  // The connection survives handler errors.
  EXPECT_OK(co_await client.call(MessageType::kPing, ping_of(1), Buffer(), {}));
  EXPECT_EQ(client.connects(), 1u);
  co_await server.shutdown(Deadline::after(1s, RealClock::instance()));
}

TEST(RpcTest, HandlerErrorsReachTheCaller) { run_task(errors_scenario()); }

Task<void> deadline_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  Loopback net(executor, sim->server_options(), sim->client_options(), "server");
  auto& [service, server, client] = net;
  auto start = sim->clock.now();
  auto late = co_await slow_call(client, 300, CallOptions{.timeout = 30ms});
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sim->clock.now() - start, 30ms);  // Exactly at its deadline.
  EXPECT_EQ(client.in_flight_calls(), 0u);
  // A caller's own deadline, earlier than the timeout, wins.
  start = sim->clock.now();
  auto capped = co_await slow_call(
      client, 300, CallOptions{.timeout = 5s, .deadline = Deadline::after(20ms, sim->clock)});
  EXPECT_EQ(capped.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sim->clock.now() - start, 20ms);
  // The late replies arrive and are dropped; the next calls are unaffected.
  EXPECT_OK(co_await slow_call(client, 1, CallOptions{}));
  (void)co_await sim->clock.sleep_for(350ms);
  EXPECT_OK(co_await slow_call(client, 1, CallOptions{}));
  EXPECT_EQ(client.connects(), 1u);
  co_await server.shutdown(Deadline::after(1s, sim->clock));
}

TEST(RpcTest, DeadlineBoundsEveryCall) {
  SimWorld sim;
  sim.run(deadline_scenario(&sim));
}

Task<void> busy_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  Loopback net(executor, sim->server_options(/*max_in_flight=*/2), sim->client_options(), "server");
  auto& [service, server, client] = net;
  Outcomes first(4);
  for (size_t i = 0; i < 4; ++i) {
    spawn_detached(executor, store_into(slow_call(client, 100, {}), &first, i), "call");
  }
  CO_ASSERT_TRUE(co_await sim_eventually(&sim->clock, [&first] { return first.all_done(); }));
  int ok = 0, busy = 0;
  for (auto& result : first.results) {
    if (result.ok()) ++ok;
    if (result.status().code() == StatusCode::kBusy) ++busy;
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(busy, 2);
  EXPECT_EQ(service.peak, 2);
  EXPECT_EQ(server.busy_rejections(), 2u);
  // Idempotent calls back off and retry through the busy period.
  Outcomes retried(4);
  for (size_t i = 0; i < 4; ++i) {
    spawn_detached(
        executor,
        store_into(slow_call(client, 20, {.timeout = 5s, .idempotent = true}), &retried, i),
        "call");
  }
  CO_ASSERT_TRUE(co_await sim_eventually(&sim->clock, [&retried] { return retried.all_done(); }));
  for (auto& result : retried.results) EXPECT_OK(result);
  co_await server.shutdown(Deadline::after(1s, sim->clock));
}

TEST(RpcTest, ServerShedsLoadBeyondItsBound) {
  SimWorld sim;
  sim.run(busy_scenario(&sim));
}

Task<void> client_bound_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  Loopback net(executor, sim->server_options(),
               sim->client_options(ClientOptions{.max_in_flight_calls = 2}), "server");
  auto& [service, server, client] = net;
  Outcomes outcomes(6);
  for (size_t i = 0; i < 6; ++i) {
    spawn_detached(executor, store_into(slow_call(client, 30, {}), &outcomes, i), "call");
  }
  CO_ASSERT_TRUE(
      co_await sim_eventually(&sim->clock, [&net] { return net.client.in_flight_calls() == 2; }));
  // Four calls wait ahead of this one for the two slots, each holding one for 30 ms.
  auto starved = co_await slow_call(client, 1, {.timeout = 20ms});
  EXPECT_EQ(starved.status().code(), StatusCode::kDeadlineExceeded);
  CO_ASSERT_TRUE(co_await sim_eventually(&sim->clock, [&outcomes] { return outcomes.all_done(); }));
  for (auto& result : outcomes.results) EXPECT_OK(result);
  EXPECT_LE(client.in_flight_calls(), 2u);
  EXPECT_EQ(service.peak, 2);
  co_await server.shutdown(Deadline::after(1s, sim->clock));
}

TEST(RpcTest, ClientBoundsCallsInFlight) {
  SimWorld sim;
  sim.run(client_bound_scenario(&sim));
}

Task<void> pipelining_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  Loopback net(executor, sim->server_options(1000), sim->client_options(), "server");
  auto& [service, server, client] = net;
  Outcomes outcomes(200);
  for (size_t i = 0; i < 200; ++i) {
    // Each handler holds its call for 300 ms of simulated time, so all 200 overlap.
    spawn_detached(executor, store_into(slow_call(client, 300, {}), &outcomes, i), "call");
  }
  CO_ASSERT_TRUE(co_await sim_eventually(&sim->clock, [&outcomes] { return outcomes.all_done(); }));
  for (auto& result : outcomes.results) EXPECT_OK(result);
  EXPECT_EQ(client.connects(), 1u);
  EXPECT_EQ(service.peak, 200);
  co_await server.shutdown(Deadline::after(1s, sim->clock));
}

TEST(RpcTest, ManyCallsShareOneConnection) {
  SimWorld sim;
  sim.run(pipelining_scenario(&sim));
}

Task<void> start_server_later(SimWorld* sim, uint16_t port, RpcServer** out) {
  (void)co_await sim->clock.sleep_for(150ms);
  auto options = sim->server_options();
  options.port = port;
  *out = new RpcServer(co_await boost::asio::this_coro::executor, options);
  CO_ASSERT_OK((*out)->start());
}

Task<void> retry_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  constexpr uint16_t kPort = 7000;  // Nobody listens there yet (a simulated node's own ports).
  sim->network.node("server");
  RpcClient client(executor, "server", kPort, sim->client_options());
  auto refused = co_await client.call(MessageType::kPing, ping_of(1), Buffer(), {});
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("server:7000"), std::string_view::npos);
  RpcServer* server = nullptr;
  spawn_detached(executor, start_server_later(sim, kPort, &server), "late server");
  auto not_retried = co_await client.call(MessageType::kPing, ping_of(1), Buffer(), {});
  EXPECT_EQ(not_retried.status().code(), StatusCode::kUnavailable);
  auto retried = co_await client.call(MessageType::kPing, ping_of(2), Buffer(),
                                      {.timeout = 3s, .idempotent = true});
  EXPECT_OK(retried);
  CO_ASSERT_TRUE(server != nullptr);
  co_await server->shutdown(Deadline::after(1s, sim->clock));
  delete server;
}

TEST(RpcTest, OnlyIdempotentCallsAreRetried) {
  SimWorld sim;
  sim.run(retry_scenario(&sim));
}

Task<void> malformed_scenario() {
  auto executor = co_await boost::asio::this_coro::executor;
  RpcServer server(executor, server_options());
  CO_ASSERT_OK(server.start());
  tcp::socket raw(executor);
  auto [connect_error] = co_await raw.async_connect(
      tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()), use_task);
  CO_ASSERT_TRUE(!connect_error);
  std::string garbage(100, '\x5a');
  auto [write_error, written] =
      co_await boost::asio::async_write(raw, boost::asio::buffer(garbage), use_task);
  CO_ASSERT_TRUE(!write_error);
  char byte;
  auto [read_error, read] = co_await raw.async_read_some(boost::asio::buffer(&byte, 1), use_task);
  EXPECT_EQ(read_error, boost::asio::error::eof);  // The server hung up on the garbage.
  RpcClient client(executor, "127.0.0.1", server.port());
  EXPECT_OK(co_await client.call(MessageType::kPing, ping_of(3), Buffer(), {}));
  co_await server.shutdown(Deadline::after(1s, RealClock::instance()));
}

TEST(RpcTest, MalformedFrameClosesOnlyThatConnection) { run_task(malformed_scenario()); }

Task<void> oversize_scenario() {
  auto executor = co_await boost::asio::this_coro::executor;
  auto options = server_options();
  options.limits.max_payload_bytes = 1024;
  RpcServer server(executor, options);
  CO_ASSERT_OK(server.start());
  RpcClient client(executor, "127.0.0.1", server.port());
  auto too_big = co_await client.call(MessageType::kPing, ping_of(4), Buffer::allocate(4096), {});
  EXPECT_EQ(too_big.status().code(), StatusCode::kUnavailable);
  EXPECT_OK(co_await client.call(MessageType::kPing, ping_of(5), Buffer::allocate(1024), {}));
  EXPECT_EQ(client.connects(), 2u);
  co_await server.shutdown(Deadline::after(1s, RealClock::instance()));
}

TEST(RpcTest, OversizeFrameIsRefused) { run_task(oversize_scenario()); }

Task<void> shutdown_scenario() {
  auto executor = co_await boost::asio::this_coro::executor;
  Loopback net(executor, server_options());
  auto& [service, server, client] = net;
  Outcomes in_flight(1);
  spawn_detached(executor, store_into(slow_call(client, 100, {}), &in_flight, 0), "call");
  CO_ASSERT_TRUE(co_await eventually([&net] { return net.server.in_flight_requests() == 1; }));
  co_await server.shutdown(Deadline::after(5s, RealClock::instance()));
  // The call finished, and its reply was delivered, before the server closed.
  CO_ASSERT_TRUE(co_await eventually([&in_flight] { return in_flight.all_done(); }));
  EXPECT_OK(in_flight.results[0]);
  EXPECT_EQ(server.connection_count(), 0u);
  auto after = co_await client.call(MessageType::kPing, ping_of(6), Buffer(), {.timeout = 200ms});
  EXPECT_EQ(after.status().code(), StatusCode::kUnavailable);
}

TEST(RpcTest, GracefulShutdownFinishesInFlightRequests) { run_task(shutdown_scenario()); }

Task<void> partitioned_call_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  Loopback net(executor, sim->server_options(), sim->client_options(), "server");
  auto& [service, server, client] = net;
  EXPECT_OK(co_await client.call(MessageType::kPing, ping_of(1), Buffer(), {}));
  sim->network.partition("client", "server");
  // Connected: the request is held by the cut, and the call ends exactly at its deadline.
  auto start = sim->clock.now();
  auto cut = co_await client.call(MessageType::kPing, ping_of(2), Buffer(), {.timeout = 1500ms});
  EXPECT_EQ(cut.status().code(), StatusCode::kDeadlineExceeded) << cut.status();
  EXPECT_EQ(sim->clock.now() - start, 1500ms);
  // Not yet connected: the connect is lost in the cut, and again the call ends at its deadline.
  RpcClient fresh(executor, "server", server.port(), sim->client_options({}, "other-client"));
  sim->network.partition_one_way("server", "other-client");
  start = sim->clock.now();
  auto lost = co_await fresh.call(MessageType::kPing, ping_of(3), Buffer(), {.timeout = 700ms});
  EXPECT_EQ(lost.status().code(), StatusCode::kDeadlineExceeded) << lost.status();
  EXPECT_EQ(sim->clock.now() - start, 700ms);
  // Once healed, calls go through again (the held request is answered and dropped, or the
  // connection was reset and is reopened).
  sim->network.heal();
  EXPECT_OK(co_await client.call(MessageType::kPing, ping_of(4), Buffer(),
                                 {.timeout = 30s, .idempotent = true}));
  EXPECT_OK(co_await fresh.call(MessageType::kPing, ping_of(5), Buffer(), {}));
  co_await server.shutdown(Deadline::after(1s, sim->clock));
}

TEST(RpcSimTest, CallToAPartitionedNodeEndsExactlyAtItsDeadline) {
  SimWorld sim;
  sim.run(partitioned_call_scenario(&sim));
}

// Fires every fault point half the time, from a seed.
class CoinFlips final : public FaultPoints {
 public:
  explicit CoinFlips(uint64_t seed) : random_(seed) {}
  bool fire(std::string_view name) override {
    fired.insert(std::string(name));
    return random_() % 2 == 0;
  }
  void cover(std::string_view) override {}
  bool mutation(std::string_view) override { return false; }
  std::set<std::string> fired;

 private:
  std::mt19937_64 random_;
};

Task<void> short_reads_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  Loopback net(executor, sim->server_options(), sim->client_options(), "server");
  auto& [service, server, client] = net;
  Buffer payload = Buffer::allocate(300000);
  for (size_t i = 0; i < payload.size(); ++i) payload.data()[i] = std::byte(i * 13);
  for (int i = 0; i < 3; ++i) {
    auto reply = co_await client.call(MessageType::kPing, ping_of(i, true), payload, {});
    CO_ASSERT_OK(reply);
    CO_ASSERT_TRUE(reply->payload.size() == payload.size());
    EXPECT_EQ(std::memcmp(reply->payload.data(), payload.data(), payload.size()), 0);
  }
  co_await server.shutdown(Deadline::after(1s, sim->clock));
}

// Reads that return a single byte at random must not change any outcome.
TEST(RpcSimTest, ShortReadsAreReassembled) {
  CoinFlips flips(77);
  install_fault_points(&flips);
  SimWorld sim;
  sim.run(short_reads_scenario(&sim));
  install_fault_points(nullptr);
#ifndef NDEBUG
  EXPECT_TRUE(flips.fired.contains("rpc.sim.short_read"));
#endif
}

// A server node crashes (its connections reset, its listener closed) and restarts on the same
// port: the client's calls fail Unavailable meanwhile, and an idempotent call rides it out.
Task<void> restart_later(SimWorld* sim, uint16_t port, std::unique_ptr<RpcServer>* out) {
  (void)co_await sim->clock.sleep_for(300ms);
  auto options = sim->server_options();
  options.port = port;
  *out = std::make_unique<RpcServer>(co_await boost::asio::this_coro::executor, options);
  CO_ASSERT_OK((*out)->start());
}

Task<void> crash_restart_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  auto first = std::make_unique<RpcServer>(executor, sim->server_options());
  CO_ASSERT_OK(first->start());
  uint16_t port = first->port();
  RpcClient client(executor, "server", port, sim->client_options());
  EXPECT_OK(co_await client.call(MessageType::kPing, ping_of(1), Buffer(), {}));
  sim->network.crash("server");
  co_await first->shutdown(Deadline::after(1s, sim->clock));
  first.reset();
  auto down = co_await client.call(MessageType::kPing, ping_of(2), Buffer(), {});
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status();
  std::unique_ptr<RpcServer> second;
  spawn_detached(executor, restart_later(sim, port, &second), "restart");
  auto start = sim->clock.now();
  auto retried = co_await client.call(MessageType::kPing, ping_of(3), Buffer(),
                                      {.timeout = 5s, .idempotent = true});
  EXPECT_OK(retried);
  EXPECT_GE(sim->clock.now() - start, 300ms);
  EXPECT_EQ(client.connects(), 2u);
  CO_ASSERT_TRUE(second != nullptr);
  co_await second->shutdown(Deadline::after(1s, sim->clock));
}

TEST(RpcSimTest, ServerNodeCrashesAndRestarts) {
  SimWorld sim;
  sim.run(crash_restart_scenario(&sim));
}

// A whole client/server run is a function of its seed: the same seed gives the same deliveries
// at the same simulated times.
std::vector<std::string> busy_run_trace(uint64_t seed) {
  SimWorld sim(seed, SimNetworkOptions{.record_trace = true});
  sim.run(busy_scenario(&sim));
  auto trace = sim.network.trace();
  trace.push_back(fmt::format("end {}", sim.clock.now().time_since_epoch().count()));
  return trace;
}

TEST(RpcSimTest, SameSeedSameRun) {
  auto first = busy_run_trace(3);
  ASSERT_GT(first.size(), 10u);
  EXPECT_EQ(busy_run_trace(3), first);
  EXPECT_NE(busy_run_trace(4), first);
}

proto::PingRequest echo_ping() { return ping_of(0, /*echo=*/true); }

// A peer that sends requests and never reads the replies must not grow the server's memory
// without limit: past max_queued_reply_bytes the server stops reading its requests.
Task<void> unread_replies_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  auto options = sim->server_options(/*max_in_flight=*/4);
  options.max_queued_reply_bytes = 256 * kKiB;
  RpcServer server(executor, options);
  CO_ASSERT_OK(server.start());
  auto stream =
      co_await sim->network.node("greedy").connect("server", server.port(), Deadline::never());
  CO_ASSERT_OK(stream);
  auto greedy = std::make_shared<Connection>(executor, std::move(*stream), FrameLimits{});
  constexpr size_t kRequests = 200;
  constexpr size_t kPayloadBytes = 64 * kKiB;
  for (size_t i = 0; i < kRequests; ++i) {
    greedy->send(
        make_frame(FrameHeader{.message_type = 1, .request_id = i + 1, .timeout_ms = 60000},
                   echo_ping(), Buffer::allocate(kPayloadBytes)));
  }
  (void)co_await sim->clock.sleep_for(10s);
  // The bound, plus the replies of the requests already running when it was reached.
  size_t queued = server.queued_reply_bytes();
  EXPECT_GT(queued, 0u);
  EXPECT_LE(queued, options.max_queued_reply_bytes + 4 * (kPayloadBytes + 200)) << queued;
  // Everyone else is still served.
  RpcClient other(executor, "server", server.port(), sim->client_options());
  EXPECT_OK(co_await other.call(MessageType::kPing, ping_of(1), Buffer(), {}));
  // Once the peer reads, every request is answered (echoed, or shed as busy).
  size_t answered = 0;
  while (answered < kRequests) {
    auto frame = co_await greedy->read_frame();
    CO_ASSERT_OK(frame);
    CO_ASSERT_TRUE(frame->header.is_response());
    ++answered;
  }
  greedy->close(Status(StatusCode::kCancelled, "test done"));
  co_await server.shutdown(Deadline::after(1s, sim->clock));
}

TEST(RpcServerHardeningTest, RepliesAPeerDoesNotReadAreBounded) {
  SimWorld sim;
  sim.run(unread_replies_scenario(&sim));
}

// A network whose listener fails its first `failures` accepts (as with EMFILE), noting when each
// accept was called, then waits until closed.
class FailingListener final : public Listener {
 public:
  FailingListener(const Clock* clock, int failures, std::vector<Clock::TimePoint>* calls)
      : clock_(clock), failures_(failures), calls_(calls) {}
  Task<Result<std::unique_ptr<ByteStream>>> accept() override {
    calls_->push_back(clock_->now());
    if (failures_-- > 0) co_return Status(StatusCode::kUnavailable, "accept: Too many open files");
    boost::asio::steady_timer wake(co_await boost::asio::this_coro::executor);
    wake_ = &wake;
    co_await Deadline::never().wait(wake);
    wake_ = nullptr;
    co_return Status(StatusCode::kCancelled, "listener closed");
  }
  void close() override {
    if (wake_ != nullptr) wake_->cancel();
  }
  uint16_t port() const override { return 1; }

 private:
  const Clock* clock_;
  int failures_;
  std::vector<Clock::TimePoint>* calls_;
  boost::asio::steady_timer* wake_ = nullptr;
};

class FailingNetwork final : public Network {
 public:
  FailingNetwork(const Clock* clock, int failures) : clock_(clock), failures_(failures) {}
  Result<std::unique_ptr<Listener>> listen(Executor, std::string, uint16_t) override {
    return std::unique_ptr<Listener>(std::make_unique<FailingListener>(clock_, failures_, &calls));
  }
  Task<Result<std::unique_ptr<ByteStream>>> connect(std::string, uint16_t, Deadline) override {
    co_return Status(StatusCode::kUnavailable, "no");
  }
  std::vector<Clock::TimePoint> calls;

 private:
  const Clock* clock_;
  int failures_;
};

Task<void> accept_backoff_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  FailingNetwork network(&sim->clock, /*failures=*/12);
  auto options = sim->server_options();
  options.network = &network;
  RpcServer server(executor, options);
  CO_ASSERT_OK(server.start());
  (void)co_await sim->clock.sleep_for(10s);
  EXPECT_EQ(server.accept_failures(), 12u);
  CO_ASSERT_TRUE(network.calls.size() == 13);
  // After each failure the server waited, 1 ms doubling to at most 1 s.
  for (size_t i = 1; i < network.calls.size(); ++i) {
    auto gap = network.calls[i] - network.calls[i - 1];
    EXPECT_EQ(gap, std::min<Clock::Duration>(1ms * (1 << (i - 1)), 1s)) << i;
  }
  co_await server.shutdown(Deadline::after(1s, sim->clock));
}

TEST(RpcServerHardeningTest, AcceptFailuresBackOff) {
  SimWorld sim;
  sim.run(accept_backoff_scenario(&sim));
}

// Reads until the stream ends: OK at a clean end (the peer closed), else the error.
Task<Status> until_closed(ByteStream* stream) {
  char byte;
  while (true) {
    auto [error, n] = co_await stream->read_some(boost::asio::buffer(&byte, 1));
    if (error == boost::asio::error::eof) co_return Status();
    if (error) co_return tessera::error(StatusCode::kUnavailable, "{}", error.message());
  }
}

Task<void> idle_scenario(SimWorld* sim) {
  auto executor = co_await boost::asio::this_coro::executor;
  auto options = sim->server_options();
  options.idle_timeout = 60s;
  Loopback net(executor, options, sim->client_options(), "server");
  auto& [service, server, client] = net;
  // A connection that never sends anything is closed after idle_timeout.
  auto silent =
      co_await sim->network.node("silent").connect("server", server.port(), Deadline::never());
  CO_ASSERT_OK(silent);
  auto start = sim->clock.now();
  EXPECT_OK(co_await with_deadline(until_closed(silent->get()), Deadline::after(120s, sim->clock)));
  EXPECT_GE(sim->clock.now() - start, 60s);
  EXPECT_LT(sim->clock.now() - start, 61s);
  EXPECT_EQ(server.idle_closes(), 1u);
  // A connection waiting for a slow reply is not idle.
  auto slow = co_await slow_call(client, /*sleep_ms=*/90000, {.timeout = 120s});
  EXPECT_OK(slow);
  EXPECT_EQ(server.idle_closes(), 1u);
  EXPECT_EQ(client.connects(), 1u);
  // Left alone afterwards, it is closed too; the client reconnects on its next call.
  (void)co_await sim->clock.sleep_for(61s);
  EXPECT_EQ(server.idle_closes(), 2u);
  EXPECT_OK(co_await client.call(MessageType::kPing, ping_of(1), Buffer(), {}));
  EXPECT_EQ(client.connects(), 2u);
  co_await server.shutdown(Deadline::after(1s, sim->clock));
}

TEST(RpcServerHardeningTest, IdleConnectionsAreClosed) {
  SimWorld sim;
  sim.run(idle_scenario(&sim));
}

class RpcTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string command = fmt::format(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=tessera-test "
        "-addext subjectAltName=DNS:tessera-test -keyout {} -out {} 2>/dev/null",
        dir_.file("key.pem"), dir_.file("cert.pem"));
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  testing::TempDir dir_;
};

Task<void> tls_scenario(std::string cert, std::string key) {
  auto executor = co_await boost::asio::this_coro::executor;
  auto options = server_options();
  auto server_tls = make_server_tls(cert, key);
  CO_ASSERT_OK(server_tls);
  options.tls = *server_tls;
  RpcServer server(executor, options);
  CO_ASSERT_OK(server.start());
  auto client_tls = make_client_tls(cert);
  CO_ASSERT_OK(client_tls);
  RpcClient client(executor, "127.0.0.1", server.port(),
                   ClientOptions{.tls = *client_tls, .tls_server_name = "tessera-test"});
  auto reply = co_await client.call(MessageType::kPing, ping_of(7, true),
                                    Buffer::copy_of(std::string_view("secret")), {});
  CO_ASSERT_OK(reply);
  EXPECT_EQ(reply->payload.as_string_view(), "secret");
  // A client expecting another name refuses the certificate.
  RpcClient wrong_name(executor, "127.0.0.1", server.port(),
                       ClientOptions{.tls = *client_tls, .tls_server_name = "someone-else"});
  auto refused = co_await wrong_name.call(MessageType::kPing, ping_of(8), Buffer(), {});
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  // A plain-TCP client cannot talk to a TLS server.
  RpcClient plain(executor, "127.0.0.1", server.port());
  auto garbled = co_await plain.call(MessageType::kPing, ping_of(9), Buffer(), {.timeout = 1s});
  EXPECT_FALSE(garbled.ok());
  co_await server.shutdown(Deadline::after(1s, RealClock::instance()));
}

TEST_F(RpcTlsTest, CallsOverTls) {
  run_task(tls_scenario(dir_.file("cert.pem"), dir_.file("key.pem")));
}

// The TLS handshake runs in each connection's own task: a client that connects and says nothing
// holds up nobody, and is dropped once handshake_timeout passes.
Task<void> silent_tls_client_scenario(std::string cert, std::string key) {
  auto executor = co_await boost::asio::this_coro::executor;
  auto server_tls = make_server_tls(cert, key);
  CO_ASSERT_OK(server_tls);
  auto options = server_options();
  options.tls = *server_tls;
  options.handshake_timeout = 60s;  // Far longer than the calls below may take.
  RpcServer patient(executor, options);
  CO_ASSERT_OK(patient.start());
  options.handshake_timeout = 200ms;
  RpcServer strict(executor, options);
  CO_ASSERT_OK(strict.start());
  auto client_tls = make_client_tls(cert);
  CO_ASSERT_OK(client_tls);
  for (RpcServer* server : {&patient, &strict}) {
    tcp::socket silent(executor);
    auto [connect_error] = co_await silent.async_connect(
        tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server->port()), use_task);
    CO_ASSERT_TRUE(!connect_error);
    CO_ASSERT_TRUE(co_await eventually([server] { return server->connection_count() == 1; }));
    RpcClient client(executor, "127.0.0.1", server->port(),
                     ClientOptions{.tls = *client_tls, .tls_server_name = "tessera-test"});
    EXPECT_OK(co_await client.call(MessageType::kPing, ping_of(1), Buffer(), {.timeout = 20s}));
    if (server == &strict) {
      // The silent one is dropped after its 200 ms: its read ends.
      char byte;
      auto [read_error, read] =
          co_await silent.async_read_some(boost::asio::buffer(&byte, 1), use_task);
      EXPECT_TRUE(read_error);
      CO_ASSERT_TRUE(co_await eventually([server] { return server->connection_count() == 1; }));
    }
  }
  co_await patient.shutdown(Deadline::after(1s, RealClock::instance()));
  co_await strict.shutdown(Deadline::after(1s, RealClock::instance()));
}

TEST_F(RpcTlsTest, SilentClientDoesNotHoldUpOthers) {
  run_task(silent_tls_client_scenario(dir_.file("cert.pem"), dir_.file("key.pem")));
}

Task<void> bad_files_scenario() {
  auto missing = make_server_tls("/nonexistent/cert.pem", "/nonexistent/key.pem");
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(make_client_tls("/nonexistent/ca.pem").status().code(), StatusCode::kInvalidArgument);
  auto executor = co_await boost::asio::this_coro::executor;
  RpcServer server(executor, ServerOptions{.address = "not-an-address"});
  EXPECT_EQ(server.start().code(), StatusCode::kInvalidArgument);
  co_await server.shutdown(Deadline::after(1s, RealClock::instance()));
}

TEST(RpcTest, BadConfigurationIsAnError) { run_task(bad_files_scenario()); }

}  // namespace
}  // namespace tessera::rpc
