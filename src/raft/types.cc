#include "raft/types.h"

#include <algorithm>

#include "base/assert.h"
#include "base/endian.h"

namespace tessera::raft {
namespace {

constexpr size_t kConfChangeBytes = 1 + 4 + 8;

void insert_sorted(std::vector<ReplicaId>& list, ReplicaId r) {
  list.insert(std::lower_bound(list.begin(), list.end(), r), r);
}

void erase(std::vector<ReplicaId>& list, ReplicaId r) {
  list.erase(std::remove(list.begin(), list.end(), r), list.end());
}

}  // namespace

std::string encode_conf_change(const ConfChange& change) {
  std::string out(kConfChangeBytes, '\0');
  out[0] = static_cast<char>(change.kind);
  auto* bytes = reinterpret_cast<std::byte*>(out.data());
  store_le<uint32_t>(bytes + 1, change.replica.host.value());
  store_le<uint64_t>(bytes + 5, change.replica.store.value());
  return out;
}

std::optional<ConfChange> decode_conf_change(const std::string& payload) {
  if (payload.size() != kConfChangeBytes) return std::nullopt;
  auto kind = static_cast<uint8_t>(payload[0]);
  if (kind < 1 || kind > 3) return std::nullopt;
  ConfChange change;
  change.kind = static_cast<ConfChange::Kind>(kind);
  const auto* bytes = reinterpret_cast<const std::byte*>(payload.data());
  change.replica.host = HostId(load_le<uint32_t>(bytes + 1));
  change.replica.store = StoreId(load_le<uint64_t>(bytes + 5));
  if (change.replica.is_none()) return std::nullopt;
  return change;
}

bool Config::is_voter(ReplicaId r) const {
  return std::binary_search(voters.begin(), voters.end(), r);
}

bool Config::is_learner(ReplicaId r) const {
  return std::binary_search(learners.begin(), learners.end(), r);
}

std::string Config::refusal(const ConfChange& change) const {
  switch (change.kind) {
    case ConfChange::Kind::kAddLearner:
      if (contains(change.replica)) return "the replica is already in the configuration";
      return "";
    case ConfChange::Kind::kPromoteLearner:
      if (!is_learner(change.replica)) return "only a learner can be promoted";
      return "";
    case ConfChange::Kind::kRemoveReplica:
      if (!contains(change.replica)) return "the replica is not in the configuration";
      if (is_voter(change.replica) && voters.size() == 1) return "cannot remove the last voter";
      return "";
  }
  return "unknown change";
}

Config Config::applied(const ConfChange& change) const {
  TESS_ASSERT(refusal(change).empty(), "refused conf change applied: {}", refusal(change));
  Config next = *this;
  switch (change.kind) {
    case ConfChange::Kind::kAddLearner:
      insert_sorted(next.learners, change.replica);
      break;
    case ConfChange::Kind::kPromoteLearner:
      erase(next.learners, change.replica);
      insert_sorted(next.voters, change.replica);
      break;
    case ConfChange::Kind::kRemoveReplica:
      erase(next.learners, change.replica);
      erase(next.voters, change.replica);
      break;
  }
  return next;
}

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::kAppend:
      return "App";
    case MessageType::kAppendResponse:
      return "AppResp";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResponse:
      return "HeartbeatResp";
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResponse:
      return "PreVoteResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResponse:
      return "VoteResp";
    case MessageType::kSnapshot:
      return "Snap";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kHibernate:
      return "Hibernate";
    case MessageType::kHibernateResponse:
      return "HibernateResp";
  }
  return "?";
}

const char* role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

}  // namespace tessera::raft
