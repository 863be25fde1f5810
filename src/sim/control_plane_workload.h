// The control plane under etcd faults, crashes and restarts (tess-sim --workload control-plane).
//
// Five hosts in five failure domains, each a ControlPlane on its own drifting clock and its own
// handle of one FakeConfigStore, form a 3+2 cluster; then, for a minute of simulated time, the
// workload crashes and restarts hosts (some within their lease TTL), stalls, fails or slows one
// host's etcd, takes etcd's quorum away, loses the answers of writes, and ends leases early
// (the leader's most often). Then it heals everything and waits.
//
// Invariants, after every step:
//   - at most one management leader acts at a time: every map write was made under the election
//     key of its writer (the key existed at that revision and its lease was the writer's);
//   - map epochs only grow, by one per write.
// At the end, with every host up and etcd healthy for 3 lease TTLs:
//   - all hosts agree on one leader, which believes it leads;
//   - the map shows every host up, with the incarnation of its current process (a host killed and
//     restarted within its TTL was noticed, not silently kept).
#pragma once

#include <memory>

#include "sim/simulation.h"

namespace tessera::sim {

std::unique_ptr<Workload> make_control_plane_workload(Simulation& simulation);

}  // namespace tessera::sim
