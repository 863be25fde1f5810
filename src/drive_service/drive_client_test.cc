#include "drive_service/drive_client.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <functional>

#include "rpc/server.h"
#include "testing/testing.h"

namespace tessera {
namespace {

// A drive service that takes every write and never answers it (until released).
struct SilentDrive {
  bool entered = false;
  boost::asio::steady_timer* release = nullptr;

  Task<Result<rpc::Reply>> hang(rpc::Request /*request*/) {
    entered = true;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    release = &timer;
    co_await RealClock::instance().wait(timer, Clock::TimePoint::max());
    release = nullptr;
    co_return Status(StatusCode::kUnavailable, "released");
  }
};

// Runs `context` in real time until `done()` or 10 s have passed.
template <typename Condition>
bool run_until(boost::asio::io_context& context, Condition done) {
  Clock::TimePoint limit = RealClock::instance().after(std::chrono::seconds(10));
  while (!done() && RealClock::instance().now() < limit) {
    context.restart();
    context.run_one_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A write to a drive that never answers ends when the caller's budget (or the client's timeout,
// if sooner) runs out, measured on the client's FakeClock: the request crosses a real loopback
// connection in real time, then only simulated time passes.
void expect_call_ends_after(Deadline (*budget)(const Clock&), std::chrono::milliseconds timeout,
                            Clock::Duration expected) {
  boost::asio::io_context context;
  FakeClock clock;
  SilentDrive silent;
  rpc::RpcServer server(context.get_executor(), rpc::ServerOptions{});
  server.register_handler(rpc::MessageType::kWriteChunk,
                          std::bind_front(&SilentDrive::hang, &silent));
  ASSERT_OK(server.start());
  auto client =
      std::make_unique<DriveClient>(context.get_executor(), "127.0.0.1", server.port(),
                                    DriveClientOptions{.clock = &clock, .timeout = timeout});
  Clock::TimePoint started = clock.now();
  Buffer data = Buffer::allocate(kBlockSize);
  std::future<Status> call = boost::asio::co_spawn(
      context,
      client->write(budget(clock), DriveId(1), ChunkId{BucketId(1), StripeId(1), 0, 1}, data),
      boost::asio::use_future);
  ASSERT_TRUE(run_until(context, [&silent] { return silent.entered; }));
  while (call.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    context.restart();
    if (context.poll() > 0) continue;
    ASSERT_TRUE(clock.advance_to_next()) << "the call waits for nothing in simulated time";
  }
  Status status = call.get();
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status;
  EXPECT_EQ(clock.now() - started, expected);

  silent.release->cancel();
  client.reset();
  std::future<void> shutdown = boost::asio::co_spawn(
      context, server.shutdown(Deadline::after(std::chrono::seconds(5), RealClock::instance())),
      boost::asio::use_future);
  EXPECT_TRUE(run_until(context, [&shutdown] {
    return shutdown.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }));
}

TEST(DriveClientTest, ACallEndsWithinTheCallersBudget) {
  expect_call_ends_after(
      [](const Clock& clock) { return Deadline::after(std::chrono::seconds(2), clock); },
      std::chrono::seconds(10), std::chrono::seconds(2));
}

TEST(DriveClientTest, ACallWithoutADeadlineEndsAtTheClientsTimeout) {
  expect_call_ends_after([](const Clock&) { return Deadline::never(); }, std::chrono::seconds(3),
                         std::chrono::seconds(3));
}

}  // namespace
}  // namespace tessera
