#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <thread>
#include <vector>

#include "runtime/async_semaphore.h"
#include "runtime/blocking_bridge.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/event_loop.h"
#include "testing/testing.h"

namespace tessera {
namespace {

using namespace std::chrono_literals;
using testing::run_task;

Task<int> add(int a, int b) { co_return a + b; }

TEST(TaskTest, RunsToCompletion) { EXPECT_EQ(run_task(add(2, 3)), 5); }

Task<std::thread::id> thread_of_loop() { co_return std::this_thread::get_id(); }

TEST(EventLoopGroupTest, EachLoopHasItsOwnThread) {
  EventLoopGroup loops(2);
  ASSERT_EQ(loops.size(), 2u);
  auto a = boost::asio::co_spawn(loops.executor(0), thread_of_loop(), boost::asio::use_future);
  auto b = boost::asio::co_spawn(loops.executor(1), thread_of_loop(), boost::asio::use_future);
  auto ta = a.get();
  auto tb = b.get();
  EXPECT_NE(ta, tb);
  EXPECT_NE(ta, std::this_thread::get_id());
  loops.stop();
  loops.stop();  // Idempotent.
}

// Sleeps on the fake clock and records when it woke.
Task<void> sleeper(FakeClock& clock, Clock::Duration d, std::vector<int>& woken, int id) {
  Status s = co_await clock.sleep_for(d);
  EXPECT_OK(s);
  woken.push_back(id);
}

Task<void> drive_fake_clock(FakeClock& clock, std::vector<int>& woken) {
  auto executor = co_await boost::asio::this_coro::executor;
  spawn_detached(executor, sleeper(clock, 30ms, woken, 3), "s3");
  spawn_detached(executor, sleeper(clock, 10ms, woken, 1), "s1");
  spawn_detached(executor, sleeper(clock, 20ms, woken, 2), "s2");
  RealClock real;
  (void)co_await real.sleep_for(1ms);  // Let the sleepers register.
  EXPECT_EQ(clock.sleeper_count(), 3u);
  clock.advance(15ms);
  (void)co_await real.sleep_for(1ms);
  EXPECT_EQ(woken, std::vector<int>({1}));
  clock.advance(100ms);
  (void)co_await real.sleep_for(1ms);
  EXPECT_EQ(woken, std::vector<int>({1, 2, 3}));
  EXPECT_EQ(clock.sleeper_count(), 0u);
}

TEST(FakeClockTest, SleepersWakeInOrderOnlyWhenAdvanced) {
  FakeClock clock;
  std::vector<int> woken;
  auto start = clock.now();
  run_task(drive_fake_clock(clock, woken));
  EXPECT_EQ(clock.now() - start, 115ms);
}

Task<Result<int>> slow_value(Clock& clock, Clock::Duration d) {
  Status slept = co_await clock.sleep_for(d);
  if (!slept.ok()) co_return slept;
  co_return 42;
}

TEST(DeadlineTest, FastTaskWins) {
  auto result =
      run_task(with_deadline(slow_value(RealClock::instance(), 1ms), Deadline::after(5s)));
  ASSERT_OK(result);
  EXPECT_EQ(*result, 42);
}

TEST(DeadlineTest, SlowTaskIsCancelled) {
  auto start = std::chrono::steady_clock::now();
  auto result =
      run_task(with_deadline(slow_value(RealClock::instance(), 10s), Deadline::after(20ms)));
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

Task<void> race_on_fake_clock(FakeClock& clock, Result<int>& out) {
  out = co_await with_deadline(slow_value(clock, 50ms), Deadline::after(10ms, clock), clock);
}

Task<Status> fake_deadline_race(FakeClock& clock, Result<int>& out) {
  auto executor = co_await boost::asio::this_coro::executor;
  spawn_detached(executor, race_on_fake_clock(clock, out), "racer");
  (void)co_await RealClock::instance().sleep_for(1ms);
  clock.advance(10ms);
  (void)co_await RealClock::instance().sleep_for(1ms);
  co_return Status();
}

TEST(DeadlineTest, WorksOnAFakeClock) {
  FakeClock clock;
  Result<int> out = Status(StatusCode::kInternal, "not run");
  ASSERT_OK(run_task(fake_deadline_race(clock, out)));
  EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded);
}

TEST(DeadlineTest, RemainingAndNever) {
  FakeClock clock;
  Deadline d = Deadline::after(1500ms, clock);
  EXPECT_EQ(d.remaining_ms(clock), 1500u);
  clock.advance(2s);
  EXPECT_TRUE(d.expired(clock));
  EXPECT_EQ(d.remaining_ms(clock), 0u);
  EXPECT_FALSE(Deadline::never().expired());
  EXPECT_EQ(Deadline::never().remaining_ms(), UINT32_MAX);
}

Task<void> hold_permit(AsyncSemaphore& sem, std::vector<int>& order, int id) {
  Status s = co_await sem.acquire(Deadline::after(5s));
  EXPECT_OK(s);
  order.push_back(id);
  (void)co_await RealClock::instance().sleep_for(2ms);
  sem.release();
}

Task<void> semaphore_scenario(std::vector<int>& order) {
  AsyncSemaphore sem(1);
  auto executor = co_await boost::asio::this_coro::executor;
  for (int i = 0; i < 4; ++i) spawn_detached(executor, hold_permit(sem, order, i), "holder");
  while (order.size() < 4 || sem.available() < 1) {
    (void)co_await RealClock::instance().sleep_for(1ms);
  }
  EXPECT_TRUE(sem.try_acquire());
  Status timed_out = co_await sem.acquire(Deadline::after(5ms));
  EXPECT_EQ(timed_out.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sem.waiter_count(), 0u);
  sem.release();
}

TEST(AsyncSemaphoreTest, FirstComeFirstServedAndDeadlines) {
  std::vector<int> order;
  run_task(semaphore_scenario(order));
  EXPECT_EQ(order, std::vector<int>({0, 1, 2, 3}));
}

Task<int> count_concurrency(std::atomic<int>& now, std::atomic<int>& peak) {
  int current = ++now;
  int previous = peak.load();
  while (current > previous && !peak.compare_exchange_weak(previous, current)) {
  }
  (void)co_await RealClock::instance().sleep_for(5ms);
  --now;
  co_return current;
}

TEST(BlockingBridgeTest, BoundsTasksInFlight) {
  EventLoopGroup loops(1);
  BlockingBridge bridge(loops.loop(0), 2);
  std::atomic<int> now{0}, peak{0};
  std::vector<std::thread> callers;
  callers.reserve(8);
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] { EXPECT_GE(bridge.run(count_concurrency(now, peak)), 1); });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(peak.load(), 2);
  EXPECT_EQ(now.load(), 0);
}

TEST(BlockingBridgeDeathTest, CallingFromItsOwnLoopIsABug) {
  EXPECT_DEATH(
      {
        EventLoopGroup loops(1);
        BlockingBridge bridge(loops.loop(0), 1);
        boost::asio::post(loops.loop(0), [&bridge] { bridge.run(add(1, 1)); });
        std::this_thread::sleep_for(5s);
      },
      "called from its own loop");
}

}  // namespace
}  // namespace tessera
