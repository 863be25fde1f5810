// SeedRunner: runs one simulation per seed, each in a child process of its own, a few at a time.
//
// A child process per seed isolates seeds completely (a crash, an assert or a leak in one seed
// is that seed's failure, reported with its seed, and cannot disturb the next), and lets a
// simulation end without tearing down what its workload left running. The parent only collects
// output and exit statuses; it kills a child (by its PID) that exceeds the real-time limit.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tessera::sim {

struct SeedResult {
  uint64_t seed = 0;
  bool passed = false;
  std::string output;  // Everything the child wrote to stdout and stderr.
  std::string why;     // For a failure: exit code, signal or time limit.
  double real_seconds = 0;
};

struct SeedRunnerOptions {
  size_t jobs = 2;  // Children at once.
  std::chrono::seconds timeout_per_seed{120};
};

// Runs `body(seed)` in a child for every seed; the child's exit code is body's return value
// (0 = pass). Calls `on_result` in the parent as each seed ends (in completion order).
void run_seeds(const std::vector<uint64_t>& seeds, const SeedRunnerOptions& options,
               const std::function<int(uint64_t)>& body,
               const std::function<void(const SeedResult&)>& on_result);

}  // namespace tessera::sim
