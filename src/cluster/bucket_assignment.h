// Desired replica sets: which hosts should hold a replica of each bucket and which of them should
// lead it (docs/design/2026-11-25-raft-buckets.md 6.1, 6.2; docs/architecture.md 3.1). The
// management leader only writes these; each bucket's Raft leader carries them out (adds, promotes
// and removes replicas one at a time, transfers leadership). A pure function of the previous table
// and the processes, so the management leader's decisions can be tested at any scale.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/strong_id.h"

namespace tessera {

// A compute process as assignment sees it. Host ids start at 1; HostId(0) means "none".
struct ProcessSlot {
  HostId id;
  std::string failure_domain;
  bool up = true;
  // Down for longer than the map's replica_replacement_delay_s, as the caller (the management
  // leader, on its own clock) has seen it: its replicas are replaced. A process down for less
  // keeps them. REQUIRES: not `up`.
  bool permanently_failed = false;
};

struct DesiredReplicas {
  std::vector<HostId> desired;  // Distinct failure domains; at most R; HostId(0) never.
  HostId preferred_leader;      // One of `desired`; HostId(0) only when `desired` is empty.
  MapEpoch desired_epoch;       // The map epoch at which `desired` (as a set) last changed.

  friend bool operator==(const DesiredReplicas&, const DesiredReplicas&) = default;
};

struct AssignmentOptions {
  uint32_t replicas = 3;  // R (bucket_replica_count), in distinct failure domains.
  // A process may carry this much more than the mean (replicas, and preferred leaderships) before
  // work is moved to a lighter one; below it nothing moves, so a failure moves only the failed
  // process's work.
  double balance_tolerance = 1.05;
  // The epoch of the map this table goes into: stamped as desired_epoch on every bucket whose
  // desired set changes.
  MapEpoch epoch;
};

// R for parity M with `failure_domains` domains that hold compute hosts: 2M+1, or the largest odd
// number not above the domains when there are fewer, never below 1. Odd because an even group
// tolerates no more failures than the odd one below it; it tolerates (R - 1) / 2.
uint32_t bucket_replica_count(uint32_t parity, uint32_t failure_domains);

// Returns the table for `bucket_count` buckets. `previous` is empty at creation, else the current
// table (same size). Rules, in order:
//   1. keep every desired replica on a known process that is not permanently failed (a process
//      down for less than the delay keeps its replicas; the first of each failure domain stays);
//      above R (R lowered), drop replicas on down processes first, then on the most loaded;
//   2. fill each missing replica with the least-loaded up process of a failure domain the bucket
//      does not use (ties broken from a position seeded by the bucket, so that one process's
//      buckets spread over many others); too few domains up leaves the bucket short;
//   3. move replicas off up processes above balance_tolerance x the mean (over up processes), at
//      most one per process per call, to the least-loaded eligible process at or below the mean
//      rounded up; each move is a Raft add, promote, remove, so they are paced by the rounds;
//   4. a preferred leader that is not an up member of `desired` moves at once to the up member
//      preferring fewest (with no member up it stays, or takes the first member if it left);
//   5. move preferred leaderships off up processes above the tolerance to up members below the
//      mean rounded up (transfers are cheap: no per-call limit).
// desired_epoch is set to options.epoch where the desired set changed. Deterministic.
std::vector<DesiredReplicas> assign_desired(std::span<const DesiredReplicas> previous,
                                            uint32_t bucket_count,
                                            std::span<const ProcessSlot> processes,
                                            const AssignmentOptions& options);

}  // namespace tessera
