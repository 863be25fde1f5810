// A whole Raft group of pure cores in one process (tess-sim --workload raft): five replicas of one
// `raft::Core` (docs/design/2026-11-25-raft-buckets.md 2), each on a host with its own drifting
// clock and a simulated disk, a lossy reordering network, clients doing put / get / delete / cas
// on a few shared keys, and faults: kill -9, power loss, pauses, partitions, slow disks and
// syncs, compaction (hence snapshots) and leadership transfers. In half the seeds the group
// hibernates when idle (design 5.2): the hosts model per-peer liveness and wake their replicas as
// tessd does, and the clients pause now and then so that the group falls asleep.
//
// The disk of a host is an OS-visible state (hard state, a raft::MemoryLog, the key-value state
// machine with its applied index and configuration, the recovering marker) and a synced copy of it
// as of the last fsync. Every change is a write batch; a sync applies the batches written since
// the last one to the synced copy. kill -9 keeps the OS-visible state (a Ready whose write had not
// landed yet is lost); a power loss restarts from the synced copy plus a seeded prefix of the
// unsynced batches, as `recovering`. In a tenth of the seeds every host loses power at once
// (beyond the contract; fewer invariants hold from then on).
//
// Invariants are checked after every step (docs/architecture.md 14); see raft_workload.cc for the
// exact list. At the end, healed: one leader, every replica caught up, every key reads back its
// committed value, and the clients' history is linearizable (sim/linearizability.h).
#pragma once

#include <memory>

#include "sim/simulation.h"

namespace tessera::sim {

std::unique_ptr<Workload> make_raft_workload(Simulation& simulation);

}  // namespace tessera::sim
