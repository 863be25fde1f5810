// tess-sim: runs the deterministic simulation (docs/architecture.md 14). `tess-sim --help`.
//
//   tess-sim --workload control-plane --seeds 200
//       200 seeds, 2 at a time, a line per failure
//   tess-sim --workload control-plane --seed 1234
//       replay one seed here, with its trace
//   tess-sim --workload all --seeds 1000 --first-seed $RANDOM --coverage
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "base/log.h"
#include "sim/seed_runner.h"
#include "sim/workloads.h"

// AddressSanitizer's defaults for this program (ASAN_OPTIONS still overrides them): a seed
// allocates and frees a great deal (RocksDB stores, RPC frames, a whole cluster's coroutines), and
// with the default 256 MiB quarantine every allocation touches fresh pages. 16 MiB still keeps
// freed memory poisoned for thousands of steps and cuts a seed's time by up to half. Without ASan
// nothing calls this.
extern "C" const char* __asan_default_options() {  // NOLINT(bugprone-reserved-identifier)
  return "quarantine_size_mb=16";
}

namespace tessera::sim {
namespace {

struct Options {
  std::vector<std::string> workloads;
  std::optional<uint64_t> seed;
  uint64_t seeds = 100;
  uint64_t first_seed = 1;
  size_t jobs = 2;
  int64_t timeout_per_seed_s = 120;
  bool no_buggify = false;
  std::vector<std::string> mutations;
  bool expect_failure = false;
  bool coverage = false;
  std::vector<std::string> expect_cover;
  size_t trace_lines = 60;
  std::string log_level = "off";
};

// Runs one seed of one workload here and prints its report; the exit code is 0 on a pass.
int run_one(const WorkloadSpec& spec, uint64_t seed, const Options& options, bool full_trace) {
  SimulationOptions sim_options;
  sim_options.seed = seed;
  sim_options.buggify = !options.no_buggify;
  sim_options.mutations = {options.mutations.begin(), options.mutations.end()};
  // Neither the simulation nor the workload is destroyed: a run that ended on a broken invariant
  // leaves tasks suspended in the middle of their work, and the process exits right after this
  // report (see SeedRunner) without unwinding them.
  auto* simulation_ptr = new Simulation(sim_options);
  Simulation& simulation = *simulation_ptr;
  Workload* workload = spec.make(simulation).release();
  SimulationOutcome outcome = simulation.run(*workload);
  workload->on_exit();
  double simulated_s = std::chrono::duration<double>(outcome.simulated_time).count();
  for (const auto& [name, count] : simulation.fault_points().coverage()) {
    fmt::print("cover {} {}\n", name, count);
  }
  for (const auto& [name, stats] : simulation.fault_points().fault_points()) {
    fmt::print("fault {} {} {} {}\n", name, stats.active ? 1 : 0, stats.reached, stats.fired);
  }
  if (outcome.status.ok()) {
    fmt::print("seed {} {}: pass ({} steps, {:.1f} s simulated)\n", seed, spec.name, outcome.steps,
               simulated_s);
    if (full_trace) fmt::print("{}", simulation.trace().tail(options.trace_lines));
    return 0;
  }
  fmt::print("seed {} {}: FAILED after {} steps, {:.1f} s simulated: {}\n", seed, spec.name,
             outcome.steps, simulated_s, outcome.status.message());
  fmt::print("last {} trace lines:\n{}", options.trace_lines,
             simulation.trace().tail(options.trace_lines));
  std::string mutations;
  for (const std::string& m : options.mutations) mutations += " --mutation " + m;
  fmt::print("replay: tess-sim --workload {} --seed {}{}{}\n", spec.name, seed,
             options.no_buggify ? " --no-buggify" : "", mutations);
  return 1;
}

struct Totals {
  uint64_t passed = 0;
  uint64_t failed = 0;
  std::map<std::string, uint64_t> cover_seeds;  // Mark -> seeds that reached it.
  std::map<std::string, uint64_t> fault_fired_seeds;
};

void collect(const SeedResult& result, Totals& totals) {
  std::istringstream lines(result.output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string kind, name;
    words >> kind >> name;
    if (kind == "cover") ++totals.cover_seeds[name];
    if (kind == "fault") {
      int active = 0;
      uint64_t reached = 0, fired = 0;
      words >> active >> reached >> fired;
      if (fired > 0) ++totals.fault_fired_seeds[name];
    }
  }
}

void print_failure(const SeedResult& result) {
  fmt::print("---- seed {} failed ({}, {:.1f} s):\n", result.seed, result.why, result.real_seconds);
  std::istringstream lines(result.output);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("cover ") && !line.starts_with("fault ")) fmt::print("  {}\n", line);
  }
  std::fflush(stdout);
}

int run_many(const WorkloadSpec& spec, const Options& options, Totals& totals) {
  std::vector<uint64_t> seeds;
  for (uint64_t i = 0; i < options.seeds; ++i) seeds.push_back(options.first_seed + i);
  SeedRunnerOptions runner{options.jobs, std::chrono::seconds(options.timeout_per_seed_s)};
  uint64_t failed_before = totals.failed;
  auto started = std::chrono::steady_clock::now();
  run_seeds(
      seeds, runner, [&](uint64_t seed) { return run_one(spec, seed, options, false); },
      [&](const SeedResult& result) {
        collect(result, totals);
        if (result.passed) {
          ++totals.passed;
        } else {
          ++totals.failed;
          if (!options.expect_failure) print_failure(result);
        }
      });
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fmt::print("{}: {} seeds from {} in {:.1f} s, {} failed\n", spec.name, seeds.size(),
             options.first_seed, seconds, totals.failed - failed_before);
  return 0;
}

void print_coverage(const Totals& totals, uint64_t seed_count) {
  fmt::print("coverage marks reached (seeds of {}):\n", seed_count);
  for (const auto& [name, seeds] : totals.cover_seeds) fmt::print("  {:<48} {}\n", name, seeds);
  fmt::print("fault points fired (seeds of {}):\n", seed_count);
  for (const auto& [name, seeds] : totals.fault_fired_seeds) {
    fmt::print("  {:<48} {}\n", name, seeds);
  }
}

int main_with(const Options& options) {
  std::vector<const WorkloadSpec*> specs;
  for (const std::string& name : options.workloads) {
    if (name == "all") {
      for (const WorkloadSpec& spec : all_workloads()) specs.push_back(&spec);
      continue;
    }
    const WorkloadSpec* spec = find_workload(name);
    if (spec == nullptr) {
      std::string known;
      for (const WorkloadSpec& s : all_workloads()) known += fmt::format(" {}", s.name);
      fmt::print(stderr, "tess-sim: no workload '{}'; known:{}\n", name, known);
      return 2;
    }
    specs.push_back(spec);
  }
  if (options.seed) {
    int code = 0;
    for (const WorkloadSpec* spec : specs) code |= run_one(*spec, *options.seed, options, true);
    std::fflush(stdout);
    _exit(code);  // As a child would: the simulations are abandoned, not torn down.
  }
  Totals totals;
  for (const WorkloadSpec* spec : specs) run_many(*spec, options, totals);
  if (options.coverage) print_coverage(totals, options.seeds * specs.size());
  int code = 0;
  for (const std::string& mark : options.expect_cover) {
    if (!totals.cover_seeds.contains(mark)) {
      fmt::print("tess-sim: no seed reached the coverage mark '{}'\n", mark);
      code = 1;
    }
  }
  if (options.expect_failure) {
    // The simulator's self-test: a deliberately broken build must be caught by some seed.
    fmt::print("{} passed, {} failed\n", totals.passed, totals.failed);
    if (totals.failed == 0) {
      fmt::print("tess-sim: expected some seed to catch the mutation, but every seed passed\n");
      return 1;
    }
    fmt::print("tess-sim: the mutation was caught by {} of {} seeds, as expected\n", totals.failed,
               totals.passed + totals.failed);
    return code;
  }
  fmt::print("{} passed, {} failed\n", totals.passed, totals.failed);
  return totals.failed == 0 ? code : 1;
}

}  // namespace
}  // namespace tessera::sim

int main(int argc, char** argv) {
  tessera::sim::Options options;
  CLI::App app("tess-sim: the deterministic simulation of a Tessera cluster", "tess-sim");
  std::string workload_help = "workload to run (repeat, or 'all'):";
  for (const auto& spec : tessera::sim::all_workloads()) {
    workload_help += fmt::format("\n  {}: {}", spec.name, spec.description);
  }
  app.add_option("--workload", options.workloads, workload_help)->required();
  app.add_option("--seed", options.seed, "replay this one seed here, printing its trace");
  app.add_option("--seeds", options.seeds, "how many seeds to run, each in a child process")
      ->capture_default_str();
  app.add_option("--first-seed", options.first_seed, "the first seed; the others count up")
      ->capture_default_str();
  app.add_option("--jobs", options.jobs, "seeds run at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--timeout-per-seed-s", options.timeout_per_seed_s,
                 "real seconds a seed may take before it is killed and failed")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_flag("--no-buggify", options.no_buggify, "keep every fault point in the code off");
  app.add_option("--mutation", options.mutations,
                 "switch on a deliberate bug (the simulator's self-test; repeat)");
  app.add_flag("--expect-failure", options.expect_failure,
               "succeed only if some seed fails (to prove that a mutation is caught)");
  app.add_flag("--coverage", options.coverage, "report which coverage marks and faults fired");
  app.add_option("--expect-cover", options.expect_cover,
                 "fail unless some seed reached this coverage mark (repeat)");
  app.add_option("--trace-lines", options.trace_lines, "trace lines shown for a failure")
      ->capture_default_str();
  app.add_option("--log-level", options.log_level,
                 "the components' own log: off, error, warn, info, debug")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  tessera::Status logging =
      tessera::init_logging({.level = options.log_level, .file_path = "", .process_name = "sim"});
  if (!logging.ok()) {
    fmt::print(stderr, "tess-sim: {}\n", logging.message());
    return 2;
  }
  return tessera::sim::main_with(options);
}
