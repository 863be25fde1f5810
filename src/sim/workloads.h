// The simulator's workloads, by name (tess-sim --workload NAME).
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "sim/simulation.h"

namespace tessera::sim {

struct WorkloadSpec {
  std::string_view name;
  std::string_view description;
  std::unique_ptr<Workload> (*make)(Simulation& simulation);
};

std::span<const WorkloadSpec> all_workloads();
// nullptr if no workload has that name.
const WorkloadSpec* find_workload(std::string_view name);

}  // namespace tessera::sim
