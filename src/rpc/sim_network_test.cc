// SimNetwork on its own: delivery order, determinism and every fault, on simulated time.
#include "rpc/sim_network.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstring>
#include <random>

#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera::rpc {
namespace {

using namespace std::chrono_literals;
using boost::asio::error::connection_reset;

// One simulated world: an io_context, its FakeClock and a SimNetwork on them.
struct World {
  explicit World(uint64_t seed, SimNetworkOptions options = {})
      : network(context.get_executor(), clock, seed, options) {}
  template <typename T>
  T run(Task<T> task) {
    return run_simulated(context, clock, std::move(task));
  }
  boost::asio::io_context context{1};
  FakeClock clock;
  SimNetwork network;
};

Task<Status> write_text(ByteStream& stream, std::string text) {
  boost::asio::const_buffer buffer(text.data(), text.size());
  auto [error, written] = co_await stream.write_all(std::span(&buffer, 1));
  if (error) co_return tessera::error(StatusCode::kUnavailable, "write: {}", error.message());
  co_return Status();
}

// Reads exactly `bytes` bytes, or the error that ended the stream first.
Task<Result<std::string>> read_exactly(ByteStream& stream, size_t bytes) {
  std::string out(bytes, '\0');
  size_t filled = 0;
  while (filled < bytes) {
    auto [error, n] =
        co_await stream.read_some(boost::asio::buffer(out.data() + filled, bytes - filled));
    if (error) co_return tessera::error(StatusCode::kUnavailable, "{}", error.message());
    filled += n;
  }
  co_return out;
}

// What a read ended with: its error code (none when bytes came).
Task<boost::system::error_code> read_error(ByteStream& stream) {
  char byte;
  auto [error, n] = co_await stream.read_some(boost::asio::buffer(&byte, 1));
  co_return error;
}

struct Pair {
  std::unique_ptr<Listener> listener;
  std::unique_ptr<ByteStream> client;
  std::unique_ptr<ByteStream> server;
};

// Node `from` connects to a listener on node `to`.
Task<Result<Pair>> connect_pair(SimNetwork* network, std::string from, std::string to) {
  auto executor = co_await boost::asio::this_coro::executor;
  Pair pair;
  TESS_CO_ASSIGN_OR_RETURN(pair.listener, network->node(to).listen(executor, "", 0));
  TESS_CO_ASSIGN_OR_RETURN(pair.client, co_await network->node(from).connect(
                                            to, pair.listener->port(), Deadline::never()));
  TESS_CO_ASSIGN_OR_RETURN(pair.server, co_await pair.listener->accept());
  co_return std::move(pair);
}

// Several clients write numbered messages of random sizes to one server, which reads them all;
// the trace of deliveries is the run's fingerprint.
Task<void> chatter(SimNetwork* network, uint64_t seed) {
  std::vector<Pair> pairs;
  for (const char* client : {"b", "c", "d"}) {
    auto pair = co_await connect_pair(network, client, "a");
    CO_ASSERT_OK(pair);
    pairs.push_back(std::move(*pair));
  }
  std::mt19937_64 random(seed);
  size_t expected[3] = {0, 0, 0};
  for (int message = 0; message < 30; ++message) {
    size_t i = random() % 3;
    std::string text(1 + random() % 3000, static_cast<char>('a' + message % 26));
    expected[i] += text.size();
    CO_ASSERT_OK(co_await write_text(*pairs[i].client, text));
  }
  for (size_t i = 0; i < 3; ++i) {
    auto got = co_await read_exactly(*pairs[i].server, expected[i]);
    CO_ASSERT_OK(got);
  }
}

std::vector<std::string> chatter_trace(uint64_t seed) {
  World world(seed, SimNetworkOptions{.record_trace = true});
  world.run(chatter(&world.network, 7));
  return world.network.trace();
}

TEST(SimNetworkTest, SameSeedGivesTheSameDeliveryTrace) {
  auto first = chatter_trace(42);
  ASSERT_GT(first.size(), 3u);
  EXPECT_EQ(chatter_trace(42), first);
  EXPECT_NE(chatter_trace(43), first);  // The seed drives the latencies.
}

Task<void> in_order_scenario(SimNetwork* network) {
  auto pair = co_await connect_pair(network, "b", "a");
  CO_ASSERT_OK(pair);
  // Many small writes, each with its own random latency: they must still arrive in order.
  std::string sent;
  for (int i = 0; i < 2000; ++i) {
    std::string piece = fmt::format("<{}>", i);
    sent += piece;
    CO_ASSERT_OK(co_await write_text(*pair->client, piece));
  }
  auto got = co_await read_exactly(*pair->server, sent.size());
  CO_ASSERT_OK(got);
  EXPECT_EQ(*got, sent);
  pair->client->close();
  EXPECT_EQ(co_await read_error(*pair->server), boost::asio::error::eof);  // Nothing duplicated.
}

TEST(SimNetworkTest, DeliversInOrderUnderRandomLatency) {
  World world(5, SimNetworkOptions{.min_latency = 0us, .max_latency = 10ms});
  world.run(in_order_scenario(&world.network));
}

Task<void> flow_control_scenario(World* world) {
  auto pair = co_await connect_pair(&world->network, "b", "a");
  CO_ASSERT_OK(pair);
  // The window is 4 KiB: a 64 KiB write cannot finish while nobody reads.
  std::string big(64 * kKiB, 'x');
  auto write =
      co_await with_deadline(write_text(*pair->client, big), Deadline::after(10s, world->clock));
  EXPECT_EQ(write.code(), StatusCode::kDeadlineExceeded);
}

TEST(SimNetworkTest, AWriterWaitsForItsReader) {
  World world(5, SimNetworkOptions{.window_bytes = 4 * kKiB});
  world.run(flow_control_scenario(&world));
}

Task<void> partition_scenario(World* world) {
  SimNetwork& network = world->network;
  auto pair = co_await connect_pair(&network, "b", "a");
  CO_ASSERT_OK(pair);
  network.partition("a", "b");
  CO_ASSERT_OK(co_await write_text(*pair->client, "held"));
  // Nothing crosses the cut, however long we wait (short of the reset time).
  auto early =
      co_await with_deadline(read_exactly(*pair->server, 4), Deadline::after(5s, world->clock));
  EXPECT_EQ(early.status().code(), StatusCode::kDeadlineExceeded);
  network.heal();
  auto late = co_await read_exactly(*pair->server, 4);
  CO_ASSERT_OK(late);
  EXPECT_EQ(*late, "held");
  // A connect across a cut fails at its deadline, to the microsecond.
  network.partition("a", "b");
  auto start = world->clock.now();
  auto refused = co_await network.node("b").connect("a", pair->listener->port(),
                                                    Deadline::after(3s, world->clock));
  EXPECT_EQ(refused.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(world->clock.now() - start, 3s);
  // Bytes held across the cut for reset_after (10 s) reset the connection, at both ends.
  CO_ASSERT_OK(co_await write_text(*pair->server, "lost"));
  auto sent_at = world->clock.now();
  auto reset = co_await read_exactly(*pair->client, 4);
  EXPECT_EQ(reset.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(world->clock.now() - sent_at, 10s);
  EXPECT_EQ(co_await read_error(*pair->server), connection_reset);
}

TEST(SimNetworkTest, PartitionHoldsBytesUntilHealOrReset) {
  World world(9);
  world.run(partition_scenario(&world));
}

Task<void> one_way_scenario(World* world) {
  SimNetwork& network = world->network;
  auto pair = co_await connect_pair(&network, "b", "a");
  CO_ASSERT_OK(pair);
  network.partition_one_way("b", "a");
  // a -> b still flows.
  CO_ASSERT_OK(co_await write_text(*pair->server, "to b"));
  auto got = co_await read_exactly(*pair->client, 4);
  CO_ASSERT_OK(got);
  EXPECT_EQ(*got, "to b");
  // b -> a is held, then the connection resets.
  CO_ASSERT_OK(co_await write_text(*pair->client, "to a"));
  auto held = co_await read_exactly(*pair->server, 4);
  EXPECT_FALSE(held.ok());
  EXPECT_EQ(co_await read_error(*pair->client), connection_reset);
  // Connects fail both ways (the SYN, or its answer, is lost).
  auto b_to_a = co_await network.node("b").connect("a", pair->listener->port(),
                                                   Deadline::after(1s, world->clock));
  EXPECT_EQ(b_to_a.status().code(), StatusCode::kDeadlineExceeded);
  auto listener_b = network.node("b").listen(co_await boost::asio::this_coro::executor, "", 0);
  CO_ASSERT_OK(listener_b);
  auto a_to_b = co_await network.node("a").connect("b", (*listener_b)->port(),
                                                   Deadline::after(1s, world->clock));
  EXPECT_EQ(a_to_b.status().code(), StatusCode::kDeadlineExceeded);
  // A third node is not affected.
  auto c_to_a = co_await network.node("c").connect("a", pair->listener->port(),
                                                   Deadline::after(1s, world->clock));
  EXPECT_OK(c_to_a);
}

TEST(SimNetworkTest, OneWayPartitionCutsOneDirection) {
  World world(11);
  world.run(one_way_scenario(&world));
}

Task<void> stall_scenario(World* world) {
  auto pair = co_await connect_pair(&world->network, "b", "a");
  CO_ASSERT_OK(pair);
  world->network.stall("a", "b", 2s);
  auto stall_end = world->clock.now() + 2s;
  CO_ASSERT_OK(co_await write_text(*pair->client, "first"));
  CO_ASSERT_OK(co_await write_text(*pair->client, "second"));
  auto got = co_await read_exactly(*pair->server, 11);
  CO_ASSERT_OK(got);
  EXPECT_EQ(*got, "firstsecond");
  EXPECT_GE(world->clock.now(), stall_end);
}

TEST(SimNetworkTest, StallDelaysThenDeliversInOrder) {
  World world(13);
  world.run(stall_scenario(&world));
}

Task<void> reset_scenario(World* world) {
  auto pair = co_await connect_pair(&world->network, "b", "a");
  CO_ASSERT_OK(pair);
  auto other = co_await connect_pair(&world->network, "c", "d");
  CO_ASSERT_OK(other);
  world->network.reset_connections("a");
  EXPECT_EQ(co_await read_error(*pair->client), connection_reset);
  EXPECT_EQ(co_await read_error(*pair->server), connection_reset);
  // Other nodes' connections and a's listener are untouched.
  CO_ASSERT_OK(co_await write_text(*other->client, "x"));
  auto got = co_await read_exactly(*other->server, 1);
  EXPECT_OK(got);
  auto again =
      co_await world->network.node("b").connect("a", pair->listener->port(), Deadline::never());
  EXPECT_OK(again);
}

TEST(SimNetworkTest, ResetConnectionsOfANode) {
  World world(17);
  world.run(reset_scenario(&world));
}

Task<void> crash_scenario(World* world) {
  SimNetwork& network = world->network;
  auto executor = co_await boost::asio::this_coro::executor;
  auto pair = co_await connect_pair(&network, "b", "a");
  CO_ASSERT_OK(pair);
  uint16_t port = pair->listener->port();
  network.crash("a");
  EXPECT_EQ(co_await read_error(*pair->client), connection_reset);
  auto accepted = co_await pair->listener->accept();
  EXPECT_EQ(accepted.status().code(), StatusCode::kCancelled);
  auto refused = co_await network.node("b").connect("a", port, Deadline::never());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("refused"), std::string_view::npos);
  // The node restarts and listens on the same port; the dead listener does not take it back.
  auto restarted = network.node("a").listen(executor, "", port);
  CO_ASSERT_OK(restarted);
  pair->listener.reset();
  auto client = co_await network.node("b").connect("a", port, Deadline::never());
  CO_ASSERT_OK(client);
  auto server = co_await (*restarted)->accept();
  CO_ASSERT_OK(server);
  CO_ASSERT_OK(co_await write_text(**client, "hi"));
  auto got = co_await read_exactly(**server, 2);
  CO_ASSERT_OK(got);
  EXPECT_EQ(*got, "hi");
}

TEST(SimNetworkTest, CrashedNodeRestartsAndListensAgain) {
  World world(19);
  world.run(crash_scenario(&world));
}

Task<void> refused_scenario(World* world) {
  world->network.node("a");
  auto refused = co_await world->network.node("b").connect("a", 1234, Deadline::never());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  auto unknown = co_await world->network.node("b").connect("nowhere", 1, Deadline::never());
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnavailable);
  auto executor = co_await boost::asio::this_coro::executor;
  auto first = world->network.node("a").listen(executor, "", 80);
  CO_ASSERT_OK(first);
  EXPECT_EQ(world->network.node("a").listen(executor, "", 80).status().code(),
            StatusCode::kUnavailable);
}

TEST(SimNetworkTest, RefusedAndUnknownAndPortInUse) {
  World world(23);
  world.run(refused_scenario(&world));
}

// A simulated host's deadline is on its own clock, which reads differently from the network's:
// the network must compare remaining time, not time points (found by the cluster workload: every
// connect of a host whose clock ran behind timed out at once).
Task<void> other_clock_scenario(World* world, FakeClock* behind) {
  auto executor = co_await boost::asio::this_coro::executor;
  auto listener = world->network.node("a").listen(executor, "", 80);
  CO_ASSERT_OK(listener);
  auto connected = co_await world->network.node("b").connect("a", 80, Deadline::after(1s, *behind));
  EXPECT_OK(connected);
  world->network.partition("a", "b");
  auto start = behind->now();
  auto across = co_await world->network.node("b").connect("a", 80, Deadline::after(1s, *behind));
  EXPECT_EQ(across.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(behind->now() - start, 1s);  // It waited for its deadline, on its own clock.
}

Task<void> advance_behind(World* world, FakeClock* behind) {
  // The second clock follows the network's, 10 minutes behind it.
  while (true) {
    (void)co_await world->clock.sleep_for(1ms);
    behind->advance(1ms);
  }
}

TEST(SimNetworkTest, HonoursADeadlineOnAnotherClock) {
  World world(29);
  world.clock.advance(10min);
  FakeClock behind;
  boost::asio::co_spawn(world.context, advance_behind(&world, &behind), boost::asio::detached);
  world.run(other_clock_scenario(&world, &behind));
}

}  // namespace
}  // namespace tessera::rpc
