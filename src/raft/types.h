// The vocabulary of the Raft core (docs/design/2026-11-25-raft-buckets.md 2): ids, entries,
// configurations, hard state and messages. Plain values: the core never encodes them; the transport
// and the log store do (their formats are in the design note, 3.1 and 5).
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/strong_id.h"

namespace tessera::raft {

// A position in a bucket's log. Index 0 is "before the first entry" (term 0); entries start at 1.
class LogIndex : public StrongId<struct LogIndexTag, uint64_t> {
 public:
  using StrongId::StrongId;
  constexpr LogIndex next() const { return LogIndex(value() + 1); }
  // REQUIRES: value() > 0.
  constexpr LogIndex prev() const { return LogIndex(value() - 1); }
  // Number of entries in [this, end). REQUIRES: end >= *this.
  constexpr uint64_t count_to(LogIndex end) const { return end.value() - value(); }
  constexpr LogIndex plus(uint64_t n) const { return LogIndex(value() + n); }
};

// A replica's store (its log database), random at creation. A host whose store was lost comes back
// as a new replica, never as the old one with its vote forgotten.
using StoreId = StrongId<struct StoreIdTag, uint64_t>;
using ReadId = StrongId<struct ReadIdTag, uint64_t>;

struct ReplicaId {
  HostId host;
  StoreId store;
  constexpr auto operator<=>(const ReplicaId&) const = default;
  bool is_none() const { return host.value() == 0 && store.value() == 0; }
};
inline constexpr ReplicaId kNoReplica{};

// The core's notion of time: the host Clock's readings (Clock::TimePoint). The core never reads a
// clock; every input carries `now`.
using Time = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

enum class EntryType : uint8_t {
  kCommand = 1,     // An opaque state-machine command.
  kConfChange = 2,  // A ConfChange, encoded by encode_conf_change().
  kEmpty = 3,       // A new leader's first entry of its term.
};

struct Entry {
  Term term;
  LogIndex index;
  EntryType type = EntryType::kCommand;
  std::string payload;
  // Bytes the entry counts for in flow control and size limits.
  uint64_t size_bytes() const { return payload.size() + 32; }
  friend bool operator==(const Entry&, const Entry&) = default;
};

// Identifies a proposal: it was applied iff the committed entry at `index` has `term`.
struct EntryId {
  LogIndex index;
  Term term;
  friend bool operator==(const EntryId&, const EntryId&) = default;
};

// One change at a time (design 2.5). A voter always starts as a learner.
struct ConfChange {
  enum class Kind : uint8_t { kAddLearner = 1, kPromoteLearner = 2, kRemoveReplica = 3 };
  Kind kind = Kind::kAddLearner;
  ReplicaId replica;
  friend bool operator==(const ConfChange&, const ConfChange&) = default;
};
std::string encode_conf_change(const ConfChange& change);
// nullopt when `payload` is not a well-formed ConfChange.
std::optional<ConfChange> decode_conf_change(const std::string& payload);

// A configuration: voters decide elections and commits; learners receive the log and vote on
// nothing. A replica is in at most one of the two lists. Kept sorted.
struct Config {
  std::vector<ReplicaId> voters;
  std::vector<ReplicaId> learners;
  bool is_voter(ReplicaId r) const;
  bool is_learner(ReplicaId r) const;
  bool contains(ReplicaId r) const { return is_voter(r) || is_learner(r); }
  // Votes needed for a majority of the voters.
  size_t quorum() const { return voters.size() / 2 + 1; }
  // The configuration after `change`. REQUIRES: refusal(change) is empty.
  Config applied(const ConfChange& change) const;
  // Why `change` cannot be applied to this configuration, or empty if it can.
  std::string refusal(const ConfChange& change) const;
  friend bool operator==(const Config&, const Config&) = default;
};

// What must survive a crash. `term` and `vote` are fsynced before any message that depends on them.
struct HardState {
  Term term;
  ReplicaId vote;
  LogIndex commit;
  friend bool operator==(const HardState&, const HardState&) = default;
};

// A snapshot's metadata: the state machine after applying everything up to `index` (of `term`),
// and the configuration then in force. The data is the host's (design 3.3).
struct SnapshotMeta {
  LogIndex index;
  Term term;
  Config config;
  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

enum class MessageType : uint8_t {
  kAppend = 1,          // Entries after (log_index, log_term), and the leader's commit.
  kAppendResponse = 2,  // Accepted up to log_index, or reject with a hint.
  kHeartbeat = 3,       // Leader alive; commit; a lease/ReadIndex round.
  kHeartbeatResponse = 4,
  kPreVote = 5,  // "Would you vote for me in term `term`?" Changes nobody's state.
  kPreVoteResponse = 6,
  kVote = 7,
  kVoteResponse = 8,
  kSnapshot = 9,     // The follower must install `snapshot` (with the host's data).
  kTimeoutNow = 10,  // Leadership transfer: campaign now, ignoring the election timer.
  // Hibernation (design 5.2): an idle leader asks its followers to stop their timers; `log_index`
  // / `log_term` its last entry, `commit` its commit. The answer echoes `log_index`, `reject` if
  // the follower is not at exactly that point (or is recovering).
  kHibernate = 11,
  kHibernateResponse = 12,
};
const char* message_type_name(MessageType type);

struct Message {
  MessageType type = MessageType::kAppend;
  ReplicaId from;
  ReplicaId to;
  Term term;
  // The sender's and the addressee's process incarnations (design 2.8): a leader forgets what it
  // knew of a follower whose incarnation grew, and a recovering replica ends its recovery only on a
  // message addressed to its own incarnation.
  uint64_t from_incarnation = 0;
  uint64_t to_incarnation = 0;
  // kAppend: the entry before `entries`. kAppendResponse: the last index accepted, or the rejected
  // index. kVote/kPreVote: the candidate's last entry.
  LogIndex log_index;
  Term log_term;
  std::vector<Entry> entries;
  LogIndex commit;
  // Responses: refused. kAppendResponse rejects carry the follower's hint (its last index, and
  // the term there) for fast backtracking.
  bool reject = false;
  LogIndex reject_hint;
  Term reject_hint_term;
  // Leader -> follower: the lease/ReadIndex round this message belongs to; echoed in responses.
  uint64_t round = 0;
  // Follower -> leader: the follower's durable (fsynced) log prefix, as the last entry's index and
  // term, so that a report older than a replaced tail cannot be taken for the leader's entries.
  LogIndex durable;
  Term durable_term;
  // Leader -> follower (kAppend, kHeartbeat): the index a SyncTo waits for; zero when none. A
  // follower reports its durable index after a WAL sync only while it has not reported up to it.
  LogIndex sync_index;
  // kVote/kPreVote: campaign of a leadership transfer, honoured despite the follower's promise.
  bool transfer = false;
  // kPreVoteResponse, kVoteResponse, kHeartbeatResponse: the sender is recovering (design 2.8).
  // kVote: recovering_quorum, a majority said so.
  bool recovering = false;
  bool recovering_quorum = false;
  // kSnapshot: what to install; the host fills it from Core::snapshot_meta() when it sends, and
  // may attach its data (the simulator does; real hosts pull it, design 3.3).
  std::optional<SnapshotMeta> snapshot;
  std::shared_ptr<const std::string> snapshot_data;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* role_name(Role role);

}  // namespace tessera::raft

template <>
struct fmt::formatter<tessera::raft::LogIndex> : fmt::formatter<uint64_t> {
  auto format(const tessera::raft::LogIndex& index, fmt::format_context& ctx) const {
    return fmt::formatter<uint64_t>::format(index.value(), ctx);
  }
};

// "host.store" with the store id in hex, e.g. "3.1f".
template <>
struct fmt::formatter<tessera::raft::ReplicaId> : fmt::formatter<std::string_view> {
  auto format(const tessera::raft::ReplicaId& r, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{}.{:x}", r.host.value(), r.store.value());
  }
};
