// The chunk store workload of the simulator (chunk_store_workload.h) for many seeds, with the
// store's fault points firing. A failing seed prints its trace.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <map>
#include <random>
#include <set>
#include <string>

#include "base/fault_points.h"
#include "drive/chunk_store_workload.h"
#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera {
namespace {

// Fires each fault point with a small probability drawn from the seed; records what was reached.
class SeededFaultPoints final : public FaultPoints {
 public:
  explicit SeededFaultPoints(uint64_t seed) : random_(seed) {}
  bool fire(std::string_view name) override {
    bool fired = std::bernoulli_distribution(0.05)(random_);
    if (fired) fired_.insert(std::string(name));
    return fired;
  }
  void cover(std::string_view name) override { covered_.insert(std::string(name)); }
  const std::set<std::string>& fired() const { return fired_; }
  const std::set<std::string>& covered() const { return covered_; }

 private:
  std::mt19937_64 random_;
  std::set<std::string> fired_;
  std::set<std::string> covered_;
};

struct SeedRun {
  Status status;
  std::string trace;
  std::set<std::string> fired;
  std::set<std::string> covered;
};

SeedRun run_seed(uint64_t seed, const std::string& directory) {
  SeededFaultPoints points(seed);
  install_fault_points(&points);
  boost::asio::io_context context;
  FakeClock clock;
  SeedRun run;
  ChunkStoreWorkloadOptions options;
  options.directory = directory;
  run.status =
      run_simulated(context, clock, run_chunk_store_workload(&clock, seed, options, &run.trace));
  install_fault_points(nullptr);
  run.fired = points.fired();
  run.covered = points.covered();
  return run;
}

TEST(ChunkStoreSimTest, HoldsItsInvariantsForManySeeds) {
  testing::TempDir dir;
  std::set<std::string> fired;
  std::set<std::string> covered;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SeedRun run = run_seed(seed, dir.path().string());
    ASSERT_TRUE(run.status.ok()) << run.status << "\ntrace of seed " << seed << ":\n" << run.trace;
    fired.insert(run.fired.begin(), run.fired.end());
    covered.insert(run.covered.begin(), run.covered.end());
  }
#ifndef NDEBUG
  // The runs reach the rare paths they exist for.
  for (const char* point : {"chunk_store.slow_index_commit", "chunk_store.index_commit_fails"}) {
    EXPECT_TRUE(fired.contains(point)) << point;
  }
  for (const char* mark :
       {"chunk_store.recover_drops_torn_chunk", "chunk_store.recover_keeps_unsynced_chunks",
        "chunk_store.index_commit_failed"}) {
    EXPECT_TRUE(covered.contains(mark)) << mark;
  }
#endif
}

TEST(ChunkStoreSimTest, ASeedReplaysExactly) {
  testing::TempDir dir;
  for (uint64_t seed : {7, 8}) {
    SeedRun first = run_seed(seed, dir.path().string());
    SeedRun second = run_seed(seed, dir.path().string());
    EXPECT_OK(first.status);
    EXPECT_EQ(first.trace, second.trace);
    EXPECT_GT(std::count(first.trace.begin(), first.trace.end(), '\n'), 20);
  }
}

}  // namespace
}  // namespace tessera
