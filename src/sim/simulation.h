// Simulation: a whole cluster in one process, from a seed (docs/architecture.md 14).
//
// Everything a workload builds (hosts, the fake etcd, the simulated network, fake drives, clients)
// runs on the simulation's one io_context with time from its FakeClock; every random choice comes
// from its SimRandom. run() executes one handler at a time, checks the workload's invariants after
// each one (a "step"), and lets simulated time jump to the next waiter only when nothing is ready.
// Nothing else is a source of nondeterminism, so a seed replays exactly: same steps, same trace.
//
// Single-threaded: everything happens on the thread that calls run().
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "base/status.h"
#include "runtime/clock.h"
#include "runtime/task.h"
#include "sim/drifting_clock.h"
#include "sim/random.h"
#include "sim/sim_fault_points.h"
#include "sim/trace.h"

namespace tessera::sim {

struct SimulationOptions {
  uint64_t seed = 1;
  // A run whose workload has not finished after this much simulated time fails (a liveness bug
  // or a workload that waits forever).
  Clock::Duration max_simulated_time = std::chrono::minutes(30);
  uint64_t max_steps = 20'000'000;
  bool buggify = true;              // Fault points fire per seed (off: only injected faults).
  std::set<std::string> mutations;  // Deliberate bugs switched on (the simulator's self-test).
  size_t trace_lines = 400;         // Kept for the failure report.
};

// What a simulation runs: sets up a cluster, drives clients and faults, and says what must hold.
class Workload {
 public:
  virtual ~Workload() = default;
  // The workload itself; non-OK if an invariant broke or an expected outcome did not happen.
  virtual Task<Status> run() = 0;
  // Checked after every step; keep it cheap. Non-OK ends the run as a failure.
  virtual Status check_invariants() = 0;
  // Called once after the run, whatever its outcome, before the process exits: remove files.
  // Tasks may still be suspended; touch nothing they use.
  virtual void on_exit() {}
};

struct SimulationOutcome {
  Status status;
  uint64_t steps = 0;
  Clock::Duration simulated_time{};
};

class Simulation {
 public:
  explicit Simulation(SimulationOptions options);
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  const SimulationOptions& options() const { return options_; }
  boost::asio::io_context& context() { return context_; }
  Executor executor() { return context_.get_executor(); }
  FakeClock& clock() { return clock_; }
  SimRandom& random() { return random_; }
  Trace& trace() { return trace_; }
  SimFaultPoints& fault_points() { return fault_points_; }

  // A host's clock: a rate within +-max_drift_ppm of the true one, drawn from the seed.
  std::unique_ptr<DriftingClock> make_host_clock(uint64_t max_drift_ppm);

  // Runs `workload` to its end, a broken invariant, a deadlock, or the time / step limit. Call
  // once. Afterwards, tasks the workload left behind are abandoned, not destroyed: the process is
  // expected to exit (tess-sim runs each seed in a child process).
  SimulationOutcome run(Workload& workload);

 private:
  static Task<void> run_workload(Workload* workload, std::optional<Status>* result);

  SimulationOptions options_;
  boost::asio::io_context context_{1};
  FakeClock clock_;
  SimRandom random_;
  Trace trace_;
  SimFaultPoints fault_points_;
};

}  // namespace tessera::sim
