#include "bucket/reconcile.h"

#include <algorithm>

namespace tessera::bucket {
namespace {

using raft::ReplicaId;

bool desired_host(const Placement& placement, HostId host) {
  return std::find(placement.desired.begin(), placement.desired.end(), host) !=
         placement.desired.end();
}

// On a desired host, and that host's current store.
bool wanted(const Placement& placement, const PlacementView& cluster, ReplicaId replica) {
  if (!desired_host(placement, replica.host)) return false;
  std::optional<raft::StoreId> store = cluster.store_of(replica.host);
  return !store || *store == replica.store;  // Unknown store: not known to be rebuilt.
}

// The old replica of a rebuilt host, or one on a host that is not alive: it answers no one.
bool gone(const PlacementView& cluster, ReplicaId replica) {
  if (!cluster.alive(replica.host)) return true;
  std::optional<raft::StoreId> store = cluster.store_of(replica.host);
  return store && *store != replica.store;
}

bool caught_up(const std::map<ReplicaId, raft::Progress>& progress, ReplicaId replica,
               raft::LogIndex last_index) {
  auto it = progress.find(replica);
  if (it == progress.end()) return false;
  return it->second.recent_active && it->second.state == raft::Progress::State::kReplicate &&
         it->second.match.value() + kCaughtUpEntries >= last_index.value();
}

ReconcileStep step(ReconcileStep::Kind kind, ReplicaId replica, const char* why) {
  return ReconcileStep{kind, replica, why};
}

}  // namespace

ReconcileStep next_reconcile_step(const raft::Config& config, ReplicaId leader,
                                  const std::map<ReplicaId, raft::Progress>& progress,
                                  raft::LogIndex last_index, const Placement& placement,
                                  const PlacementView& cluster) {
  using Kind = ReconcileStep::Kind;
  // An empty placement (a map not read yet, or a bucket beyond it) changes nothing.
  if (placement.desired.empty()) return {};
  for (ReplicaId learner : config.learners) {
    if (!wanted(placement, cluster, learner))
      return step(Kind::kRemove, learner, "unwanted learner");
  }
  for (ReplicaId voter : config.voters) {
    if (voter != leader && !wanted(placement, cluster, voter) && gone(cluster, voter)) {
      return step(Kind::kRemove, voter, "unwanted voter, gone");
    }
  }
  for (HostId host : placement.desired) {
    bool held = false;
    for (const auto* list : {&config.voters, &config.learners}) {
      for (ReplicaId r : *list) held = held || (r.host == host && wanted(placement, cluster, r));
    }
    if (held || !cluster.alive(host)) continue;
    std::optional<raft::StoreId> store = cluster.store_of(host);
    if (store)
      return step(Kind::kAddLearner, ReplicaId{host, *store}, "desired host without a replica");
  }
  for (ReplicaId learner : config.learners) {
    if (caught_up(progress, learner, last_index)) {
      return step(Kind::kPromote, learner, "caught-up learner");
    }
  }
  if (config.voters.size() > placement.desired.size()) {
    for (ReplicaId voter : config.voters) {
      if (wanted(placement, cluster, voter)) continue;
      if (voter != leader) return step(Kind::kRemove, voter, "surplus voter");
      // The leader itself goes: hand leadership to a caught-up wanted voter first.
      for (ReplicaId other : config.voters) {
        if (other != leader && wanted(placement, cluster, other) && cluster.alive(other.host) &&
            caught_up(progress, other, last_index)) {
          return step(Kind::kTransfer, other, "the leader is a surplus voter");
        }
      }
      return {};
    }
  }
  if (placement.preferred_leader.value() != 0 && placement.preferred_leader != leader.host) {
    for (ReplicaId voter : config.voters) {
      if (voter.host == placement.preferred_leader && wanted(placement, cluster, voter) &&
          cluster.alive(voter.host) && caught_up(progress, voter, last_index)) {
        return step(Kind::kTransfer, voter, "preferred leader");
      }
    }
  }
  return {};
}

const char* reconcile_kind_name(ReconcileStep::Kind kind) {
  switch (kind) {
    case ReconcileStep::Kind::kNone:
      return "none";
    case ReconcileStep::Kind::kAddLearner:
      return "add learner";
    case ReconcileStep::Kind::kPromote:
      return "promote";
    case ReconcileStep::Kind::kRemove:
      return "remove";
    case ReconcileStep::Kind::kTransfer:
      return "transfer leadership";
  }
  return "?";
}

}  // namespace tessera::bucket
