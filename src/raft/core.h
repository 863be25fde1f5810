// raft::Core: one replica of one bucket's Raft group, as a pure deterministic state machine
// (docs/design/2026-11-25-raft-buckets.md 2), in the style of etcd's raft library. It does no I/O,
// reads no clock, starts no thread and draws no randomness of its own: the host feeds it messages,
// proposals, reads and timer prompts, each with the host Clock's `now`, and carries out the Ready
// batches it hands back (persist, send, apply), telling it with advance() when one is done.
//
// Executor: a Core lives on one executor (its bucket's loop); every call is made from it.
// Failures: bad input from peers (a message from an unknown replica, an old term, a malformed
// conf change) is ignored or answered; kCorruption from the LogView makes the core `broken()`:
// it stops voting, acking and leading, and the host reports it. Bugs (a Ready advanced twice, a
// REQUIRES broken) assert.
//
// Time: timeouts are durations compared with the `now` of each input, never tick counts, because a
// stalled loop undercounts ticks and a leader would think its lease younger than it is.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "raft/log_view.h"
#include "raft/progress.h"
#include "raft/types.h"

namespace tessera::raft {

struct CoreOptions {
  ReplicaId self;
  // This process's incarnation (the log store's start_seq): grows at every start.
  uint64_t incarnation = 1;
  // Election timeout: random in [election_timeout_min, 2 x election_timeout_min).
  Duration election_timeout_min = std::chrono::milliseconds(600);
  Duration heartbeat_interval = std::chrono::milliseconds(100);
  // Serve reads from the leader lease (design 2.4); false leaves ReadIndex only.
  bool lease_reads = true;
  // Lease = round stamp + lease_fraction x election_timeout_min - lease_margin.
  double lease_fraction = 0.9;
  Duration lease_margin = std::chrono::milliseconds(20);
  // Flow control (design 2.3).
  uint64_t max_msg_bytes = uint64_t{256} * 1024;
  uint32_t max_inflight_msgs = 64;
  uint64_t max_inflight_bytes = uint64_t{4} * 1024 * 1024;
  uint64_t max_uncommitted_bytes = uint64_t{8} * 1024 * 1024;
  uint64_t max_payload_bytes = uint64_t{1024} * 1024;
  // Seed of the election-timeout jitter (the host derives it from its own randomness).
  uint64_t seed = 1;
  // Hibernation (design 5.2): a leader idle this long, with every replica caught up, committed
  // and durable, asks its group to stop ticking. Zero: never. The host must then wake() a
  // hibernated follower whose leader's process died or restarted (per-peer liveness).
  Duration hibernate_after = Duration::zero();
};

// Where the replica starts: what its host loaded from the log store.
//
// Bootstrap rule: a group is created with its first configuration as a snapshot, its log's
// snapshot point at index 1 (term 1) and `config` set, on every founding replica alike. No log
// holds entry 1, so a replica added later learns the configuration from a snapshot, never by
// replaying a log that does not contain it (it would end up believing it was the only voter). A
// replica added later starts with an empty configuration and an empty log.
struct InitialState {
  HardState hard_state;
  // The configuration of the state machine as applied (BucketState.conf), or of the snapshot.
  Config config;
  LogIndex applied;
  // The replica may have lost acknowledged entries in an OS crash (design 2.8): it acks what it
  // holds but neither campaigns nor votes until it has caught up with a leader.
  bool recovering = false;
};

// Role, leader and lease: for routing, status and the simulator's invariants.
struct SoftState {
  Role role = Role::kFollower;
  ReplicaId leader;
  Term term;
  friend bool operator==(const SoftState&, const SoftState&) = default;
};

struct ReadState {
  ReadId id;
  // Serve the read once the state machine has applied at least this index.
  LogIndex index;
};

// One batch of work for the host, to be done in this order: (1) install `snapshot` if set; (2)
// write `hard_state` and `entries` (dropping stored entries >= entries.front().index), fsynced
// before step 4 if `must_sync`; (3) send `messages` at once (they depend on nothing unwritten);
// (4) once the writes of (1)-(2) reached the OS, send `after_persist`; (5) apply `committed` in
// order; (6) serve `reads` once applied; then advance(ready).
struct Ready {
  uint64_t id = 0;
  std::optional<SoftState> soft_state;
  std::optional<HardState> hard_state;
  bool must_sync = false;
  bool recovered = false;  // The replica stopped recovering; clear the store's marker.
  std::optional<SnapshotMeta> snapshot;
  std::shared_ptr<const std::string> snapshot_data;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<Message> after_persist;
  std::vector<Entry> committed;
  std::vector<ReadState> reads;
  // Reads that will never be served here (leadership lost): answer "not leader".
  std::vector<ReadId> failed_reads;
  bool empty() const;
};

class Core {
 public:
  // REQUIRES: `log` outlives the core and holds what `initial` describes (applied <= commit <=
  // log->last_index(), or commit == snapshot point).
  Core(const CoreOptions& options, const InitialState& initial, const LogView* log, Time now);
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // A peer's message. Messages from other groups or replicas not in the configuration are ignored
  // unless they carry a higher term and the core may learn from them.
  void step(const Message& message, Time now);
  // Checks the timers: election, heartbeat, CheckQuorum, transfer abandonment, hibernation. Call
  // at least every heartbeat_interval while the replica is awake (not hibernated()); a
  // hibernated replica ignores ticks.
  void tick(Time now);
  // Ends hibernation. The host calls it on a follower whose leader's process is dead or restarted
  // (it campaigns within a random election_timeout_min, still keeping its promise to the leader
  // it last heard), and on a leader whose follower's process restarted (it probes it). Any
  // message, proposal, read, change or transfer wakes a replica by itself. No-op when awake.
  void wake(Time now);
  // Leader only. kFailedPrecondition "not leader" (leader() is the hint), kBusy (flow control),
  // kAborted (a transfer is under way), kInvalidArgument (payload too large).
  Result<EntryId> propose(std::string payload, Time now);
  // A configuration change (design 2.5). Also kFailedPrecondition when another change is pending
  // or this one is refused by the rules.
  Result<EntryId> propose_conf_change(const ConfChange& change, Time now);
  // A linearizable read: answered in a later Ready's `reads` (or `failed_reads`).
  // kFailedPrecondition "not leader" at once when this replica is not the leader.
  Status request_read(ReadId id, Time now);
  // Hands leadership to `target` (a caught-up voter). kFailedPrecondition if not leader or not a
  // voter.
  Status transfer_leadership(ReplicaId target, Time now);
  // The transport could not reach `peer`: the leader sends it probes, not a stream.
  void report_unreachable(ReplicaId peer);
  // The host's snapshot send to `peer` failed: back to probing.
  void report_snapshot_failed(ReplicaId peer);
  // The log store's fsync watermark: every entry up to (index, term) is durable here.
  void report_durable(EntryId durable);
  // Leader: someone waits until `index` is durable on a majority (SyncTo). Asks the voters not
  // yet known durable there to report once their WAL sync covers it (2026-12-04 note, 2.2);
  // without it they report only in their answers. Nothing elsewhere.
  void want_durable(LogIndex index);

  bool has_ready() const;
  // REQUIRES: has_ready() and no Ready outstanding.
  Ready ready();
  // The host finished `ready`. REQUIRES: it is the outstanding one.
  // (Durability: the core claims nothing durable until the host reports it with
  // report_durable(), not even what it loaded at start.)
  void advance(const Ready& ready);

  // For status, routing and invariants.
  const SoftState& soft_state() const { return soft_; }
  Term term() const { return hard_.term; }
  Role role() const { return soft_.role; }
  ReplicaId leader() const { return soft_.leader; }
  ReplicaId self() const { return options_.self; }
  LogIndex commit() const { return hard_.commit; }
  LogIndex applied() const { return applied_; }
  LogIndex last_index() const;
  // The highest index durable on a majority of voters (leader only; zero elsewhere).
  LogIndex quorum_durable() const { return quorum_durable_; }
  LogIndex durable() const { return durable_.index; }
  const Config& config() const { return config_; }
  bool recovering() const { return recovering_; }
  bool broken() const { return broken_; }
  // Stopped ticking (design 5.2): a follower refuses (pre)votes and keeps no election timer; a
  // leader holds no lease and sends no heartbeats. Ready batches still flow (applies, answers).
  bool hibernated() const { return hibernated_; }
  // Until when this leader may serve reads without a round (Time::min() when it holds no lease:
  // not leader, lease reads off, or a transfer started in this term).
  Time lease_until() const { return lease_until_; }
  // The snapshot of the state machine as applied now (index applied(), its term, config()).
  SnapshotMeta snapshot_meta() const;
  // Progress of each other replica (leader only).
  const std::map<ReplicaId, Progress>& progress() const { return progress_; }
  // The term at `index`, from unstable entries or the log.
  Result<Term> term_at(LogIndex index) const;

 private:
  // Implementation in core.cc; declared there as needed.
  struct PendingRead {
    ReadId id;
    LogIndex index;
    uint64_t round;
  };

  void become_follower(Term term, ReplicaId leader, Time now);
  void become_pre_candidate(Time now);
  void become_candidate(Time now, bool transfer);
  void become_leader(Time now);
  void campaign(Time now, bool pre_vote, bool transfer, bool recovering_quorum = false);
  void reset_election_timer(Time now);

  bool step_term(const Message& m, Time now);
  void step_leader(const Message& m, Time now);
  void step_candidate(const Message& m, Time now);
  void step_follower(const Message& m, Time now);
  void handle_vote_request(const Message& m, Time now);
  void handle_vote_response(const Message& m, Time now);
  void handle_append(const Message& m, Time now);
  void handle_heartbeat(const Message& m, Time now);
  void handle_snapshot(const Message& m, Time now);
  void handle_hibernate(const Message& m, Time now);
  void handle_hibernate_response(const Message& m, Progress& pr);
  // Leader: asks the group to hibernate when it has been idle long enough (from tick()).
  void maybe_hibernate(Time now);
  bool idle_and_caught_up() const;
  void wake_leader(Time now);
  // A message sent before the group fell asleep (its round is not newer than the hibernation's):
  // it must not wake a hibernated replica.
  bool stale_for_hibernation(const Message& m) const;
  // The leader did work that keeps the group awake: restarts the idle clock, cancels a request.
  void note_activity(Time now);
  void handle_append_response(const Message& m, Progress& pr, Time now);
  void handle_heartbeat_response(const Message& m, Progress& pr, Time now);
  void note_round_ack(ReplicaId from, uint64_t round, Time now);

  Message reply_to(const Message& m, MessageType type) const;
  // A leader's message to `peer` in this term, addressed to the incarnation `pr` knows.
  Message to_follower(MessageType type, ReplicaId peer, const Progress& pr) const;
  void send(Message m);
  // Sends appends (or a snapshot) to `peer` as its progress allows; false if nothing was sent.
  bool send_append(ReplicaId peer, bool send_if_empty);
  void send_timeout_now(ReplicaId peer);
  void broadcast_append();
  void note_durable(const Message& m, Progress& pr);
  // Follower: the leader's Message::sync_index.
  void note_sync_wanted(const Message& m);
  // Stamps a follower's message with its durable index, and notes it as reported.
  void set_durable(Message& m);
  Status not_leader() const;
  Result<EntryId> propose_entry(EntryType type, std::string payload);
  void start_round(Time now);
  void broadcast_heartbeat(Time now);
  bool maybe_commit();
  bool lease_usable(Time now) const;
  void serve_read(ReadId id, Time now);
  void release_reads();
  void update_quorum_durable();
  void fail_pending_reads();
  void append_entry(EntryType type, std::string payload);

  EntryId snapshot_point() const;
  LogIndex persisted_last_index() const;
  Result<std::vector<Entry>> entries_between(LogIndex from, LogIndex to, uint64_t max_bytes) const;
  bool is_up_to_date(LogIndex last_index, Term last_term) const;
  Term last_term() const;
  LogIndex find_conflict_by_term(LogIndex index, Term term) const;
  // Appends `entries` (contiguous) after dropping the unstable and stored tail from their first
  // index. Returns false if that would drop a committed entry (the core is then broken).
  bool append_unstable(std::vector<Entry> entries);
  void apply_config_change(const Entry& entry);
  void mark_broken(const Status& status);
  bool promise_holds(Time now) const;
  Duration random_election_timeout();

  CoreOptions options_;
  const LogView* log_;
  HardState hard_;
  HardState persisted_hard_;
  SoftState soft_;
  SoftState reported_soft_;
  Config config_;
  LogIndex applied_;
  // Committed entries handed out in the outstanding Ready (applied_ moves on advance).
  LogIndex applying_;
  bool recovering_ = false;
  bool recovered_to_report_ = false;
  bool broken_ = false;

  // Entries not yet persisted: indexes unstable_[0].index ... Some may be handed out in the
  // outstanding Ready already (`unstable_handed_`).
  std::vector<Entry> unstable_;
  size_t unstable_handed_ = 0;
  // Bumped whenever unstable entries are dropped or replaced, so that advance() does not drop
  // entries that were not in the Ready it acknowledges.
  uint64_t unstable_generation_ = 0;
  uint64_t handed_generation_ = 0;
  std::optional<SnapshotMeta> pending_snapshot_;
  std::shared_ptr<const std::string> pending_snapshot_data_;
  bool snapshot_handed_ = false;
  std::vector<Message> messages_;
  std::vector<Message> after_persist_;
  std::vector<ReadState> ready_reads_;
  std::vector<ReadId> failed_reads_;
  std::optional<uint64_t> outstanding_ready_;
  uint64_t next_ready_id_ = 1;
  EntryId durable_;
  // Leader: the highest index a SyncTo waits for in this term. Follower: the highest its leader
  // of this term asked for (Message::sync_index), and the durable index last sent to it.
  LogIndex sync_wanted_;
  LogIndex durable_reported_;

  // Timers.
  Time started_;
  // The latest `now` of any input: for work done in advance(), which has no time of its own. It
  // is never ahead of the true time, so a round stamped with it errs towards a shorter lease.
  Time last_now_;
  Time election_deadline_;
  Time last_heard_leader_;
  Time next_heartbeat_;
  uint64_t rng_state_;

  // Candidate.
  std::map<ReplicaId, bool> votes_;
  std::map<ReplicaId, bool> pre_vote_recovering_;
  bool campaign_transfer_ = false;

  // Leader.
  std::map<ReplicaId, Progress> progress_;
  LogIndex pending_conf_index_;
  std::optional<ReplicaId> transfer_target_;
  Time transfer_deadline_;
  bool transferred_this_term_ = false;
  bool committed_own_term_ = false;
  uint64_t round_ = 0;
  // Whether the current round's messages were handed out already (a read then needs a new round,
  // whose messages leave after the read arrived).
  bool round_handed_ = true;
  std::deque<std::pair<uint64_t, Time>> round_stamps_;  // (round, stamp), oldest first.
  std::map<ReplicaId, uint64_t> acked_round_;
  std::map<ReplicaId, Time> last_heard_;
  Time lease_until_ = Time::min();
  std::vector<PendingRead> pending_reads_;
  // Reads that arrived before this term's first commit.
  std::vector<ReadId> reads_waiting_for_commit_;
  LogIndex quorum_durable_;
  // Proposals of this term not yet committed, as (index, bytes), for max_uncommitted_bytes.
  std::deque<std::pair<LogIndex, uint64_t>> uncommitted_;
  uint64_t uncommitted_bytes_ = 0;
  // Candidate: the campaign counts recovering voters' grants (design 2.8).
  bool campaign_recovering_quorum_ = false;
  std::map<ReplicaId, uint64_t> peer_incarnation_;

  // Hibernation (design 5.2).
  bool hibernated_ = false;
  Time last_activity_;  // Leader: the last proposal, read, change or transfer.
  // Leader: the last index a Hibernate request was sent at (none: no request out), and who
  // accepted it.
  std::optional<LogIndex> hibernate_index_;
  std::set<ReplicaId> hibernate_accepted_;
  // The leader's round when the group fell asleep (the Hibernate request carries it).
  uint64_t hibernate_round_ = 0;
};

}  // namespace tessera::raft
