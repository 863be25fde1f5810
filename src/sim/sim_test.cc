#include <gtest/gtest.h>

#include <csignal>

#include "runtime/simulated_run.h"
#include "sim/seed_runner.h"
#include "sim/simulation.h"
#include "testing/testing.h"

namespace tessera::sim {
namespace {

using namespace std::chrono_literals;

TEST(SimRandomTest, SameSeedSameStreamAndForksAreIndependentOfPosition) {
  SimRandom a(7);
  SimRandom b(7);
  SimRandom fork_before = a.fork("x");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
  EXPECT_EQ(a.fork("x").next(),
            fork_before.next());  // A fork depends on the seed, not the position.
  EXPECT_NE(SimRandom(7).fork("x").next(), SimRandom(7).fork("y").next());
  EXPECT_NE(SimRandom(7).next(), SimRandom(8).next());
  for (int i = 0; i < 1000; ++i) {
    int64_t v = a.between(-3, 3);
    EXPECT_GE(v, -3);
    EXPECT_LE(v, 3);
  }
}

TEST(DriftingClockTest, RunsAtItsRateAndWakesWhenItsOwnTimeHasCome) {
  FakeClock base;
  DriftingClock fast(base, 1'100'000);  // 10% fast.
  DriftingClock slow(base, 900'000);    // 10% slow.
  auto fast_start = fast.now();
  auto slow_start = slow.now();
  base.advance(1s);
  EXPECT_EQ(fast.now() - fast_start, 1100ms);
  EXPECT_EQ(slow.now() - slow_start, 900ms);
  // A local deadline maps to the first base instant at which the local clock shows it.
  auto local_deadline = slow.now() + 90ms;
  auto base_deadline = slow.to_base(local_deadline);
  EXPECT_EQ(base_deadline - base.now(), 100ms);
}

Task<void> sleep_on(const Clock& clock, Clock::Duration duration, std::vector<int>& order, int id) {
  EXPECT_OK(co_await clock.sleep_for(duration));
  order.push_back(id);
}

TEST(DriftingClockTest, SleepersOfDifferentRatesWakeInBaseTimeOrder) {
  FakeClock base;
  DriftingClock fast(base, 1'100'000);
  DriftingClock slow(base, 900'000);
  boost::asio::io_context context(1);
  std::vector<int> order;
  // 100 ms on the slow clock is 111 ms of base time; 110 ms on the fast clock is 100 ms.
  boost::asio::co_spawn(context, sleep_on(slow, 100ms, order, 1), boost::asio::detached);
  boost::asio::co_spawn(context, sleep_on(fast, 110ms, order, 2), boost::asio::detached);
  run_simulated(context, base, sleep_on(base, 200ms, order, 3));
  EXPECT_EQ(order, std::vector<int>({2, 1, 3}));
}

// Two "hosts" ping each other on drifting clocks with seeded pauses; the invariant says the
// counter never goes past a limit that a mutation can break.
class PingWorkload final : public Workload {
 public:
  explicit PingWorkload(Simulation& simulation) : sim_(simulation) {
    for (int i = 0; i < 2; ++i) clocks_.push_back(sim_.make_host_clock(100'000));
  }
  Task<Status> run() override {
    for (int round = 0; round < 50; ++round) {
      const Clock& clock = *clocks_[round % 2];
      auto pause = std::chrono::milliseconds(sim_.random().between(1, 100));
      TESS_CO_RETURN_IF_ERROR(co_await clock.sleep_for(pause));
      ++count_;
      if (TESS_MUTATION("ping-overcount") && sim_.random().chance(0.05)) count_ += 100;
      sim_.trace().add("round {} host {} slept {} ms", round, round % 2, pause.count());
    }
    co_return Status();
  }
  Status check_invariants() override {
    if (count_ > 50) return error(StatusCode::kInternal, "count {} is past 50", count_);
    return Status();
  }

 private:
  Simulation& sim_;
  std::vector<std::unique_ptr<DriftingClock>> clocks_;
  int count_ = 0;
};

std::string run_ping(uint64_t seed, std::set<std::string> mutations, Status* status) {
  Simulation simulation({.seed = seed, .mutations = std::move(mutations)});
  PingWorkload workload(simulation);
  SimulationOutcome outcome = simulation.run(workload);
  *status = outcome.status;
  return simulation.trace().tail(1000);
}

TEST(SimulationTest, ASeedReplaysExactly) {
  Status first, second, other;
  std::string a = run_ping(42, {}, &first);
  std::string b = run_ping(42, {}, &second);
  std::string c = run_ping(43, {}, &other);
  ASSERT_OK(first);
  ASSERT_OK(second);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a.find("round 49"), std::string::npos);
}

TEST(SimulationTest, ABrokenInvariantEndsTheRunWithTheStep) {
  bool caught = false;
  for (uint64_t seed = 1; seed <= 20 && !caught; ++seed) {
    Status status;
    run_ping(seed, {"ping-overcount"}, &status);
    if (!status.ok()) {
      caught = true;
      EXPECT_NE(status.message().find("invariant broken at step"), std::string::npos) << status;
      EXPECT_NE(status.message().find("past 50"), std::string::npos) << status;
    }
  }
  EXPECT_TRUE(caught);
}

class StuckWorkload final : public Workload {
 public:
  Task<Status> run() override {
    boost::asio::steady_timer never(co_await boost::asio::this_coro::executor);
    co_await Deadline::never().wait(never);
    co_return Status();
  }
  Status check_invariants() override { return Status(); }
};

TEST(SimulationTest, ADeadlockIsAFailureNotAHang) {
  Simulation simulation({.seed = 1});
  StuckWorkload workload;
  SimulationOutcome outcome = simulation.run(workload);
  EXPECT_EQ(outcome.status.code(), StatusCode::kInternal);
  EXPECT_NE(outcome.status.message().find("deadlock"), std::string::npos);
}

TEST(SimFaultPointsTest, DecisionsDependOnSeedAndNameOnly) {
  SimFaultPoints a(5, true, {});
  SimFaultPoints b(5, true, {});
  // Reach the points in different orders: the same ones are active with the same firing pattern.
  std::vector<bool> fired_a, fired_b;
  for (int i = 0; i < 200; ++i) fired_a.push_back(a.fire("p" + std::to_string(i % 20)));
  for (int i = 199; i >= 0; --i) (void)b.fire("q");
  for (int i = 0; i < 200; ++i) fired_b.push_back(b.fire("p" + std::to_string(i % 20)));
  EXPECT_EQ(fired_a, fired_b);
  size_t active = 0;
  for (const auto& [name, stats] : a.fault_points()) active += stats.active ? 1 : 0;
  EXPECT_GT(active, 0u);
  EXPECT_LT(active, 20u);
  SimFaultPoints off(5, false, {"m"});
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(off.fire("p" + std::to_string(i)));
  EXPECT_TRUE(off.mutation("m"));
  EXPECT_FALSE(off.mutation("n"));
}

TEST(SeedRunnerTest, EachSeedInItsOwnProcessWithCrashesAndHangsReported) {
  std::map<uint64_t, SeedResult> results;
  run_seeds(
      {1, 2, 3, 4}, SeedRunnerOptions{2, std::chrono::seconds(2)},
      [](uint64_t seed) {
        fmt::print("hello from seed {}\n", seed);
        if (seed == 2) return 1;
        if (seed == 3) std::raise(SIGKILL);
        if (seed == 4) {
          while (true) pause();  // Hangs: killed at the time limit.
        }
        return 0;
      },
      [&](const SeedResult& result) { results[result.seed] = result; });
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[1].passed);
  EXPECT_EQ(results[1].output, "hello from seed 1\n");
  EXPECT_FALSE(results[2].passed);
  EXPECT_EQ(results[2].why, "exit code 1");
  EXPECT_FALSE(results[3].passed);
  EXPECT_NE(results[3].why.find("signal 9"), std::string::npos);
  EXPECT_FALSE(results[4].passed);
  EXPECT_NE(results[4].why.find("real-time limit"), std::string::npos);
}

}  // namespace
}  // namespace tessera::sim
