#include "sim/workloads.h"

#include <array>

#include "sim/chunk_store_sim_workload.h"
#include "sim/cluster_workload.h"
#include "sim/control_plane_workload.h"
#include "sim/namespace_workload.h"
#include "sim/raft_workload.h"

namespace tessera::sim {

namespace {
constexpr std::array kWorkloads{
    WorkloadSpec{"control-plane",
                 "5 hosts' control planes on a fake etcd: crashes, quick restarts, stalls, lost "
                 "quorum, lost answers, early lease expiry; one acting leader, restarts noticed",
                 &make_control_plane_workload},
    WorkloadSpec{"chunk-store",
                 "one drive's chunk store: durable and non-durable writes, removals, barriers, "
                 "process crashes and power losses at every commit step",
                 &make_chunk_store_workload},
    WorkloadSpec{"cluster",
                 "5 tessd (control plane and drive role) and 3 clients over the simulated "
                 "network: kill -9, power loss, partitions, stalls, etcd faults",
                 &make_cluster_workload},
    WorkloadSpec{"raft",
                 "a 5-replica Raft group of pure cores: crashes, power loss, partitions, pauses, "
                 "drift; linearizability",
                 &make_raft_workload},
    WorkloadSpec{"namespace",
                 "3 hosts' buckets (real BucketHosts) with the namespace and 3 clients: random "
                 "metadata operations within and across buckets, kill -9, power loss, partitions, "
                 "dead transaction drivers; the namespace equals a model",
                 &make_namespace_workload},
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
