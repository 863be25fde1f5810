// Reconciliation of a bucket's Raft configuration with the placement the cluster map wants
// (docs/design/2026-11-25-raft-buckets.md 6.2, 6.3): a pure function the bucket's leader asks
// for its next step, one change at a time. The management leader only writes `desired` and
// `preferred_leader`; the bucket's own leader carries them out, so no one but a leader of the
// current term ever changes a configuration, and every change goes through the log.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/strong_id.h"
#include "raft/progress.h"
#include "raft/types.h"

namespace tessera::bucket {

// What the cluster map wants of one bucket.
struct Placement {
  std::vector<HostId> desired;  // Hosts that should hold a replica.
  HostId preferred_leader;      // One of desired (zero: none).
};

// What the leader knows of the cluster beyond its group: which hosts are alive (registered with
// the control plane) and the bucket store each one runs now (a rebuilt host has a new one).
class PlacementView {
 public:
  virtual ~PlacementView() = default;
  virtual bool alive(HostId host) const = 0;
  // nullopt: unknown (not registered, or runs no buckets).
  virtual std::optional<raft::StoreId> store_of(HostId host) const = 0;
};

struct ReconcileStep {
  enum class Kind : uint8_t { kNone, kAddLearner, kPromote, kRemove, kTransfer };
  Kind kind = Kind::kNone;
  raft::ReplicaId replica;
  const char* why = "";
};

// A learner is caught up (may be promoted) and a voter may take leadership when its match is
// within this many entries of the leader's last index.
inline constexpr uint64_t kCaughtUpEntries = 64;

// The leader's next step, the first that applies of (design 6.3):
//   1. remove a learner that is not wanted;
//   2. remove a voter that is not wanted and whose host is dead, or whose host now runs another
//      store (it was rebuilt: the old replica is gone);
//   3. add as a learner the current store of a desired host that holds no replica;
//   4. promote a caught-up learner;
//   5. while voters outnumber the desired hosts, remove a live voter that is not wanted (if it is
//      the leader itself: transfer leadership first, to a caught-up wanted voter);
//   6. transfer leadership to the preferred leader once it is a caught-up voter on a live host.
// "Wanted" = on a desired host, and that host's current store. `progress` is the leader's view of
// each other replica; `last_index` its log's last index. A step is only a proposal: the core
// refuses it while another change is pending, and the leader asks again later.
ReconcileStep next_reconcile_step(const raft::Config& config, raft::ReplicaId leader,
                                  const std::map<raft::ReplicaId, raft::Progress>& progress,
                                  raft::LogIndex last_index, const Placement& placement,
                                  const PlacementView& cluster);

const char* reconcile_kind_name(ReconcileStep::Kind kind);

}  // namespace tessera::bucket
