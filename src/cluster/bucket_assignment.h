// Bucket assignment: which compute process leads each bucket and which follow it
// (docs/architecture.md 3.1). A pure function of the previous table and the processes, so the
// management leader's decisions can be tested at any scale.
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
};

struct BucketReplicas {
  HostId leader;  // HostId(0) before the first assignment.
  std::vector<HostId> followers;
  uint64_t term = 0;  // Bumped whenever the leader changes.

  friend bool operator==(const BucketReplicas&, const BucketReplicas&) = default;
};

struct AssignmentOptions {
  uint32_t replicas = 3;  // R = M + 1, in distinct failure domains.
  // A process may carry this much more than the mean (leaders, and replicas) before work is moved
  // to a lighter one; below it nothing moves, so a failure moves only the failed process's work.
  double balance_tolerance = 1.05;
};

// Returns the new table for `bucket_count` buckets. `previous` is empty at creation, else the
// current table (same size). Rules, in order: keep every replica on an up process (first of each
// failure domain); promote the follower that leads fewest when a leader is down (term + 1; a bucket
// whose replicas are all down keeps its leader, without service); fill missing replicas with the
// least-loaded eligible process; move leaderships and replicas off processes above the tolerance.
std::vector<BucketReplicas> assign_buckets(std::span<const BucketReplicas> previous,
                                           uint32_t bucket_count,
                                           std::span<const ProcessSlot> processes,
                                           const AssignmentOptions& options);

}  // namespace tessera
