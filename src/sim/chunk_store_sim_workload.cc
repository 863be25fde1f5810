#include "sim/chunk_store_sim_workload.h"

#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "drive/chunk_store_workload.h"

namespace tessera::sim {

namespace {

class ChunkStoreSimWorkload final : public Workload {
 public:
  explicit ChunkStoreSimWorkload(Simulation& simulation)
      : sim_(simulation),
        directory_(fmt::format("{}/tess-sim-{}", std::filesystem::temp_directory_path().string(),
                               getpid())) {
    std::error_code ignored;
    std::filesystem::create_directories(directory_, ignored);
  }

  Task<Status> run() override {
    ChunkStoreWorkloadOptions options;
    options.directory = directory_;
    std::string trace;
    Status result =
        co_await run_chunk_store_workload(&sim_.clock(), sim_.options().seed, options, &trace);
    std::istringstream lines(trace);
    std::string line;
    while (std::getline(lines, line)) sim_.trace().add_line(line);
    co_return result;
  }
  // The workload checks its invariants after every crash and restart itself.
  Status check_invariants() override { return Status(); }
  void on_exit() override {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

 private:
  Simulation& sim_;
  std::string directory_;
};

}  // namespace

std::unique_ptr<Workload> make_chunk_store_workload(Simulation& simulation) {
  return std::make_unique<ChunkStoreSimWorkload>(simulation);
}

}  // namespace tessera::sim
