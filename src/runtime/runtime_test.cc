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
#include "runtime/simulated_run.h"
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
  spawn_detached(executor, sleeper(clock, 20ms, woken, 4), "s4");  // Ties wake in start order.
  // Three sleepers woken, in deadline order, only as simulated time reaches them.
  (void)co_await clock.sleep_for(25ms);
  EXPECT_EQ(woken, std::vector<int>({1, 2, 4}));
  EXPECT_EQ(clock.sleeper_count(), 1u);
  (void)co_await clock.sleep_for(10ms);
  EXPECT_EQ(woken, std::vector<int>({1, 2, 4, 3}));
  EXPECT_EQ(clock.sleeper_count(), 0u);
}

TEST(FakeClockTest, SleepersWakeInDeadlineOrderAsSimulatedTimePasses) {
  FakeClock clock;
  boost::asio::io_context context(1);
  auto start = clock.now();
  auto real_start = std::chrono::steady_clock::now();
  std::vector<int> woken;
  run_simulated(context, clock, drive_fake_clock(clock, woken));
  EXPECT_EQ(clock.now() - start, 35ms);
  EXPECT_LT(std::chrono::steady_clock::now() - real_start, 5s);  // No real sleeping.
}

TEST(FakeClockTest, AdvanceWakesOnlyWhoseTimeHasCome) {
  FakeClock clock;
  boost::asio::io_context context(1);
  std::vector<int> woken;
  boost::asio::co_spawn(context, sleeper(clock, 10ms, woken, 1), boost::asio::detached);
  boost::asio::co_spawn(context, sleeper(clock, 20ms, woken, 2), boost::asio::detached);
  context.poll();
  EXPECT_EQ(clock.sleeper_count(), 2u);
  clock.advance(15ms);
  context.restart();
  context.poll();
  EXPECT_EQ(woken, std::vector<int>({1}));
  EXPECT_EQ(clock.next_deadline() - clock.now(), 5ms);
  clock.advance(5ms);
  context.restart();
  context.poll();
  EXPECT_EQ(woken, std::vector<int>({1, 2}));
}

Task<Result<int>> slow_value(Clock& clock, Clock::Duration d) {
  Status slept = co_await clock.sleep_for(d);
  if (!slept.ok()) co_return slept;
  co_return 42;
}

TEST(DeadlineTest, FastTaskWins) {
  FakeClock clock;
  boost::asio::io_context context(1);
  Result<int> result = run_simulated(
      context, clock, with_deadline(slow_value(clock, 1ms), Deadline::after(5s, clock)));
  ASSERT_OK(result);
  EXPECT_EQ(*result, 42);
}

TEST(DeadlineTest, SlowTaskIsCancelledWhenSimulatedTimeRunsOut) {
  FakeClock clock;
  boost::asio::io_context context(1);
  auto start = clock.now();
  Result<int> result = run_simulated(
      context, clock, with_deadline(slow_value(clock, 10s), Deadline::after(20ms, clock)));
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(clock.now() - start, 20ms);
  EXPECT_EQ(clock.sleeper_count(), 0u);  // The loser was cancelled and unregistered.
}

TEST(DeadlineTest, WorksOnTheRealClockToo) {
  Result<int> result = run_task(with_deadline(slow_value(RealClock::instance(), 10s),
                                              Deadline::after(20ms, RealClock::instance())));
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded);
}

TEST(DeadlineTest, KnowsItsClock) {
  FakeClock clock;
  Deadline d = Deadline::after(1500ms, clock);
  EXPECT_EQ(&d.clock(), &clock);
  EXPECT_EQ(d.remaining_ms(), 1500u);
  EXPECT_FALSE(d.expired());
  clock.advance(2s);
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.remaining_ms(), 0u);
  EXPECT_FALSE(Deadline::never().expired());
  EXPECT_EQ(Deadline::never().remaining_ms(), UINT32_MAX);
  EXPECT_TRUE(Deadline::after(Clock::Duration::max(), clock).is_never());
  Deadline later = Deadline::after(10s, clock);
  EXPECT_EQ(later.capped(1s, clock), Deadline::after(1s, clock));
  EXPECT_EQ(Deadline::never().capped(1s, clock), Deadline::after(1s, clock));
  EXPECT_TRUE(d < later);
  EXPECT_TRUE(later < Deadline::never());
}

TEST(DeadlineDeathTest, ComparingDeadlinesOfTwoClocksIsABug) {
  FakeClock a;
  FakeClock b;
  EXPECT_DEATH((void)(Deadline::after(1s, a) < Deadline::after(1s, b)), "different clocks");
}

Task<void> hold_permit(FakeClock& clock, AsyncSemaphore& sem, std::vector<int>& order, int id) {
  Status s = co_await sem.acquire(Deadline::after(5s, clock));
  EXPECT_OK(s);
  order.push_back(id);
  (void)co_await clock.sleep_for(2ms);
  sem.release();
}

Task<void> semaphore_scenario(FakeClock& clock, std::vector<int>& order) {
  AsyncSemaphore sem(1);
  auto executor = co_await boost::asio::this_coro::executor;
  for (int i = 0; i < 4; ++i) spawn_detached(executor, hold_permit(clock, sem, order, i), "holder");
  (void)co_await clock.sleep_for(1ms);
  EXPECT_EQ(sem.waiter_count(), 3u);
  (void)co_await clock.sleep_for(10ms);  // Four holders of 2 ms each, one after the other.
  EXPECT_EQ(order, std::vector<int>({0, 1, 2, 3}));
  EXPECT_TRUE(sem.try_acquire());
  auto before = clock.now();
  Status timed_out = co_await sem.acquire(Deadline::after(5ms, clock));
  EXPECT_EQ(timed_out.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(clock.now() - before, 5ms);
  EXPECT_EQ(sem.waiter_count(), 0u);
  sem.release();
}

TEST(AsyncSemaphoreTest, FirstComeFirstServedAndDeadlinesOnAFakeClock) {
  FakeClock clock;
  boost::asio::io_context context(1);
  std::vector<int> order;
  run_simulated(context, clock, semaphore_scenario(clock, order));
  EXPECT_EQ(order, std::vector<int>({0, 1, 2, 3}));
}

// Holds its slot until a second task is in flight too (or 10 s pass), so the bound is reached
// however slowly the machine schedules the callers.
Task<int> count_concurrency(std::atomic<int>& now, std::atomic<int>& peak) {
  int current = ++now;
  int previous = peak.load();
  while (current > previous && !peak.compare_exchange_weak(previous, current)) {
  }
  Deadline give_up = Deadline::after(10s, RealClock::instance());
  while (peak.load() < 2 && !give_up.expired()) {
    (void)co_await RealClock::instance().sleep_for(1ms);
  }
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
