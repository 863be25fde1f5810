#include "sim/workloads.h"

#include <array>

namespace tessera::sim {

namespace {
constexpr std::array<WorkloadSpec, 0> kWorkloads{};
}  // namespace

std::span<const WorkloadSpec> all_workloads() { return kWorkloads; }

const WorkloadSpec* find_workload(std::string_view name) {
  for (const WorkloadSpec& spec : all_workloads()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace tessera::sim
