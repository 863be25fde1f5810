#include "sim/simulation.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace tessera::sim {

Simulation::Simulation(SimulationOptions options)
    : options_(std::move(options)),
      random_(SimRandom(options_.seed).fork("workload")),
      trace_(clock_, options_.trace_lines),
      fault_points_(options_.seed, options_.buggify, options_.mutations) {}

std::unique_ptr<DriftingClock> Simulation::make_host_clock(uint64_t max_drift_ppm) {
  int64_t drift =
      random_.between(-static_cast<int64_t>(max_drift_ppm), static_cast<int64_t>(max_drift_ppm));
  return std::make_unique<DriftingClock>(clock_, static_cast<uint64_t>(1'000'000 + drift));
}

Task<void> Simulation::run_workload(Workload* workload, std::optional<Status>* result) {
  *result = co_await workload->run();
}

SimulationOutcome Simulation::run(Workload& workload) {
  ScopedFaultPoints installed(&fault_points_);
  std::optional<Status> result;
  boost::asio::co_spawn(context_, run_workload(&workload, &result), boost::asio::detached);
  SimulationOutcome outcome;
  auto start = clock_.now();
  while (!result) {
    context_.restart();
    if (context_.poll_one() > 0) {
      ++outcome.steps;
      Status invariants = workload.check_invariants();
      if (!invariants.ok()) {
        result = invariants.with_context(fmt::format("invariant broken at step {}", outcome.steps));
      } else if (outcome.steps >= options_.max_steps) {
        result = error(StatusCode::kDeadlineExceeded, "the workload took more than {} steps",
                       options_.max_steps);
      }
      continue;
    }
    if (clock_.now() - start >= options_.max_simulated_time) {
      result = error(
          StatusCode::kDeadlineExceeded,
          "the workload did not finish within {} s of simulated time",
          std::chrono::duration_cast<std::chrono::seconds>(options_.max_simulated_time).count());
    } else if (!clock_.advance_to_next()) {
      result =
          Status(StatusCode::kInternal, "deadlock: nothing is ready and nothing waits for time");
    }
  }
  outcome.status = *result;
  outcome.simulated_time = clock_.now() - start;
  return outcome;
}

}  // namespace tessera::sim
