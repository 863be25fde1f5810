// What the workloads share about control planes in a simulation: starting one for a simulated
// host on the simulation's fake etcd, and the invariant on map writes.
#pragma once

#include <memory>
#include <string>

#include "cluster/control_plane.h"
#include "cluster/fake_config_store.h"
#include "sim/simulation.h"

namespace tessera::sim {

inline constexpr std::string_view kSimClusterName = "sim";

// Joins and starts the control plane of host `name`, on its own `clock` and its handle of
// `store`, with a seed from the simulation. On failure nothing is left running and the reason
// goes to the trace too.
Task<Result<std::unique_ptr<ControlPlane>>> start_sim_control_plane(Simulation* simulation,
                                                                    FakeConfigStore* store,
                                                                    std::string name,
                                                                    const Clock* clock,
                                                                    int64_t lease_ttl_seconds);

// "At most one management leader acts at a time": every map header write (recorded by `store`,
// which must record_writes(map header, election key)) was made under the writer's own election
// key, and epochs grow by one per write. Checks the writes recorded since the last call.
class MapWriteChecker {
 public:
  Status check_new_writes(const FakeConfigStore& store, Trace& trace);
  size_t writes_checked() const { return writes_checked_; }
  uint64_t last_epoch() const { return last_epoch_; }

 private:
  ClusterKeys keys_{std::string(kSimClusterName)};
  size_t writes_checked_ = 0;
  uint64_t last_epoch_ = 0;
};

}  // namespace tessera::sim
