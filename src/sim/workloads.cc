#include "sim/workloads.h"

#include <array>

#include "sim/control_plane_workload.h"

namespace tessera::sim {

namespace {
constexpr std::array kWorkloads{
    WorkloadSpec{"control-plane",
                 "5 hosts' control planes on a fake etcd: crashes, quick restarts, stalls, lost "
                 "quorum, lost answers, early lease expiry; one acting leader, restarts noticed",
                 &make_control_plane_workload},
};
}  // namespace

std::span<const WorkloadSpec> all_workloads() { return kWorkloads; }

const WorkloadSpec* find_workload(std::string_view name) {
  for (const WorkloadSpec& spec : all_workloads()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace tessera::sim
