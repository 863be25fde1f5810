// The `raft` workload: five pure raft::Core replicas on simulated hosts, disks and network, with
// clients and faults (see raft_workload.h).
//
// How it runs. One dispatcher task owns a queue of timed events in true (FakeClock) time: message
// deliveries, client requests reaching a host, a host's ticks (every heartbeat_interval of its own
// drifting clock, converted to true time), the landing of a Ready's write, syncs, restarts and the
// end of pauses. It handles one event per step (it yields between events that fall at the same
// time), so invariants are checked between any two events. A per-host coroutine would cost two
// steps per message (a wake-up to re-arm its timer, then the delivery); the queue costs one, and a
// host's events are still handled in the order of its own clock. Clients and the fault schedule are
// tasks of their own.
//
// A host handles each Ready in the documented order: messages are sent at once; the write
// (snapshot, hard state, entries) lands on the OS-visible disk after a seeded latency (often zero,
// sometimes a slow disk), and only then: fsync if must_sync, after_persist sent, committed applied,
// reads served, advance. A kill -9 before the landing loses the write, as a process killed in
// write() would. A syncer per host copies what landed to the synced copy 2 ms after the first
// unsynced write (sometimes 50-500 ms: a slow fsync) and reports it with report_durable(). Opening
// the store after a crash syncs what it recovered (RocksDB flushes the WAL it replays; the core
// takes the log's snapshot point as durable from the start). Replicas are founded with the
// configuration as a snapshot at index 1 (the core's bootstrap rule). A snapshot message carries
// the sender's state machine; its stream has a 1 s deadline after which the transport reports it
// failed if the core still waits for the answer (the core has no "snapshot done" input, and a lost
// answer would otherwise leave the follower behind forever).
//
// Faults (seeded, ~30 s, then 10 s healed with the clients still running): kill -9 (often of a
// host with a write in flight) and restart after 0.1-3 s; power loss of one or two hosts (never
// more than M = 2 amnesic at once); a power blip of a leader right after its election; pauses of
// 0.6-3.6 s (the leader's often); partitions of 0.5-5 s (two hosts either or both ways, the leader
// from all or from one follower, a two-host minority, the leader deaf or mute one way);
// leadership transfers; message loss, duplication, reordering and 3-50 ms delays; compaction.
// In a tenth of the seeds every host loses power at once right after an election (design 8), and
// again after later ones: beyond the contract, acknowledged writes may be lost, so from the first
// blackout on only invariants 1, 2, 3d and 5 and the convergence are checked.
//
// Hibernation (design 5.2): in half the seeds CoreOptions::hibernate_after is 200-1500 ms. Those
// seeds model per-peer liveness as tessd does (liveness frames, a peer dead after 600 ms without a
// frame or restarted when its incarnation grows; the host wakes a hibernated follower whose leader
// is dead or restarted, and a hibernated leader whose follower restarted; see "Liveness" below),
// the clients fall silent now and then for hibernate_after plus 0.5-4 s so that the group goes to
// sleep under the faults, and in half of them the links deliver in order (as the real transport's
// one connection per peer does; with reordering a group rarely stays asleep for long).
//
// Invariants, after every event (a violation ends the run with the seed, the step and the trace):
//  1. One leader per term: the first process seen as leader of term T is the only one ever seen
//     leading T (the same replica restarted counts as another: its term and vote were synced, so
//     it cannot lead T again), and every replica that names a leader of term T in its soft state
//     names that replica.
//  2. Leases and reads, in true time (DriftingClock::to_base). E(T) = the true time at which the
//     leader of T was first seen leading (after the input that made it leader).
//     a. The lease of a term ends before any later term's leader is elected: for T < T',
//        max over T's leadership of to_base(lease_until()) <= E(T'). A lease counts only until
//        the leader sends MsgTimeoutNow in that term (design 2.4: it never uses its lease again),
//        so that time caps it.
//     b. A read answered (Ready.reads) by the leader of term T that was requested (request_read)
//        at true time t satisfies t < E(T') for every later term T'. Lease reads and ReadIndex
//        reads both guarantee it (the lease ends before E(T'); a ReadIndex round is acked by a
//        quorum after t, one of whose members must vote for T'), so it checks what was served,
//        not only what the lease said.
//  3. The committed log:
//     a. It never changes: the first time any replica hands out index i in Ready.committed the
//        workload records (term, hash of payload); every later hand-out of i must match.
//     b. Every replica's OS-visible log matches the record up to min(its last index, its own
//        commit) (checked after every change on the entry at that index; by Log Matching it
//        covers the prefix), and any written entry with the recorded term at a recorded index has
//        the recorded payload. (Not up to the highest commit of the group: a replica that missed
//        the last leader legitimately holds uncommitted entries of an old term at indexes
//        committed since, until the new leader overwrites them.)
//     c. The entry at every replica's commit index is in the OS-visible log (or below the
//        snapshot point) of a majority of the voters, counting replicas that lost power and have
//        not recovered yet (at most M = 2 at any time, by construction of the fault schedule).
//     d. The entry at min(quorum_durable, commit) of every leader is in the *synced* log (or
//        below the synced snapshot point) of a majority of the voters.
//  4. Each replica's state machine (OS-visible) equals a replay of the committed record up to
//     its applied index: an order-free digest (XOR of hash(key, value)) compared with the
//     workload's own replay, after every apply, snapshot installation and restart.
//  5. commit <= last index, applied <= commit; commit and applied never go back within one
//     process; quorum_durable never goes back while one leader leads one term; durable() is a true
//     claim: the synced log holds the core's entry at that index. (durable() itself may go back:
//     the core lowers it when a new leader overwrites the synced tail and zeroes it when a
//     snapshot replaces the log, both rightly.)
//  6. Every mutation a client saw acknowledged is in the committed record at its EntryId.
// At the end (partitions healed, pauses ended, every host up, clients stopped): within 20 s one
// leader, every replica on its term with applied == the leader's commit == its last index, no
// follower recovering (a leader elected while recovering stays so: the core ends recovery only
// on an append); every replica's log equals the record from its snapshot point on; a
// linearizable get of each key returns the replayed value; and the clients' history passes
// check_kv_history (unknown-outcome mutations whose proposal never committed are dropped: the
// final record proves they never took effect; unanswered gets are dropped: they constrain nothing).
#include "sim/raft_workload.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "base/fault_points.h"
#include "raft/core.h"
#include "raft/log_view.h"
#include "sim/linearizability.h"

namespace tessera::sim {

namespace {

using namespace std::chrono_literals;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using TimePoint = Clock::TimePoint;
using Duration = Clock::Duration;
using raft::Entry;
using raft::EntryId;
using raft::LogIndex;
using raft::Message;
using raft::MessageType;
using raft::ReplicaId;
using raft::Role;
using OpKind = KvOperation::Kind;

constexpr size_t kReplicas = 5;
constexpr size_t kQuorum = kReplicas / 2 + 1;
constexpr size_t kMaxAmnesic = 2;  // M: replicas that may have lost unsynced data at once.
constexpr size_t kMaxDown = 2;
constexpr size_t kKeys = 4;
constexpr auto kChaos = 30s;
constexpr auto kHealed = 10s;
constexpr auto kConverge = 20s;
constexpr auto kOpDeadline = 1s;
constexpr auto kFinalReadDeadline = 5s;
constexpr auto kElectionTimeoutMin = milliseconds(600);
constexpr auto kHeartbeat = milliseconds(100);
constexpr auto kSyncInterval = milliseconds(2);
constexpr auto kSnapshotDeadline = 1s;
// Liveness (design 5.2; bucket::RaftTransportOptions::liveness_interval and
// BucketHostOptions::liveness_timeout).
constexpr auto kLivenessInterval = milliseconds(200);
constexpr auto kLivenessTimeout = milliseconds(600);

uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t hash_bytes(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a.
  for (char c : bytes) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return mix64(hash);
}

int64_t nanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

double seconds_of(Duration d) { return std::chrono::duration<double>(d).count(); }

const char* kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kPut:
      return "put";
    case OpKind::kGet:
      return "get";
    case OpKind::kDelete:
      return "delete";
    case OpKind::kCas:
      return "cas";
  }
  return "?";
}

// ---- State machine commands ----

struct Command {
  OpKind kind = OpKind::kPut;
  uint64_t client = 0;
  uint64_t request = 0;  // The client's attempt id: unique per proposal.
  std::string key;
  std::string value;
  std::optional<std::string> expected;
};

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_string(std::string& out, const std::string& s) {
  put_u64(out, s.size());
  out += s;
}

class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ == bytes_.size(); }
  uint8_t byte() {
    if (pos_ + 1 > bytes_.size()) return fail_byte();
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  uint64_t u64() {
    if (pos_ + 8 > bytes_.size()) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(bytes_[pos_++])} << (8 * i);
    return v;
  }
  std::string str() {
    uint64_t size = u64();
    if (!ok_ || size > bytes_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string out = bytes_.substr(pos_, size);
    pos_ += size;
    return out;
  }

 private:
  uint8_t fail_byte() {
    ok_ = false;
    return 0;
  }
  const std::string& bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

std::string encode_command(const Command& c) {
  std::string out;
  out.push_back('C');
  out.push_back(static_cast<char>(c.kind));
  put_u64(out, c.client);
  put_u64(out, c.request);
  put_string(out, c.key);
  put_string(out, c.value);
  out.push_back(c.expected ? 1 : 0);
  if (c.expected) put_string(out, *c.expected);
  return out;
}

std::optional<Command> decode_command(const std::string& payload) {
  Reader in(payload);
  Command c;
  if (in.byte() != 'C') return std::nullopt;
  uint8_t kind = in.byte();
  if (kind > static_cast<uint8_t>(OpKind::kCas) || kind == static_cast<uint8_t>(OpKind::kGet)) {
    return std::nullopt;
  }
  c.kind = static_cast<OpKind>(kind);
  c.client = in.u64();
  c.request = in.u64();
  c.key = in.str();
  c.value = in.str();
  if (in.byte() != 0) c.expected = in.str();
  if (!in.ok() || !in.done()) return std::nullopt;
  return c;
}

// ---- The replicated state machine ----

// A key-value map with its applied index and configuration, and an order-free digest of its
// contents (XOR of a hash of every pair), so that two states compare in O(1).
struct KvState {
  std::map<std::string, std::string> kv;
  uint64_t digest = 0;
  LogIndex applied;
  raft::Config config;

  static uint64_t pair_digest(const std::string& key, const std::string& value) {
    return mix64(hash_bytes(key) ^ mix64(hash_bytes(value) + 0x51));
  }
  std::optional<std::string> get(const std::string& key) const {
    auto it = kv.find(key);
    if (it == kv.end()) return std::nullopt;
    return it->second;
  }
  void put(const std::string& key, const std::string& value) {
    auto [it, inserted] = kv.try_emplace(key, value);
    if (!inserted) {
      digest ^= pair_digest(key, it->second);
      it->second = value;
    }
    digest ^= pair_digest(key, value);
  }
  void erase(const std::string& key) {
    auto it = kv.find(key);
    if (it == kv.end()) return;
    digest ^= pair_digest(key, it->second);
    kv.erase(it);
  }
  // Returns the CAS outcome (true for the other kinds).
  bool execute(const Command& c) {
    switch (c.kind) {
      case OpKind::kPut:
        put(c.key, c.value);
        return true;
      case OpKind::kDelete:
        erase(c.key);
        return true;
      case OpKind::kCas: {
        if (get(c.key) != c.expected) return false;
        put(c.key, c.value);
        return true;
      }
      case OpKind::kGet:
        return true;
    }
    return true;
  }
  // Applies committed entry `e`; an empty string, or why it could not.
  std::string apply(const Entry& e, bool* cas_ok) {
    *cas_ok = true;
    if (e.index != applied.next()) {
      return fmt::format("entry {} applied after {}", e.index, applied);
    }
    applied = e.index;
    switch (e.type) {
      case raft::EntryType::kEmpty:
        return "";
      case raft::EntryType::kCommand: {
        std::optional<Command> c = decode_command(e.payload);
        if (!c) return fmt::format("entry {} is not a well-formed command", e.index);
        *cas_ok = execute(*c);
        return "";
      }
      case raft::EntryType::kConfChange: {
        std::optional<raft::ConfChange> change = raft::decode_conf_change(e.payload);
        if (!change) return fmt::format("entry {} is not a well-formed conf change", e.index);
        // A change that raced another is skipped, by every replica alike (as the core does).
        if (config.refusal(*change).empty()) config = config.applied(*change);
        return "";
      }
    }
    return fmt::format("entry {} has an unknown type", e.index);
  }
  std::string serialize() const {
    std::string out;
    put_u64(out, kv.size());
    for (const auto& [key, value] : kv) {
      put_string(out, key);
      put_string(out, value);
    }
    return out;
  }
  bool restore(const std::string& data) {
    Reader in(data);
    uint64_t count = in.u64();
    std::map<std::string, std::string> restored;
    uint64_t restored_digest = 0;
    for (uint64_t i = 0; i < count && in.ok(); ++i) {
      std::string key = in.str();
      std::string value = in.str();
      restored_digest ^= pair_digest(key, value);
      restored.emplace(std::move(key), std::move(value));
    }
    if (!in.ok() || !in.done()) return false;
    kv = std::move(restored);
    digest = restored_digest;
    return true;
  }
};

// ---- The simulated disk ----

struct DiskState {
  raft::HardState hard;
  raft::MemoryLog log;
  KvState machine;
  bool recovering = false;  // The store's marker (design 2.8).
};

// One atomic write to the log store (a RocksDB write batch in tessd). A power loss keeps the
// synced state and a prefix of the batches written since.
struct Batch {
  std::optional<raft::SnapshotMeta> snapshot;
  std::shared_ptr<const std::string> snapshot_data;
  std::optional<raft::HardState> hard;
  std::vector<Entry> entries;
  std::vector<Entry> applied;  // Committed entries applied to the state machine.
  std::optional<LogIndex> compact_through;
  std::optional<bool> recovering;
  bool empty() const {
    return !snapshot && !hard && entries.empty() && applied.empty() && !compact_through &&
           !recovering;
  }
};

// Applies `batch` to `disk`; an empty string, or what went wrong (a workload or core bug).
std::string apply_batch(DiskState& disk, const Batch& batch, bool apply_entries) {
  if (batch.snapshot) {
    if (!batch.snapshot_data || !disk.machine.restore(*batch.snapshot_data)) {
      return fmt::format("snapshot at {} without well-formed data", batch.snapshot->index);
    }
    disk.machine.applied = batch.snapshot->index;
    disk.machine.config = batch.snapshot->config;
    disk.log.reset(EntryId{batch.snapshot->index, batch.snapshot->term});
  }
  if (batch.hard) disk.hard = *batch.hard;
  if (!batch.entries.empty()) {
    LogIndex first = batch.entries.front().index;
    if (first <= disk.log.snapshot_point().index || first > disk.log.last_index().next()) {
      return fmt::format("entries from {} written to a log holding ({}, {}]", first,
                         disk.log.snapshot_point().index, disk.log.last_index());
    }
    disk.log.append(batch.entries);
  }
  if (apply_entries) {
    for (const Entry& e : batch.applied) {
      bool cas_ok = false;
      std::string problem = disk.machine.apply(e, &cas_ok);
      if (!problem.empty()) return problem;
    }
  }
  if (batch.compact_through) disk.log.compact(*batch.compact_through);
  if (batch.recovering) disk.recovering = *batch.recovering;
  return "";
}

// ---- Events ----

struct Event {
  enum class Kind : uint8_t {
    kMessage,         // `message` reaches `host` (sent by host `from`).
    kClientRequest,   // A client's attempt `number` reaches `host`.
    kTick,            // `host`'s timer prompt.
    kLand,            // The outstanding Ready's write reached the OS.
    kSync,            // The syncer's fsync.
    kUnreachable,     // The transport could not reach `peer`.
    kSnapshotFailed,  // The snapshot sent to `peer` was lost.
    kRestart,         // The host boots (`number` != 0: after a power loss).
    kResume,          // Pause `number` of the host ends.
    kPowerLoss,       // A power blip of the process `incarnation` (restarts soon after).
    kPowerLossAll,    // Every host loses power at once (beyond the contract).
    kLiveness,        // A liveness frame of host `from` (its process `from_incarnation`).
  };
  Kind kind = Kind::kTick;
  size_t host = 0;
  uint64_t incarnation = 0;  // The process it is for; stale events are dropped.
  uint64_t number = 0;
  size_t from = 0;  // kMessage: the sender, and its process.
  uint64_t from_incarnation = 0;
  ReplicaId peer;
  Message message;
};

// ---- Clients and the history ----

struct OpRecord {
  enum class State : uint8_t { kRunning, kAnswered, kUnknown, kNotDone };
  KvOperation op;
  std::optional<EntryId> entry;  // The one proposal made for it, if any.
  State state = State::kRunning;
};

struct Waiter {
  enum class Reply : uint8_t { kOk, kNotLeader, kBusy, kUnknown };
  boost::asio::steady_timer* timer = nullptr;
  bool replied = false;
  Reply reply = Reply::kUnknown;
  std::optional<std::string> value;
  bool cas_ok = false;
  std::optional<size_t> hint;
};

struct Client {
  SimRandom random{0};
  size_t leader_guess = 0;
  std::vector<std::string> keys;
  std::map<std::string, std::deque<std::string>> recent;  // Values seen per key, newest last.
  uint64_t seq = 0;
};

// ---- Hosts ----

struct Proposal {
  Term term;
  uint64_t attempt = 0;
};

struct RequestedRead {
  uint64_t attempt = 0;
  Term term;
  TimePoint requested_at;
};

struct Host {
  size_t index = 0;
  ReplicaId id;
  std::string name;
  std::unique_ptr<DriftingClock> clock;
  SimRandom random{0};  // Core seeds.
  // The disk: what the OS shows, what the last fsync covered, and the batches in between.
  DiskState os;
  DiskState synced;
  std::vector<Batch> unsynced;
  uint64_t incarnation = 0;
  bool amnesic = false;     // Lost power and has not recovered yet.
  bool power_lost = false;  // Lost power since its last start.
  bool restart_pending = false;
  // The process (core null while down).
  std::unique_ptr<raft::Core> core;
  std::optional<raft::Ready> in_flight;  // Handed out; its write has not landed.
  bool sync_scheduled = false;
  TimePoint paused_until = TimePoint::min();
  uint64_t pause_id = 0;
  std::vector<Event> deferred;  // Events that came during a pause.
  std::map<LogIndex, Proposal> proposals;
  std::map<uint64_t, RequestedRead> reads;        // By ReadId.
  std::multimap<LogIndex, uint64_t> ready_reads;  // Confirmed, waiting for applied >= index.
  // Liveness (design 5.2), as this process's transport and host see it: when (this host's clock)
  // a frame from each peer host last arrived and the highest incarnation it carried, when this
  // process last sent each peer a frame, and each peer's incarnation as the last liveness check
  // saw it (a growth since: the peer restarted).
  struct Heard {
    raft::Time at;
    uint64_t incarnation = 0;
  };
  std::map<size_t, Heard> heard;
  std::map<size_t, raft::Time> last_sent;
  std::map<size_t, uint64_t> seen_incarnation;
  bool seen_hibernated = false;  // For the trace.
  // Observations of this process (invariants 1, 2, 5).
  Term leading_term;
  LogIndex seen_commit;
  LogIndex seen_applied;
  LogIndex seen_durable;
  LogIndex seen_quorum_durable;
  bool up() const { return core != nullptr; }
};

struct TermRecord {
  ReplicaId leader;
  size_t host = 0;
  uint64_t incarnation = 0;  // Of the leader's process: a restarted process is another leader.
  TimePoint elected;
  TimePoint lease_end = TimePoint::min();         // True time.
  TimePoint timeout_now_sent = TimePoint::max();  // First MsgTimeoutNow of the term.
  TimePoint effective_lease_end() const { return std::min(lease_end, timeout_now_sent); }
};

struct CommittedRecord {
  Term term;
  uint64_t hash = 0;
};

class RaftWorkload final : public Workload {
 public:
  explicit RaftWorkload(Simulation& simulation);
  Task<Status> run() override;
  Status check_invariants() override;

 private:
  TimePoint now() const { return sim_.clock().now(); }
  void fail(std::string what);

  // Events.
  void push(TimePoint at, Event event);
  Task<void> dispatcher();
  void handle(Event event);
  void handle_client_request(Host& host, uint64_t attempt);

  // Processes.
  void start_process(size_t index, bool after_power_loss);
  void kill_process(size_t index, const char* why);
  void power_loss(size_t index);
  void restart_at(size_t index, TimePoint at, bool after_power_loss);
  void lose_power_everywhere();
  void pause(size_t index, Duration duration);
  void resume(size_t index);
  void schedule_tick(Host& host);
  void pump(Host& host);
  void land(Host& host);
  void persist(Host& host, Batch batch, bool applied_to_os);
  void sync_now(Host& host);
  void schedule_sync(Host& host);
  void maybe_compact(Host& host);
  void serve_ready_reads(Host& host);
  void serve_read(Host& host, uint64_t read_id);
  void send(Host& host, Message message);
  void transport_failed(size_t from, uint64_t from_incarnation, const Message& message);
  bool blocked(size_t from, size_t to) const;
  // Liveness (design 5.2), in seeds with hibernation.
  void hear(Host& host, size_t from, uint64_t from_incarnation);
  void send_liveness(Host& host);
  void check_liveness(Host& host);
  std::optional<size_t> host_of(ReplicaId replica) const;
  Duration write_latency();
  Duration message_latency();
  Duration message_latency(SimRandom& random);
  // When a frame sent now on from -> to with `latency` arrives (ordered links: not before the
  // frames sent on it earlier).
  TimePoint delivery_time(size_t from, size_t to, Duration latency);
  Duration client_latency();

  // Invariants.
  void observe(Host& host);
  void on_new_leader(Host& host, Term term, TermRecord& record);
  void check_lease(Term term, const TermRecord& record);
  void record_committed(Host& host, const Entry& entry);
  void check_written(Host& host, const Batch& batch);
  void check_machine(Host& host, const char* when);
  void check_holders();
  bool holds(const raft::MemoryLog& log, LogIndex index, Term term) const;

  // Clients.
  void reply(uint64_t attempt, Waiter::Reply reply, std::optional<std::string> value, bool cas_ok,
             std::optional<size_t> hint);
  void fail_proposals(Host& host);
  std::optional<size_t> leader_hint(const Host& host) const;
  Task<void> client_loop(size_t client);
  KvOperation next_op(size_t client);
  Task<bool> run_op(size_t client, KvOperation op, Duration budget);
  Task<void> quiet_periods();

  // Faults and the end.
  Task<void> chaos();
  void chaos_step();
  void partition(size_t from, size_t to, Duration duration, bool both_ways);
  std::optional<size_t> current_leader() const;
  size_t down_count() const;
  size_t amnesic_count() const;
  void heal();
  bool converged(std::string* why) const;
  Task<Status> finish();

  Simulation& sim_;
  TimePoint start_;  // Times in messages are since then, as in the trace.
  SimRandom net_random_;
  SimRandom disk_random_;
  SimRandom chaos_random_;
  // Per-seed fault intensities.
  uint64_t drop_ppm_ = 0;
  uint64_t duplicate_ppm_ = 0;
  uint64_t slow_message_ppm_ = 0;
  uint64_t instant_write_ppm_ = 0;
  uint64_t slow_write_ppm_ = 0;
  uint64_t slow_sync_ppm_ = 0;
  uint64_t compact_ppm_ = 0;
  uint64_t tail_survives_ppm_ = 0;
  // Hibernation (design 5.2): CoreOptions::hibernate_after in half the seeds (zero: off). Those
  // seeds also model per-peer liveness (frames every kLivenessInterval, dead after
  // kLivenessTimeout) and give the clients quiet periods, so that the group falls asleep.
  Duration hibernate_after_ = Duration::zero();
  SimRandom liveness_random_;
  SimRandom quiet_random_;
  // Which proposals a client then waits to see durable on a majority (SyncTo: want_durable).
  SimRandom sync_random_;
  TimePoint quiet_until_ = TimePoint::min();
  // In half the seeds with hibernation, every link delivers in order, as bucket::RaftTransport's
  // one connection per peer does (a Ready's messages to a peer share a frame; frames arrive in
  // order). Elsewhere the network reorders messages, even those of one Ready: a Hibernate that
  // overtakes the heartbeat sent with it is accepted, and the late heartbeat wakes the follower
  // again (likewise a late answer the leader), so the group rarely stays asleep for long.
  bool ordered_links_ = false;
  std::map<std::pair<size_t, size_t>, TimePoint> link_last_delivery_;

  std::vector<Host> hosts_;
  std::map<ReplicaId, size_t> host_by_replica_;
  raft::Config initial_config_;

  std::map<std::pair<TimePoint, uint64_t>, Event> events_;
  uint64_t next_event_seq_ = 0;
  boost::asio::steady_timer* dispatcher_timer_ = nullptr;
  TimePoint dispatcher_wakes_at_ = TimePoint::max();
  std::map<std::pair<size_t, size_t>, TimePoint> cuts_;           // (from, to) -> until.
  std::map<std::pair<size_t, size_t>, uint64_t> snapshot_sends_;  // (from, to) -> count.

  // Invariant state.
  Status failure_;
  std::map<Term, TermRecord> terms_;
  std::vector<CommittedRecord> record_;  // record_[i - 1]: committed entry i.
  KvState model_;                        // A replay of record_.
  std::vector<uint64_t> model_digests_;  // [i]: digest after applying entries 1..i.
  bool holders_dirty_ = true;
  std::optional<std::pair<size_t, Term>> transfer_;  // (target, term) asked for.
  bool power_blip_at_next_election_ = false;
  // Seeds that cut the power of every host once, right after an election (design 8: "of all
  // hosts in 10% of seeds"). Beyond the contract (more than M replicas lose unsynced data), so
  // from then on only what must survive anyway is checked: invariants 1, 2, 3d and 5, and the
  // convergence at the end.
  std::optional<TimePoint> blackout_after_;
  bool blackout_armed_ = false;
  bool beyond_contract_ = false;

  // Clients.
  std::vector<Client> clients_;
  std::vector<OpRecord> ops_;
  std::map<uint64_t, size_t> attempt_op_;
  std::map<uint64_t, Waiter*> waiters_;
  uint64_t next_attempt_ = 1;
  bool clients_stop_ = false;
  size_t clients_running_ = 0;
  std::vector<std::string> keys_;

  // Figures for the trace.
  uint64_t messages_sent_ = 0;
  uint64_t snapshots_installed_ = 0;
  uint64_t elections_ = 0;
};

RaftWorkload::RaftWorkload(Simulation& simulation)
    : sim_(simulation),
      start_(simulation.clock().now()),
      net_random_(simulation.random().fork("raft.network")),
      disk_random_(simulation.random().fork("raft.disk")),
      chaos_random_(simulation.random().fork("raft.chaos")),
      liveness_random_(simulation.random().fork("raft.liveness")),
      quiet_random_(simulation.random().fork("raft.quiet")),
      sync_random_(simulation.random().fork("raft.sync")) {
  SimRandom params = simulation.random().fork("raft.params");
  drop_ppm_ = std::array<uint64_t, 3>{2'000, 10'000, 30'000}[params.below(3)];
  duplicate_ppm_ = std::array<uint64_t, 3>{0, 5'000, 20'000}[params.below(3)];
  slow_message_ppm_ = std::array<uint64_t, 3>{0, 10'000, 30'000}[params.below(3)];
  instant_write_ppm_ = std::array<uint64_t, 3>{1'000'000, 500'000, 200'000}[params.below(3)];
  slow_write_ppm_ = std::array<uint64_t, 3>{0, 20'000, 80'000}[params.below(3)];
  slow_sync_ppm_ = std::array<uint64_t, 3>{0, 10'000, 50'000}[params.below(3)];
  compact_ppm_ = std::array<uint64_t, 3>{20'000, 80'000, 250'000}[params.below(3)];
  tail_survives_ppm_ = std::array<uint64_t, 2>{300'000, 700'000}[params.below(2)];
  if (params.chance(0.1)) {
    blackout_after_ = simulation.clock().now() + milliseconds(params.between(12'000, 26'000));
  }

  hosts_.resize(kReplicas);
  for (size_t i = 0; i < kReplicas; ++i) {
    Host& host = hosts_[i];
    host.index = i;
    host.name = fmt::format("r{}", i);
    host.id = ReplicaId{HostId(static_cast<uint32_t>(i + 1)), raft::StoreId(params.next() | 1)};
    host.clock = sim_.make_host_clock(50'000);
    host.random = simulation.random().fork(fmt::format("raft.host{}", i));
    host_by_replica_[host.id] = i;
    initial_config_.voters.push_back(host.id);
  }
  std::sort(initial_config_.voters.begin(), initial_config_.voters.end());
  // The bootstrap rule (raft/core.h, InitialState): every founding replica starts from a
  // snapshot at index 1 (term 1) holding the configuration, synced.
  const EntryId founding{LogIndex(1), Term(1)};
  for (Host& host : hosts_) {
    host.os.hard = raft::HardState{Term(1), raft::kNoReplica, LogIndex(1)};
    host.os.log.reset(founding);
    host.os.machine.applied = founding.index;
    host.os.machine.config = initial_config_;
    host.synced = host.os;
  }
  model_.config = initial_config_;
  model_.applied = founding.index;
  record_.push_back(CommittedRecord{founding.term, 0});
  model_digests_.push_back(0);  // Before index 1 (nothing).
  model_digests_.push_back(0);  // The founding snapshot: an empty map.

  for (size_t k = 0; k < kKeys; ++k) keys_.push_back(fmt::format("k{}", k));
  size_t client_count = 3 + params.below(2);
  clients_.resize(client_count);
  for (size_t c = 0; c < client_count; ++c) {
    Client& client = clients_[c];
    client.random = simulation.random().fork(fmt::format("raft.client{}", c));
    client.leader_guess = client.random.below(kReplicas);
    client.keys = keys_;
    // Three or four of the shared keys: clients contend on most of them.
    if (client.random.chance(0.5)) {
      client.keys.erase(client.keys.begin() + static_cast<ptrdiff_t>(client.random.below(kKeys)));
    }
  }

  // Drawn after everything else of `params`, so that the seeds without hibernation run as they
  // did before it existed.
  if (params.chance(0.5)) {
    hibernate_after_ = milliseconds(params.between(200, 1500));
    ordered_links_ = params.chance(0.5);
  }
}

void RaftWorkload::fail(std::string what) {
  sim_.trace().add("VIOLATION: {}", what);
  if (failure_.ok()) failure_ = Status(StatusCode::kInternal, std::move(what));
}

// ---- Events ----

void RaftWorkload::push(TimePoint at, Event event) {
  events_.emplace(std::make_pair(at, next_event_seq_++), std::move(event));
  if (dispatcher_timer_ != nullptr && at < dispatcher_wakes_at_) {
    dispatcher_wakes_at_ = TimePoint::min();  // Signalled once.
    dispatcher_timer_->cancel();
  }
}

Task<void> RaftWorkload::dispatcher() {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  while (true) {
    TimePoint next = events_.empty() ? TimePoint::max() : events_.begin()->first.first;
    if (next > now()) {
      dispatcher_wakes_at_ = next;
      dispatcher_timer_ = &timer;
      co_await sim_.clock().wait(timer, next);
      dispatcher_timer_ = nullptr;
      dispatcher_wakes_at_ = TimePoint::max();
      continue;
    }
    auto node = events_.extract(events_.begin());
    handle(std::move(node.mapped()));
    // One event per step: the invariants are checked between any two.
    if (!events_.empty() && events_.begin()->first.first <= now()) {
      co_await boost::asio::post(sim_.executor(), boost::asio::use_awaitable);
    }
  }
}

void RaftWorkload::handle(Event event) {
  Host& host = hosts_[event.host];
  switch (event.kind) {
    case Event::Kind::kRestart:
      start_process(event.host, event.number != 0);
      return;
    case Event::Kind::kResume:
      if (event.number == host.pause_id && host.paused_until != TimePoint::min())
        resume(event.host);
      return;
    case Event::Kind::kPowerLossAll:
      lose_power_everywhere();
      return;
    case Event::Kind::kPowerLoss:
      if (host.up() && host.incarnation == event.incarnation && !host.amnesic &&
          amnesic_count() < kMaxAmnesic) {
        TESS_COVER("raft_sim.power_blip_after_election");
        sim_.trace().add("power blip of {} (term {}, synced term {})", host.name, host.core->term(),
                         host.synced.hard.term);
        power_loss(event.host);
        restart_at(event.host, now() + milliseconds(chaos_random_.between(100, 600)), true);
      }
      return;
    default:
      break;
  }
  if (!host.up() || event.incarnation != host.incarnation) {  // Its process is gone.
    if (event.kind == Event::Kind::kMessage) {
      transport_failed(event.from, event.from_incarnation, event.message);
    }
    return;
  }
  if (now() < host.paused_until) {
    host.deferred.push_back(std::move(event));
    return;
  }
  raft::Core& core = *host.core;
  raft::Time local = host.clock->now();
  switch (event.kind) {
    case Event::Kind::kMessage:
      if (blocked(event.from, event.host)) {  // Cut while in flight.
        transport_failed(event.from, event.from_incarnation, event.message);
        return;
      }
      hear(host, event.from, event.from_incarnation);
      core.step(event.message, local);
      break;
    case Event::Kind::kLiveness:
      if (!blocked(event.from, event.host)) hear(host, event.from, event.from_incarnation);
      break;
    case Event::Kind::kClientRequest:
      handle_client_request(host, event.number);
      break;
    case Event::Kind::kTick:
      // As BucketHost's tick: the liveness check first (it may wake the replica), then the tick.
      if (hibernate_after_ != Duration::zero()) {
        check_liveness(host);
        send_liveness(host);
      }
      core.tick(local);
      schedule_tick(host);
      break;
    case Event::Kind::kLand:
      if (host.in_flight && host.in_flight->id == event.number) land(host);
      break;
    case Event::Kind::kSync:
      host.sync_scheduled = false;
      sync_now(host);
      break;
    case Event::Kind::kUnreachable:
      core.report_unreachable(event.peer);
      break;
    case Event::Kind::kSnapshotFailed: {
      std::optional<size_t> peer = host_of(event.peer);
      // A deadline report counts only for the latest snapshot sent to that peer.
      if (event.number != 0 && peer && snapshot_sends_[{event.host, *peer}] != event.number) break;
      if (event.number != 0) {
        auto pr = core.progress().find(event.peer);
        if (pr == core.progress().end() || pr->second.state != raft::Progress::State::kSnapshot) {
          break;
        }
        // The follower's answer was lost: without this report the leader would wait forever.
        TESS_COVER("raft_sim.snapshot_answer_lost");
      }
      core.report_snapshot_failed(event.peer);
      break;
    }
    case Event::Kind::kRestart:
    case Event::Kind::kResume:
    case Event::Kind::kPowerLoss:
    case Event::Kind::kPowerLossAll:
      break;
  }
  observe(host);
  pump(host);
}

void RaftWorkload::handle_client_request(Host& host, uint64_t attempt) {
  auto op_it = attempt_op_.find(attempt);
  if (op_it == attempt_op_.end()) return;
  OpRecord& record = ops_[op_it->second];
  const KvOperation& op = record.op;
  raft::Core& core = *host.core;
  raft::Time local = host.clock->now();
  if (op.kind == OpKind::kGet) {
    Status requested = core.request_read(raft::ReadId(attempt), local);
    if (!requested.ok()) {
      reply(attempt,
            requested.code() == StatusCode::kFailedPrecondition ? Waiter::Reply::kNotLeader
                                                                : Waiter::Reply::kBusy,
            std::nullopt, false, leader_hint(host));
      return;
    }
    host.reads[attempt] = RequestedRead{attempt, core.term(), now()};
    return;
  }
  Command command;
  command.kind = op.kind;
  command.client = op.client;
  command.request = attempt;
  command.key = op.key;
  command.value = op.value;
  command.expected = op.expected;
  Result<EntryId> proposed = core.propose(encode_command(command), local);
  if (!proposed.ok()) {
    StatusCode code = proposed.status().code();
    if (code == StatusCode::kInvalidArgument) {
      fail(fmt::format("{} refused a well-formed proposal: {}", host.name,
                       proposed.status().to_string()));
    }
    reply(
        attempt,
        code == StatusCode::kFailedPrecondition ? Waiter::Reply::kNotLeader : Waiter::Reply::kBusy,
        std::nullopt, false, leader_hint(host));
    return;
  }
  if (record.entry) {
    fail(fmt::format("op {} proposed twice", op_it->second));
    return;
  }
  record.entry = *proposed;
  host.proposals[proposed->index] = Proposal{proposed->term, attempt};
  // A quarter of the writes are followed by a SyncTo: the followers are asked to report their
  // durable index (2026-12-04 note); invariant 3d checks what the leader then counts.
  if (sync_random_.chance(0.25)) core.want_durable(proposed->index);
}

// ---- Processes ----

void RaftWorkload::start_process(size_t index, bool after_power_loss) {
  Host& host = hosts_[index];
  host.restart_pending = false;
  if (host.up()) return;
  after_power_loss = after_power_loss || host.power_lost;
  host.power_lost = false;
  ++host.incarnation;
  // Opening the log store makes what it recovered durable (RocksDB flushes the WAL it replays),
  // and the core takes the log's snapshot point as durable from the start.
  sync_now(host);
  bool recovering = after_power_loss || host.os.recovering;
  if (after_power_loss) {
    // The store notices that the crash may have lost unsynced data and marks itself, durably,
    // before anything else (design 4.4).
    host.os.recovering = true;
    host.synced.recovering = true;
    for (Batch& batch : host.unsynced) batch.recovering.reset();
  }
  raft::InitialState initial;
  initial.hard_state = host.os.hard;
  initial.config = host.os.machine.config;
  initial.applied = host.os.machine.applied;
  initial.recovering = recovering;
  const raft::MemoryLog& log = host.os.log;
  bool consistent = initial.applied <= initial.hard_state.commit &&
                    (initial.hard_state.commit <= log.last_index() ||
                     initial.hard_state.commit == log.snapshot_point().index) &&
                    log.snapshot_point().index <= initial.applied;
  if (!consistent) {
    fail(fmt::format("{} restarts from an inconsistent disk: applied {} commit {} log ({}, {}]",
                     host.name, initial.applied, initial.hard_state.commit,
                     log.snapshot_point().index, log.last_index()));
    return;
  }
  raft::CoreOptions options;
  options.self = host.id;
  options.incarnation = host.incarnation;
  options.election_timeout_min = kElectionTimeoutMin;
  options.heartbeat_interval = kHeartbeat;
  options.seed = host.random.next();
  options.hibernate_after = hibernate_after_;
  host.core = std::make_unique<raft::Core>(options, initial, &host.os.log, host.clock->now());
  host.in_flight.reset();
  host.sync_scheduled = false;
  host.paused_until = TimePoint::min();
  host.deferred.clear();
  host.proposals.clear();
  host.reads.clear();
  host.ready_reads.clear();
  host.leading_term = Term(0);
  host.seen_commit = LogIndex(0);
  host.seen_applied = LogIndex(0);
  host.seen_durable = LogIndex(0);
  host.seen_quorum_durable = LogIndex(0);
  host.heard.clear();  // A new process: a new transport, a new host.
  host.last_sent.clear();
  host.seen_incarnation.clear();
  host.seen_hibernated = false;
  holders_dirty_ = true;
  sim_.trace().add("{} starts (incarnation {}{}): term {} commit {} applied {} log ({}, {}]",
                   host.name, host.incarnation, recovering ? ", recovering" : "",
                   initial.hard_state.term, initial.hard_state.commit, initial.applied,
                   log.snapshot_point().index, log.last_index());
  if (after_power_loss) TESS_COVER("raft_sim.power_loss_restart");
  check_machine(host, "at restart");
  if (host.unsynced.empty()) {
    const raft::MemoryLog& synced = host.synced.log;
    host.core->report_durable(EntryId{synced.last_index(), *synced.term(synced.last_index())});
  } else {
    schedule_sync(host);
  }
  schedule_tick(host);
  observe(host);
  pump(host);
}

void RaftWorkload::kill_process(size_t index, const char* why) {
  Host& host = hosts_[index];
  if (!host.up()) return;
  sim_.trace().add("{}: {}{}{}", host.name, why,
                   host.core->role() == Role::kLeader ? " (the leader)" : "",
                   host.in_flight ? ", a write in flight lost" : "");
  if (host.in_flight) TESS_COVER("raft_sim.killed_with_a_write_in_flight");
  fail_proposals(host);
  host.core.reset();
  host.in_flight.reset();
  host.paused_until = TimePoint::min();
  host.deferred.clear();
  host.reads.clear();
  host.ready_reads.clear();
  holders_dirty_ = true;
}

void RaftWorkload::power_loss(size_t index) {
  Host& host = hosts_[index];
  kill_process(index, "power loss");
  // The synced state, and a prefix of what was written since.
  size_t keep = 0;
  if (!host.unsynced.empty() && disk_random_.chance_ppm(tail_survives_ppm_)) {
    keep = 1 + disk_random_.below(host.unsynced.size());
  }
  host.os = host.synced;
  host.unsynced.resize(keep);
  for (const Batch& batch : host.unsynced) {
    std::string problem = apply_batch(host.os, batch, true);
    if (!problem.empty()) fail(fmt::format("{} after power loss: {}", host.name, problem));
  }
  if (keep > 0) TESS_COVER("raft_sim.unsynced_tail_survived");
  host.amnesic = true;
  host.power_lost = true;
  holders_dirty_ = true;
  sim_.trace().add("{} lost power: log ({}, {}], commit {}, {} unsynced batches kept", host.name,
                   host.os.log.snapshot_point().index, host.os.log.last_index(),
                   host.os.hard.commit, keep);
}

void RaftWorkload::restart_at(size_t index, TimePoint at, bool after_power_loss) {
  Event restart;
  restart.kind = Event::Kind::kRestart;
  restart.host = index;
  restart.number = after_power_loss ? 1 : 0;
  hosts_[index].restart_pending = true;
  push(at, std::move(restart));
}

void RaftWorkload::lose_power_everywhere() {
  sim_.trace().add(
      "every host loses power (beyond the contract: from here on only invariants "
      "1, 2, 3d and 5 and the convergence are checked)");
  TESS_COVER("raft_sim.blackout");
  beyond_contract_ = true;
  // Past the contract nothing more is lost by doing it again: black out again after a later
  // election (a term or vote not synced before it was used would show as two leaders of a term).
  blackout_after_ = now() + milliseconds(chaos_random_.between(1'500, 4'000));
  for (size_t i = 0; i < kReplicas; ++i) {
    bool was_down = !hosts_[i].up();
    power_loss(i);
    if (!was_down) restart_at(i, now() + milliseconds(chaos_random_.between(100, 1000)), true);
  }
  std::string terms;
  for (const Host& host : hosts_) {
    terms += fmt::format(" {}:{}/{}", host.name, host.os.hard.term, host.os.hard.vote);
  }
  sim_.trace().add("after the blackout (term/vote):{}", terms);
}

void RaftWorkload::pause(size_t index, Duration duration) {
  Host& host = hosts_[index];
  if (!host.up() || host.paused_until != TimePoint::min()) return;
  host.paused_until = now() + duration;
  ++host.pause_id;
  sim_.trace().add("{} paused for {} ms{}", host.name,
                   std::chrono::duration_cast<milliseconds>(duration).count(),
                   host.core->role() == Role::kLeader ? " (the leader)" : "");
  Event resume_event;
  resume_event.kind = Event::Kind::kResume;
  resume_event.host = index;
  resume_event.number = host.pause_id;
  push(host.paused_until, std::move(resume_event));
}

void RaftWorkload::resume(size_t index) {
  Host& host = hosts_[index];
  host.paused_until = TimePoint::min();
  ++host.pause_id;
  // After SIGCONT the loop finds its timer, sockets and client requests all ready at once, in no
  // particular order.
  std::vector<Event> deferred = std::move(host.deferred);
  host.deferred.clear();
  for (size_t i = deferred.size(); i > 1; --i) {
    std::swap(deferred[i - 1], deferred[chaos_random_.below(i)]);
  }
  for (Event& event : deferred) push(now(), std::move(event));
  sim_.trace().add("{} resumes ({} events waiting)", host.name, deferred.size());
}

void RaftWorkload::schedule_tick(Host& host) {
  Event tick;
  tick.kind = Event::Kind::kTick;
  tick.host = host.index;
  tick.incarnation = host.incarnation;
  push(host.clock->to_base(host.clock->now() + kHeartbeat), std::move(tick));
}

Duration RaftWorkload::write_latency() {
  if (disk_random_.chance_ppm(instant_write_ppm_)) return Duration::zero();
  if (disk_random_.chance_ppm(slow_write_ppm_))
    return microseconds(disk_random_.between(1000, 20000));
  return microseconds(disk_random_.between(20, 800));
}

void RaftWorkload::pump(Host& host) {
  while (host.up() && !host.in_flight && host.core->has_ready() && failure_.ok()) {
    raft::Ready ready = host.core->ready();
    std::vector<Message> messages = std::move(ready.messages);
    ready.messages.clear();
    bool writes = ready.snapshot || ready.hard_state || !ready.entries.empty();
    uint64_t id = ready.id;
    host.in_flight = std::move(ready);
    for (Message& message : messages) send(host, std::move(message));
    Duration latency = writes ? write_latency() : Duration::zero();
    if (latency == Duration::zero()) {
      land(host);
      continue;
    }
    Event landing;
    landing.kind = Event::Kind::kLand;
    landing.host = host.index;
    landing.incarnation = host.incarnation;
    landing.number = id;
    push(now() + latency, std::move(landing));
  }
}

void RaftWorkload::land(Host& host) {
  raft::Ready ready = std::move(*host.in_flight);
  host.in_flight.reset();
  // (1)-(2): snapshot, hard state and entries reach the OS.
  Batch write;
  write.snapshot = ready.snapshot;
  write.snapshot_data = ready.snapshot_data;
  write.hard = ready.hard_state;
  write.entries = ready.entries;
  if (!write.empty()) persist(host, std::move(write), false);
  if (ready.snapshot) {
    ++snapshots_installed_;
    TESS_COVER("raft_sim.snapshot_installed");
    sim_.trace().add("{} installed a snapshot at {} (term {})", host.name, ready.snapshot->index,
                     ready.snapshot->term);
    check_machine(host, "after installing a snapshot");
  }
  if (ready.must_sync) sync_now(host);
  // (4) Acks and votes, now that what they promise is written.
  for (Message& message : ready.after_persist) send(host, std::move(message));
  ready.after_persist.clear();
  // (5) Apply.
  if (!ready.committed.empty()) {
    Batch applied;
    for (const Entry& entry : ready.committed) {
      record_committed(host, entry);
      bool cas_ok = false;
      std::string problem = host.os.machine.apply(entry, &cas_ok);
      if (!problem.empty()) {
        fail(fmt::format("{}: {}", host.name, problem));
        return;
      }
      auto proposal = host.proposals.find(entry.index);
      if (proposal != host.proposals.end()) {
        if (proposal->second.term == entry.term) {
          auto command = decode_command(entry.payload);
          if (!command || command->request != proposal->second.attempt) {
            fail(fmt::format("{}: entry {} of term {} is not the proposal made there", host.name,
                             entry.index, entry.term));
          }
          reply(proposal->second.attempt, Waiter::Reply::kOk, std::nullopt, cas_ok, std::nullopt);
        } else {
          reply(proposal->second.attempt, Waiter::Reply::kUnknown, std::nullopt, false,
                std::nullopt);
        }
        host.proposals.erase(proposal);
      }
    }
    applied.applied = ready.committed;  // advance() reads ready.committed too.
    persist(host, std::move(applied), true);
    check_machine(host, "after applying");
  }
  // (6) Reads.
  for (const raft::ReadState& read : ready.reads) {
    auto requested = host.reads.find(read.id.value());
    if (requested == host.reads.end()) {
      fail(fmt::format("{} answered read {} that was never requested of this process", host.name,
                       read.id.value()));
      continue;
    }
    // Invariant 2b.
    const RequestedRead& r = requested->second;
    for (auto it = terms_.upper_bound(r.term); it != terms_.end(); ++it) {
      if (it->second.elected <= r.requested_at) {
        fail(fmt::format(
            "{} (leader of term {}) answered a read requested at {:.6f} s, after the leader of "
            "term {} ({}) was elected at {:.6f} s",
            host.name, r.term, seconds_of(r.requested_at - start_), it->first,
            hosts_[it->second.host].name, seconds_of(it->second.elected - start_)));
      }
    }
    host.ready_reads.emplace(read.index, read.id.value());
  }
  serve_ready_reads(host);
  for (raft::ReadId id : ready.failed_reads) {
    auto requested = host.reads.find(id.value());
    if (requested == host.reads.end()) continue;
    reply(requested->second.attempt, Waiter::Reply::kNotLeader, std::nullopt, false,
          leader_hint(host));
    host.reads.erase(requested);
  }
  if (ready.recovered) {
    Batch marker;
    marker.recovering = false;
    persist(host, std::move(marker), false);
    if (host.amnesic) {
      TESS_COVER("raft_sim.recovered_after_power_loss");
      sim_.trace().add("{} recovered (commit {})", host.name, host.core->commit());
    }
    host.amnesic = false;
    holders_dirty_ = true;
  }
  maybe_compact(host);
  schedule_sync(host);
  host.core->advance(ready);
  observe(host);
}

void RaftWorkload::persist(Host& host, Batch batch, bool applied_to_os) {
  if (!applied_to_os) {
    check_written(host, batch);
    std::string problem = apply_batch(host.os, batch, true);
    if (!problem.empty()) fail(fmt::format("{}: {}", host.name, problem));
  }
  host.unsynced.push_back(std::move(batch));
  holders_dirty_ = true;
}

void RaftWorkload::sync_now(Host& host) {
  for (const Batch& batch : host.unsynced) {
    std::string problem = apply_batch(host.synced, batch, true);
    if (!problem.empty()) fail(fmt::format("{} sync: {}", host.name, problem));
  }
  host.unsynced.clear();
  holders_dirty_ = true;
  if (host.up()) {
    const raft::MemoryLog& log = host.synced.log;
    host.core->report_durable(EntryId{log.last_index(), *log.term(log.last_index())});
  }
}

void RaftWorkload::schedule_sync(Host& host) {
  if (host.sync_scheduled || host.unsynced.empty() || !host.up()) return;
  host.sync_scheduled = true;
  Duration delay = kSyncInterval;
  if (disk_random_.chance_ppm(slow_sync_ppm_)) {
    delay = milliseconds(disk_random_.between(50, 500));
    TESS_COVER("raft_sim.slow_sync");
  }
  Event sync;
  sync.kind = Event::Kind::kSync;
  sync.host = host.index;
  sync.incarnation = host.incarnation;
  push(now() + delay, std::move(sync));
}

void RaftWorkload::maybe_compact(Host& host) {
  if (!disk_random_.chance_ppm(compact_ppm_)) return;
  LogIndex applied = host.os.machine.applied;
  uint64_t keep = disk_random_.below(9);
  if (applied.value() <= keep) return;
  LogIndex through(applied.value() - keep);
  if (through <= host.os.log.snapshot_point().index || through > host.os.log.last_index()) return;
  Batch compaction;
  compaction.compact_through = through;
  persist(host, std::move(compaction), false);
}

void RaftWorkload::serve_ready_reads(Host& host) {
  while (!host.ready_reads.empty() && host.ready_reads.begin()->first <= host.os.machine.applied) {
    uint64_t id = host.ready_reads.begin()->second;
    host.ready_reads.erase(host.ready_reads.begin());
    serve_read(host, id);
  }
}

void RaftWorkload::serve_read(Host& host, uint64_t read_id) {
  auto requested = host.reads.find(read_id);
  if (requested == host.reads.end()) return;
  uint64_t attempt = requested->second.attempt;
  host.reads.erase(requested);
  auto op = attempt_op_.find(attempt);
  if (op == attempt_op_.end()) return;
  reply(attempt, Waiter::Reply::kOk, host.os.machine.get(ops_[op->second].op.key), false,
        std::nullopt);
}

std::optional<size_t> RaftWorkload::host_of(ReplicaId replica) const {
  auto it = host_by_replica_.find(replica);
  if (it == host_by_replica_.end()) return std::nullopt;
  return it->second;
}

bool RaftWorkload::blocked(size_t from, size_t to) const {
  auto it = cuts_.find({from, to});
  return it != cuts_.end() && it->second > now();
}

Duration RaftWorkload::message_latency() { return message_latency(net_random_); }

TimePoint RaftWorkload::delivery_time(size_t from, size_t to, Duration latency) {
  TimePoint at = now() + latency;
  if (!ordered_links_) return at;
  // Behind whatever is still in flight on the link (events of one time run in push order).
  TimePoint& last = link_last_delivery_[{from, to}];
  at = std::max(at, last);
  last = at;
  return at;
}

Duration RaftWorkload::message_latency(SimRandom& random) {
  if (random.chance_ppm(slow_message_ppm_)) {
    return microseconds(random.between(3'000, 50'000));
  }
  return microseconds(random.between(100, 3'000));
}

Duration RaftWorkload::client_latency() { return microseconds(net_random_.between(50, 500)); }

void RaftWorkload::send(Host& host, Message message) {
  ++messages_sent_;
  if (message.type == MessageType::kSnapshot) {
    // The host attaches its state machine, which is at the core's applied index now.
    raft::SnapshotMeta meta = host.core->snapshot_meta();
    if (meta.index != host.os.machine.applied) {
      fail(fmt::format("{}: snapshot_meta() is at {} but the state machine at {}", host.name,
                       meta.index, host.os.machine.applied));
    }
    if (!message.snapshot) message.snapshot = meta;
    if (message.snapshot->index != host.os.machine.applied) {
      fail(fmt::format("{} sends a snapshot at {} but its state machine is at {}", host.name,
                       message.snapshot->index, host.os.machine.applied));
    }
    message.snapshot_data = std::make_shared<const std::string>(host.os.machine.serialize());
  }
  if (message.type == MessageType::kTimeoutNow) {
    auto term = terms_.find(message.term);
    if (term != terms_.end() && term->second.timeout_now_sent == TimePoint::max()) {
      term->second.timeout_now_sent = now();
      sim_.trace().add("{} sends TimeoutNow in term {}", host.name, message.term);
    }
  }
  std::optional<size_t> to = host_of(message.to);
  if (!to || *to == host.index) {
    fail(fmt::format("{} sent a {} to {}", host.name, raft::message_type_name(message.type),
                     message.to));
    return;
  }
  Host& target = hosts_[*to];
  host.last_sent[*to] = host.clock->now();  // The transport's frame (liveness).
  if (blocked(host.index, *to) || !target.up()) {
    transport_failed(host.index, host.incarnation, message);
    return;
  }
  if (net_random_.chance_ppm(drop_ppm_)) {
    transport_failed(host.index, host.incarnation, message);
    return;
  }
  if (message.type == MessageType::kSnapshot) {
    // A snapshot goes over a stream of its own with a deadline: if its acknowledgement has not
    // come back by then, the transport reports it failed (the core has no "snapshot done" input,
    // and ignores the report once the follower's answer moved it on).
    Event deadline;
    deadline.kind = Event::Kind::kSnapshotFailed;
    deadline.host = host.index;
    deadline.incarnation = host.incarnation;
    deadline.peer = message.to;
    deadline.number = ++snapshot_sends_[{host.index, *to}];
    push(now() + kSnapshotDeadline, std::move(deadline));
  }
  int copies = net_random_.chance_ppm(duplicate_ppm_) ? 2 : 1;
  for (int copy = 0; copy < copies; ++copy) {
    Event delivery;
    delivery.kind = Event::Kind::kMessage;
    delivery.host = *to;
    delivery.incarnation = target.incarnation;
    delivery.from = host.index;
    delivery.from_incarnation = host.incarnation;
    delivery.message = message;
    push(delivery_time(host.index, *to, message_latency()), std::move(delivery));
  }
}

void RaftWorkload::transport_failed(size_t from, uint64_t from_incarnation,
                                    const Message& message) {
  // The transport notices a lost snapshot (its stream fails) and a cut connection; a dropped
  // frame of a stream goes unnoticed.
  Event report;
  report.host = from;
  report.incarnation = from_incarnation;
  report.peer = message.to;
  if (message.type == MessageType::kSnapshot) {
    report.kind = Event::Kind::kSnapshotFailed;
  } else if (net_random_.chance(0.1)) {
    report.kind = Event::Kind::kUnreachable;
  } else {
    return;
  }
  push(now() + milliseconds(1), std::move(report));
}

// ---- Liveness (design 5.2) ----
//
// As tessd does it (bucket::RaftTransport, BucketHost::check_liveness): a process sends every
// peer an empty frame when it sent it nothing for kLivenessInterval of its clock (checked at its
// ticks); every frame that arrives, raft messages included, stamps its sender heard (this host's
// clock) with the sender's incarnation. At each tick, before ticking the core, the host finds the
// peers dead (nothing heard for kLivenessTimeout; a peer never heard from is not judged) or
// restarted (incarnation grew since the last check), and wakes a hibernated follower whose leader
// is on one, or a hibernated leader one of whose followers restarted. Liveness frames go through
// the same cuts, losses and delays as messages; a paused process sends none and reads those sent
// to it only when it resumes (in random order with its ticks: after a long pause its host may
// find every peer dead and wake a replica for nothing, as a real one could).

void RaftWorkload::hear(Host& host, size_t from, uint64_t from_incarnation) {
  if (hibernate_after_ == Duration::zero()) return;
  Host::Heard& heard = host.heard[from];
  heard.at = host.clock->now();
  heard.incarnation = std::max(heard.incarnation, from_incarnation);
}

void RaftWorkload::send_liveness(Host& host) {
  raft::Time local = host.clock->now();
  for (size_t to = 0; to < kReplicas; ++to) {
    if (to == host.index) continue;
    auto sent = host.last_sent.find(to);
    if (sent != host.last_sent.end() && local - sent->second < kLivenessInterval) continue;
    host.last_sent[to] = local;
    Host& target = hosts_[to];
    if (blocked(host.index, to) || !target.up() || liveness_random_.chance_ppm(drop_ppm_)) {
      continue;
    }
    Event frame;
    frame.kind = Event::Kind::kLiveness;
    frame.host = to;
    frame.incarnation = target.incarnation;
    frame.from = host.index;
    frame.from_incarnation = host.incarnation;
    push(delivery_time(host.index, to, message_latency(liveness_random_)), std::move(frame));
  }
}

void RaftWorkload::check_liveness(Host& host) {
  raft::Time local = host.clock->now();
  std::set<size_t> dead;
  std::set<size_t> restarted;
  for (const auto& [peer, heard] : host.heard) {
    if (local - heard.at > kLivenessTimeout) dead.insert(peer);
    uint64_t& seen = host.seen_incarnation[peer];
    if (seen != 0 && heard.incarnation > seen) restarted.insert(peer);
    seen = std::max(seen, heard.incarnation);
  }
  raft::Core& core = *host.core;
  if (!core.hibernated() || (dead.empty() && restarted.empty())) return;
  std::string why;
  if (core.role() == Role::kLeader) {
    // A follower that restarted may have lost its unsynced tail: the leader probes it.
    for (size_t peer : restarted) {
      if (core.progress().count(hosts_[peer].id) > 0) {
        why = fmt::format("its follower {} restarted", hosts_[peer].name);
        break;
      }
    }
  } else if (std::optional<size_t> leader = host_of(core.leader())) {
    if (dead.count(*leader) > 0) {
      why = fmt::format("its leader {} is dead to it", hosts_[*leader].name);
    } else if (restarted.count(*leader) > 0) {
      why = fmt::format("its leader {} restarted", hosts_[*leader].name);
    }
  }
  if (why.empty()) return;
  TESS_COVER("raft_sim.woken_by_liveness");
  if (core.role() == Role::kLeader) TESS_COVER("raft_sim.leader_woken_by_liveness");
  sim_.trace().add("{}'s host wakes it: {}", host.name, why);
  core.wake(local);
}

// ---- Invariants ----

void RaftWorkload::observe(Host& host) {
  if (!host.up()) return;
  raft::Core& core = *host.core;
  Term term = core.term();
  bool leading = core.role() == Role::kLeader;
  if (core.hibernated() != host.seen_hibernated) {
    host.seen_hibernated = core.hibernated();
    sim_.trace().add("{} ({} of term {}) {}", host.name, leading ? "leader" : "follower", term,
                     host.seen_hibernated ? "hibernates" : "wakes");
  }
  if (host.leading_term.value() != 0 && (!leading || term != host.leading_term)) {
    fail_proposals(host);
    host.leading_term = Term(0);
    host.seen_quorum_durable = LogIndex(0);
  }
  if (leading) {
    auto [it, inserted] =
        terms_.try_emplace(term, TermRecord{core.self(), host.index, host.incarnation, now()});
    TermRecord& record = it->second;
    if (inserted) {
      on_new_leader(host, term, record);
    } else if (record.leader != core.self() || record.incarnation != host.incarnation) {
      fail(fmt::format("two leaders in term {}: {} (process {}) and {} (process {})", term,
                       hosts_[record.host].name, record.incarnation, host.name, host.incarnation));
    }
    host.leading_term = term;
    raft::Time lease = core.lease_until();
    if (lease != raft::Time::min() && now() < record.timeout_now_sent) {
      TimePoint end = host.clock->to_base(lease);
      if (end > record.lease_end) {
        record.lease_end = end;
        check_lease(term, record);
      }
    }
    LogIndex quorum_durable = core.quorum_durable();
    if (quorum_durable < host.seen_quorum_durable) {
      fail(fmt::format("{} (leader of term {}): quorum_durable went back from {} to {}", host.name,
                       term, host.seen_quorum_durable, quorum_durable));
    }
    host.seen_quorum_durable = quorum_durable;
  }
  // Invariant 1, followers' side: a replica that names the leader of a term names the one that
  // was seen leading it.
  const raft::SoftState& soft = core.soft_state();
  if (!soft.leader.is_none() && soft.leader != core.self()) {
    auto it = terms_.find(soft.term);
    if (it == terms_.end() || it->second.leader != soft.leader) {
      fail(fmt::format("{} believes {} leads term {}, but {}", host.name, soft.leader, soft.term,
                       it == terms_.end() ? std::string("nobody was seen leading it")
                                          : fmt::format("{} does", it->second.leader)));
    }
  }
  // Invariant 5.
  LogIndex commit = core.commit();
  LogIndex applied = core.applied();
  LogIndex durable = core.durable();
  if (commit > core.last_index()) {
    fail(fmt::format("{}: commit {} beyond its last index {}", host.name, commit,
                     core.last_index()));
  }
  if (applied > commit) {
    fail(fmt::format("{}: applied {} beyond commit {}", host.name, applied, commit));
  }
  if (commit < host.seen_commit || applied < host.seen_applied) {
    fail(fmt::format("{}: went back within one process: commit {} -> {}, applied {} -> {}",
                     host.name, host.seen_commit, commit, host.seen_applied, applied));
  }
  // durable() may go back (the core lowers it when a new leader overwrites the synced tail, and
  // to zero when a snapshot replaces the log), but it is never a false claim: the synced log holds
  // the core's entry there.
  if (durable != host.seen_durable && durable.value() > 0) {
    Result<Term> durable_term = core.term_at(durable);
    if (durable_term.ok() && !holds(host.synced.log, durable, *durable_term)) {
      Result<Term> synced_term = host.synced.log.term(durable);
      fail(
          fmt::format("{} claims entry {} (term {}) durable, but its synced log ends at {} and "
                      "holds term {} there",
                      host.name, durable, *durable_term, host.synced.log.last_index(),
                      synced_term.ok() ? synced_term->value() : 0));
    }
  }
  if (commit != host.seen_commit) holders_dirty_ = true;
  host.seen_commit = commit;
  host.seen_applied = applied;
  host.seen_durable = durable;
}

void RaftWorkload::on_new_leader(Host& host, Term term, TermRecord& record) {
  ++elections_;
  sim_.trace().add("{} leads term {} (commit {}, last {})", host.name, term, host.core->commit(),
                   host.core->last_index());
  if (blackout_armed_) {
    blackout_armed_ = false;
    Event blackout;
    blackout.kind = Event::Kind::kPowerLossAll;
    blackout.host = host.index;
    push(now() + microseconds(chaos_random_.between(0, 500)), std::move(blackout));
  } else if (power_blip_at_next_election_) {
    power_blip_at_next_election_ = false;
    if (!host.amnesic && amnesic_count() < kMaxAmnesic) {
      Event blip;
      blip.kind = Event::Kind::kPowerLoss;
      blip.host = host.index;
      blip.incarnation = host.incarnation;
      push(now() + microseconds(chaos_random_.between(0, 2000)), std::move(blip));
    }
  }
  if (transfer_ && transfer_->first == host.index && transfer_->second < term) {
    TESS_COVER("raft_sim.leadership_transferred");
    transfer_.reset();
  }
  // Invariant 2a: every earlier term's lease ended before this election.
  for (auto it = terms_.begin(); it != terms_.end() && it->first < term; ++it) {
    if (it->second.effective_lease_end() > record.elected) {
      fail(fmt::format(
          "{} elected leader of term {} at {:.6f} s while the lease of {} (term {}) "
          "lasts until {:.6f} s",
          host.name, term, seconds_of(record.elected - start_), hosts_[it->second.host].name,
          it->first, seconds_of(it->second.effective_lease_end() - start_)));
    }
  }
}

void RaftWorkload::check_lease(Term term, const TermRecord& record) {
  for (auto it = terms_.upper_bound(term); it != terms_.end(); ++it) {
    if (record.effective_lease_end() > it->second.elected) {
      fail(fmt::format(
          "the lease of {} (term {}) lasts until {:.6f} s, after {} was elected "
          "leader of term {} at {:.6f} s",
          hosts_[record.host].name, term, seconds_of(record.effective_lease_end() - start_),
          hosts_[it->second.host].name, it->first, seconds_of(it->second.elected - start_)));
    }
  }
}

void RaftWorkload::record_committed(Host& host, const Entry& entry) {
  if (beyond_contract_) return;
  uint64_t hash = hash_bytes(entry.payload) ^ static_cast<uint64_t>(entry.type);
  uint64_t index = entry.index.value();
  if (index >= 1 && index <= record_.size()) {
    const CommittedRecord& recorded = record_[index - 1];
    if (recorded.term != entry.term || recorded.hash != hash) {
      fail(
          fmt::format("committed entry {} changed: first committed with term {}, now {} hands "
                      "out term {}{}",
                      index, recorded.term, host.name, entry.term,
                      recorded.term == entry.term ? " with another payload" : ""));
    }
    return;
  }
  if (index != record_.size() + 1) {
    fail(fmt::format("{} hands out committed entry {}, but the highest committed so far is {}",
                     host.name, index, record_.size()));
    return;
  }
  record_.push_back(CommittedRecord{entry.term, hash});
  bool cas_ok = false;
  std::string problem = model_.apply(entry, &cas_ok);
  if (!problem.empty()) fail(fmt::format("replaying the committed log: {}", problem));
  model_digests_.push_back(model_.digest);
  holders_dirty_ = true;
}

void RaftWorkload::check_written(Host& host, const Batch& batch) {
  // 3b: a written entry with the recorded term at a recorded index has the recorded payload.
  for (const Entry& entry : batch.entries) {
    uint64_t index = entry.index.value();
    if (index == 0 || index > record_.size()) continue;
    const CommittedRecord& recorded = record_[index - 1];
    if (recorded.term == entry.term &&
        recorded.hash != (hash_bytes(entry.payload) ^ static_cast<uint64_t>(entry.type))) {
      fail(fmt::format("{} writes entry {} of term {} with a payload other than the committed one",
                       host.name, index, entry.term));
    }
  }
}

void RaftWorkload::check_machine(Host& host, const char* when) {
  if (beyond_contract_) return;
  const KvState& machine = host.os.machine;
  uint64_t applied = machine.applied.value();
  if (applied >= model_digests_.size()) {
    fail(fmt::format("{} applied up to {} {}, beyond the committed record ({})", host.name, applied,
                     when, record_.size()));
    return;
  }
  if (machine.digest != model_digests_[applied]) {
    fail(fmt::format("{}'s state machine at {} {} differs from a replay of the committed log",
                     host.name, applied, when));
  }
}

bool RaftWorkload::holds(const raft::MemoryLog& log, LogIndex index, Term term) const {
  if (index <= log.snapshot_point().index) return true;
  if (index > log.last_index()) return false;
  Result<Term> stored = log.term(index);
  return stored.ok() && *stored == term;
}

void RaftWorkload::check_holders() {
  holders_dirty_ = false;
  size_t amnesic = amnesic_count();
  if (amnesic > kMaxAmnesic && !beyond_contract_) {
    fail(fmt::format("the workload let {} replicas lose power at once", amnesic));
    return;
  }
  for (Host& host : hosts_) {
    // 3b, after every change: the OS-visible log matches the record at min(last, own commit).
    const raft::MemoryLog& log = host.os.log;
    LogIndex upto = std::min({log.last_index(), host.os.hard.commit, LogIndex(record_.size())});
    if (!beyond_contract_ && upto > log.snapshot_point().index &&
        !holds(log, upto, record_[upto.value() - 1].term)) {
      fail(fmt::format("{}'s log differs from the committed record at {} (its commit {})",
                       host.name, upto, host.os.hard.commit));
    }
    if (!host.up()) continue;
    raft::Core& core = *host.core;
    // 3c: the entry at its commit index is OS-visible on a majority (amnesic replicas counted).
    LogIndex commit = core.commit();
    if (commit.value() > 0 && !beyond_contract_) {
      Result<Term> term = core.term_at(commit);
      if (term.ok()) {
        size_t holders = 0;
        for (const Host& other : hosts_) {
          if (other.amnesic || holds(other.os.log, commit, *term)) ++holders;
        }
        if (holders < kQuorum) {
          fail(
              fmt::format("entry {} (term {}), committed at {}, is on the disk of only {} "
                          "replicas (counting {} that lost power)",
                          commit, *term, host.name, holders, amnesic));
        }
      }
    }
    // 3d: what a leader counts as durable on a majority is in a majority's synced logs.
    if (core.role() == Role::kLeader) {
      LogIndex durable = std::min(core.quorum_durable(), commit);
      if (durable.value() > 0) {
        Result<Term> term = core.term_at(durable);
        if (term.ok()) {
          size_t holders = 0;
          for (const Host& other : hosts_) {
            if (holds(other.synced.log, durable, *term)) ++holders;
          }
          if (holders < kQuorum) {
            std::string detail;
            for (const Host& other : hosts_) {
              const raft::MemoryLog& synced = other.synced.log;
              Result<Term> there = synced.term(durable);
              auto pr = core.progress().find(other.id);
              detail +=
                  fmt::format("; {}: synced ({}, {}] term there {}, leader's Progress.durable {}",
                              other.name, synced.snapshot_point().index, synced.last_index(),
                              there.ok() ? fmt::format("{}", *there) : std::string("-"),
                              pr == core.progress().end() ? std::string("(self)")
                                                          : fmt::format("{}", pr->second.durable));
            }
            fail(
                fmt::format("{} (leader of term {}) counts entry {} (term {}) durable on a "
                            "majority, but only {} replicas synced it{}",
                            host.name, core.term(), durable, *term, holders, detail));
          }
        }
      }
    }
  }
}

Status RaftWorkload::check_invariants() {
  if (failure_.ok() && holders_dirty_) check_holders();
  return failure_;
}

// ---- Clients ----

std::optional<size_t> RaftWorkload::leader_hint(const Host& host) const {
  if (!host.up()) return std::nullopt;
  ReplicaId leader = host.core->leader();
  if (leader.is_none() || leader == host.id) return std::nullopt;
  return host_of(leader);
}

void RaftWorkload::reply(uint64_t attempt, Waiter::Reply reply, std::optional<std::string> value,
                         bool cas_ok, std::optional<size_t> hint) {
  auto it = waiters_.find(attempt);
  if (it == waiters_.end() || it->second->replied) return;
  Waiter& waiter = *it->second;
  waiter.replied = true;
  waiter.reply = reply;
  waiter.value = std::move(value);
  waiter.cas_ok = cas_ok;
  waiter.hint = hint;
  waiter.timer->cancel();
}

void RaftWorkload::fail_proposals(Host& host) {
  for (const auto& [index, proposal] : host.proposals) {
    reply(proposal.attempt, Waiter::Reply::kUnknown, std::nullopt, false, std::nullopt);
  }
  host.proposals.clear();
}

KvOperation RaftWorkload::next_op(size_t c) {
  Client& client = clients_[c];
  SimRandom& random = client.random;
  KvOperation op;
  op.client = c;
  op.key = client.keys[random.below(client.keys.size())];
  uint64_t dice = random.below(100);
  if (dice < 35) {
    op.kind = OpKind::kPut;
  } else if (dice < 70) {
    op.kind = OpKind::kGet;
  } else if (dice < 80) {
    op.kind = OpKind::kDelete;
  } else {
    op.kind = OpKind::kCas;
  }
  if (op.kind == OpKind::kPut || op.kind == OpKind::kCas) {
    op.value = fmt::format("c{}.{}", c, ++client.seq);
  }
  if (op.kind == OpKind::kCas) {
    const std::deque<std::string>& recent = client.recent[op.key];
    if (!recent.empty() && !random.chance(0.2)) {
      op.expected = recent[recent.size() - 1 - random.below(std::min<size_t>(recent.size(), 3))];
    }
  }
  return op;
}

// Runs one operation: tries hosts until one answers or `budget` passes. True when answered.
Task<bool> RaftWorkload::run_op(size_t c, KvOperation op, Duration budget) {
  Client& client = clients_[c];
  size_t index = ops_.size();
  op.invocation_ns = nanos(now());
  OpRecord started;
  started.op = std::move(op);
  ops_.push_back(std::move(started));
  TimePoint deadline = now() + budget;
  size_t target = client.leader_guess;
  // Now and then a client's routing is stale: it asks a random replica.
  if (client.random.chance(0.1)) target = client.random.below(kReplicas);
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  bool is_get = ops_[index].op.kind == OpKind::kGet;
  while (true) {
    if (now() >= deadline) {
      ops_[index].state = is_get ? OpRecord::State::kNotDone : OpRecord::State::kUnknown;
      co_return false;
    }
    uint64_t attempt = next_attempt_++;
    attempt_op_[attempt] = index;
    Waiter waiter;
    waiter.timer = &timer;
    waiters_[attempt] = &waiter;
    Host& host = hosts_[target];
    if (host.up()) {
      Event request;
      request.kind = Event::Kind::kClientRequest;
      request.host = target;
      request.incarnation = host.incarnation;
      request.number = attempt;
      push(now() + client_latency(), std::move(request));
    }
    co_await sim_.clock().wait(timer, deadline);
    waiters_.erase(attempt);
    if (!waiter.replied) {
      // Timed out: a mutation may still happen (its request may be waiting in a paused host).
      ops_[index].state = is_get ? OpRecord::State::kNotDone : OpRecord::State::kUnknown;
      co_return false;
    }
    (void)co_await sim_.clock().sleep_for(client_latency());
    OpRecord& record = ops_[index];
    switch (waiter.reply) {
      case Waiter::Reply::kOk: {
        record.state = OpRecord::State::kAnswered;
        record.op.response_ns = nanos(now());
        record.op.output_value = waiter.value;
        record.op.output_ok = waiter.cas_ok;
        client.leader_guess = target;
        // Invariant 6.
        if (!is_get && !beyond_contract_) {
          const std::optional<EntryId>& entry = record.entry;
          uint64_t i = entry ? entry->index.value() : 0;
          if (!entry || i == 0 || i > record_.size() || record_[i - 1].term != entry->term) {
            fail(fmt::format("client {}'s acknowledged {} of {} is not in the committed log", c,
                             kind_name(record.op.kind), record.op.key));
          }
        }
        std::deque<std::string>& recent = client.recent[record.op.key];
        if (is_get && record.op.output_value) recent.push_back(*record.op.output_value);
        if (!is_get && record.op.kind != OpKind::kDelete &&
            (record.op.kind != OpKind::kCas || record.op.output_ok)) {
          recent.push_back(record.op.value);
        }
        while (recent.size() > 4) recent.pop_front();
        co_return true;
      }
      case Waiter::Reply::kUnknown:
        record.state = OpRecord::State::kUnknown;
        co_return false;
      case Waiter::Reply::kNotLeader:
        if (waiter.hint && *waiter.hint != target) {
          target = *waiter.hint;
        } else {
          target = (target + 1 + client.random.below(kReplicas - 1)) % kReplicas;
          (void)co_await sim_.clock().sleep_for(milliseconds(client.random.between(1, 10)));
        }
        client.leader_guess = target;
        break;
      case Waiter::Reply::kBusy:
        (void)co_await sim_.clock().sleep_for(milliseconds(client.random.between(5, 40)));
        break;
    }
  }
}

Task<void> RaftWorkload::client_loop(size_t c) {
  ++clients_running_;
  while (!clients_stop_) {
    if (now() < quiet_until_) {  // A quiet period: no new operation until it ends.
      (void)co_await sim_.clock().sleep_for(quiet_until_ - now());
      continue;
    }
    KvOperation op = next_op(c);
    (void)co_await run_op(c, std::move(op), kOpDeadline);
    (void)co_await sim_.clock().sleep_for(milliseconds(clients_[c].random.between(5, 80)));
  }
  --clients_running_;
}

// In seeds with hibernation the clients fall silent now and then, for hibernate_after plus
// 0.5-4 s (operations under way finish or time out), so that the group goes to sleep and the
// faults of the chaos schedule, and the operations after the pause, hit a hibernated group.
Task<void> RaftWorkload::quiet_periods() {
  while (!clients_stop_) {
    (void)co_await sim_.clock().sleep_for(milliseconds(quiet_random_.between(1'000, 6'000)));
    if (clients_stop_) break;
    Duration length = hibernate_after_ + milliseconds(quiet_random_.between(500, 4'000));
    quiet_until_ = now() + length;
    sim_.trace().add("the clients pause for {} ms",
                     std::chrono::duration_cast<milliseconds>(length).count());
    (void)co_await sim_.clock().sleep_for(length);
  }
}

// ---- Faults ----

std::optional<size_t> RaftWorkload::current_leader() const {
  std::optional<size_t> leader;
  Term best;
  for (const Host& host : hosts_) {
    if (host.up() && host.core->role() == Role::kLeader && host.core->term() >= best) {
      best = host.core->term();
      leader = host.index;
    }
  }
  return leader;
}

size_t RaftWorkload::down_count() const {
  size_t down = 0;
  for (const Host& host : hosts_) down += host.up() ? 0 : 1;
  return down;
}

size_t RaftWorkload::amnesic_count() const {
  size_t amnesic = 0;
  for (const Host& host : hosts_) amnesic += host.amnesic ? 1 : 0;
  return amnesic;
}

void RaftWorkload::partition(size_t from, size_t to, Duration duration, bool both_ways) {
  TimePoint until = now() + duration;
  auto cut = [&](size_t a, size_t b) {
    TimePoint& end = cuts_[{a, b}];
    end = std::max(end, until);
  };
  cut(from, to);
  if (both_ways) cut(to, from);
}

void RaftWorkload::chaos_step() {
  SimRandom& random = chaos_random_;
  std::optional<size_t> leader = current_leader();
  size_t victim = random.below(kReplicas);
  if (leader && random.chance(0.35)) victim = *leader;
  uint64_t dice = random.below(100);
  auto restart_later = [&](size_t index, bool after_power_loss) {
    restart_at(index, now() + milliseconds(random.between(100, 3000)), after_power_loss);
  };
  if (dice < 22) {  // kill -9, often of a host with a write in flight.
    std::vector<size_t> writing;
    for (const Host& host : hosts_) {
      if (host.up() && host.in_flight) writing.push_back(host.index);
    }
    if (!writing.empty() && random.chance(0.4)) victim = writing[random.below(writing.size())];
    if (!hosts_[victim].up() || down_count() >= kMaxDown) return;
    kill_process(victim, "kill -9");
    restart_later(victim, false);
  } else if (dice < 34) {  // Power loss of one or two hosts.
    size_t count = random.chance(0.3) ? 2 : 1;
    for (size_t n = 0; n < count; ++n) {
      size_t index = n == 0 ? victim : random.below(kReplicas);
      Host& host = hosts_[index];
      bool was_down = !host.up();
      if (host.amnesic || amnesic_count() >= kMaxAmnesic) continue;
      if (!was_down && down_count() >= kMaxDown) continue;
      if (was_down && !host.restart_pending) continue;
      power_loss(index);
      if (!was_down) restart_later(index, true);
    }
  } else if (dice < 48) {  // Pause for 1-3 election timeouts.
    if (!hosts_[victim].up()) return;
    pause(victim, milliseconds(random.between(600, 3600)));
  } else if (dice < 80) {  // Partitions.
    Duration duration = milliseconds(random.between(500, 5000));
    uint64_t kind = random.below(5);
    if ((kind == 1 || kind == 2 || kind == 4) && !leader) kind = 0;
    switch (kind) {
      case 0: {  // Two hosts, both ways or one way.
        size_t a = random.below(kReplicas);
        size_t b = (a + 1 + random.below(kReplicas - 1)) % kReplicas;
        bool both = random.chance(0.5);
        sim_.trace().add("cut {} {} {} for {} ms", hosts_[a].name, both ? "<->" : "->",
                         hosts_[b].name,
                         std::chrono::duration_cast<milliseconds>(duration).count());
        partition(a, b, duration, both);
        break;
      }
      case 1: {  // The leader from all its followers.
        sim_.trace().add("cut the leader {} from every follower for {} ms", hosts_[*leader].name,
                         std::chrono::duration_cast<milliseconds>(duration).count());
        TESS_COVER("raft_sim.leader_partitioned");
        for (size_t i = 0; i < kReplicas; ++i) {
          if (i != *leader) partition(*leader, i, duration, true);
        }
        break;
      }
      case 2: {  // One follower from the leader only.
        size_t follower = (*leader + 1 + random.below(kReplicas - 1)) % kReplicas;
        sim_.trace().add("cut follower {} from the leader {} for {} ms", hosts_[follower].name,
                         hosts_[*leader].name,
                         std::chrono::duration_cast<milliseconds>(duration).count());
        partition(*leader, follower, duration, true);
        break;
      }
      case 3: {  // A minority or majority split.
        size_t a = random.below(kReplicas);
        size_t b = (a + 1 + random.below(kReplicas - 1)) % kReplicas;
        sim_.trace().add("split {{{}, {}}} from the rest for {} ms", hosts_[a].name, hosts_[b].name,
                         std::chrono::duration_cast<milliseconds>(duration).count());
        for (size_t i = 0; i < kReplicas; ++i) {
          if (i == a || i == b) continue;
          partition(a, i, duration, true);
          partition(b, i, duration, true);
        }
        break;
      }
      case 4: {  // The leader stops hearing its followers (or they stop hearing it).
        bool deaf = random.chance(0.5);
        sim_.trace().add("the leader {} {} for {} ms", hosts_[*leader].name,
                         deaf ? "hears no follower" : "reaches no follower",
                         std::chrono::duration_cast<milliseconds>(duration).count());
        TESS_COVER("raft_sim.leader_partitioned");
        for (size_t i = 0; i < kReplicas; ++i) {
          if (i == *leader) continue;
          if (deaf) {
            partition(i, *leader, duration, false);
          } else {
            partition(*leader, i, duration, false);
          }
        }
        break;
      }
    }
  } else if (dice < 88) {  // Leadership transfer to a random voter.
    if (!leader || hosts_[*leader].paused_until != TimePoint::min()) return;
    Host& host = hosts_[*leader];
    size_t target = (*leader + 1 + random.below(kReplicas - 1)) % kReplicas;
    Status transferring = host.core->transfer_leadership(hosts_[target].id, host.clock->now());
    sim_.trace().add("transfer leadership {} -> {}: {}", host.name, hosts_[target].name,
                     transferring.ok() ? "started" : transferring.to_string());
    if (transferring.ok()) transfer_ = std::make_pair(target, host.core->term());
    observe(host);
    pump(host);
  } else if (dice < 94) {
    // A power blip of the next leader right after its election, before the periodic sync: its
    // term and vote must have been synced before anything that depends on them left.
    power_blip_at_next_election_ = true;
  }
  // Otherwise a quiet interval.
}

Task<void> RaftWorkload::chaos() {
  TimePoint end = now() + kChaos;
  while (now() < end && failure_.ok()) {
    (void)co_await sim_.clock().sleep_for(milliseconds(chaos_random_.between(150, 1500)));
    if (blackout_after_ && now() >= *blackout_after_) {
      blackout_after_.reset();
      blackout_armed_ = true;  // At the next election.
    }
    chaos_step();
  }
}

void RaftWorkload::heal() {
  sim_.trace().add("healing: no cuts, no pauses; down hosts restart");
  cuts_.clear();
  for (Host& host : hosts_) {
    if (host.up() && host.paused_until != TimePoint::min()) resume(host.index);
  }
}

bool RaftWorkload::converged(std::string* why) const {
  std::optional<size_t> leader;
  for (const Host& host : hosts_) {
    if (!host.up()) {
      *why = fmt::format("{} is down", host.name);
      return false;
    }
    if (host.core->role() == Role::kLeader) {
      if (leader) {
        *why = "two replicas think they lead";
        return false;
      }
      leader = host.index;
    }
  }
  if (!leader) {
    *why = "no leader";
    return false;
  }
  const raft::Core& lead = *hosts_[*leader].core;
  if (lead.commit() != lead.last_index()) {
    *why = fmt::format("the leader's commit {} is below its last index {}", lead.commit(),
                       lead.last_index());
    return false;
  }
  for (const Host& host : hosts_) {
    const raft::Core& core = *host.core;
    if (core.term() != lead.term() || core.leader() != lead.self() ||
        core.applied() != lead.commit() || core.last_index() != lead.last_index() ||
        (core.recovering() && core.role() != Role::kLeader) || host.in_flight) {
      std::string progress = "none";
      auto pr = lead.progress().find(host.id);
      if (pr != lead.progress().end()) {
        progress = fmt::format("{} match {} next {} probe_sent {} inflight {}",
                               raft::progress_state_name(pr->second.state), pr->second.match,
                               pr->second.next, pr->second.probe_sent, pr->second.inflight.size());
      }
      *why = fmt::format(
          "{} is at term {} (leader {}), applied {} last {}{}; the leader at term "
          "{} commit {}, its progress there: {}",
          host.name, core.term(), core.leader(), core.applied(), core.last_index(),
          core.recovering() ? ", recovering" : "", lead.term(), lead.commit(), progress);
      return false;
    }
  }
  return true;
}

Task<Status> RaftWorkload::finish() {
  clients_stop_ = true;
  while (clients_running_ > 0) (void)co_await sim_.clock().sleep_for(50ms);
  TimePoint give_up = now() + kConverge;
  std::string why;
  while (!converged(&why)) {
    if (!failure_.ok()) co_return failure_;
    if (now() >= give_up) {
      co_return error(StatusCode::kInternal, "not converged {} s after healing: {}",
                      std::chrono::duration_cast<std::chrono::seconds>(kConverge).count(), why);
    }
    (void)co_await sim_.clock().sleep_for(50ms);
  }
  const Host& leader = hosts_[*current_leader()];
  sim_.trace().add("converged: {} leads term {}, commit {}{}", leader.name, leader.core->term(),
                   leader.core->commit(), leader.core->recovering() ? " (still recovering)" : "");
  // The core lets a recovering replica campaign (its own vote not counted) and ends recovery
  // only on an append, so a leader elected while recovering stays so.
  if (leader.core->recovering()) TESS_COVER("raft_sim.recovering_leader");
  if (beyond_contract_) {
    sim_.trace().add("beyond the contract since the blackout: the history is not checked");
    co_return failure_;
  }
  // Every log equals the record from its snapshot point on.
  for (const Host& host : hosts_) {
    const raft::MemoryLog& log = host.os.log;
    if (log.last_index().value() != record_.size()) {
      co_return error(StatusCode::kInternal, "{}'s log ends at {} but {} entries were committed",
                      host.name, log.last_index(), record_.size());
    }
    for (const Entry& entry : log.stored()) {
      const CommittedRecord& recorded = record_[entry.index.value() - 1];
      if (entry.term != recorded.term ||
          (hash_bytes(entry.payload) ^ static_cast<uint64_t>(entry.type)) != recorded.hash) {
        co_return error(StatusCode::kInternal, "{}'s entry {} differs from the committed one",
                        host.name, entry.index);
      }
    }
  }
  // Every key reads back the replayed value, through a linearizable read.
  for (const std::string& key : keys_) {
    bool answered = false;
    for (int attempt = 0; attempt < 5 && !answered; ++attempt) {
      KvOperation op;
      op.kind = OpKind::kGet;
      op.client = clients_.size();
      op.key = key;
      answered = co_await run_op(0, std::move(op), kFinalReadDeadline);
    }
    if (!answered) co_return error(StatusCode::kInternal, "the final read of {} failed", key);
    const KvOperation& read = ops_.back().op;
    if (read.output_value != model_.get(key)) {
      co_return error(StatusCode::kInternal,
                      "the final read of {} returned {} but the committed "
                      "log says {}",
                      key, read.output_value.value_or("(absent)"),
                      model_.get(key).value_or("(absent)"));
    }
  }
  TESS_CO_RETURN_IF_ERROR(failure_);
  // The history: answered operations, and unknown mutations that the committed log shows happened.
  std::vector<KvOperation> history;
  size_t answered = 0, unknown_kept = 0, unknown_dropped = 0, gets_dropped = 0;
  for (const OpRecord& record : ops_) {
    switch (record.state) {
      case OpRecord::State::kAnswered:
        history.push_back(record.op);
        ++answered;
        break;
      case OpRecord::State::kUnknown: {
        const std::optional<EntryId>& entry = record.entry;
        uint64_t i = entry ? entry->index.value() : 0;
        if (entry && i >= 1 && i <= record_.size() && record_[i - 1].term == entry->term) {
          KvOperation op = record.op;
          op.response_ns.reset();
          op.output_value.reset();
          op.output_ok = false;
          history.push_back(std::move(op));
          ++unknown_kept;
        } else {
          ++unknown_dropped;
        }
        break;
      }
      case OpRecord::State::kNotDone:
        ++gets_dropped;
        break;
      case OpRecord::State::kRunning:
        co_return error(StatusCode::kInternal, "an operation was still running at the end");
    }
  }
  sim_.trace().add(
      "history: {} answered, {} unknown that happened, {} unknown that did not, {} gets "
      "unanswered; {} committed entries, {} elections, {} snapshots installed, {} messages",
      answered, unknown_kept, unknown_dropped, gets_dropped, record_.size(), elections_,
      snapshots_installed_, messages_sent_);
  LinearizabilityResult result = check_kv_history(history);
  switch (result.verdict) {
    case LinearizabilityResult::Verdict::kLinearizable:
      break;
    case LinearizabilityResult::Verdict::kNotLinearizable:
      co_return error(StatusCode::kInternal, "the history is not linearizable: {}",
                      result.explanation);
    case LinearizabilityResult::Verdict::kUnknown:
      co_return error(StatusCode::kInternal,
                      "the linearizability check gave up (lower the op count): {}",
                      result.explanation);
  }
  co_return Status();
}

Task<Status> RaftWorkload::run() {
  spawn_detached(sim_.executor(), dispatcher(), "raft dispatcher");
  for (size_t i = 0; i < kReplicas; ++i) start_process(i, false);
  for (size_t c = 0; c < clients_.size(); ++c) {
    spawn_detached(sim_.executor(), client_loop(c), "raft client");
  }
  if (hibernate_after_ != Duration::zero()) {
    sim_.trace().add("hibernation after {} ms idle{}",
                     std::chrono::duration_cast<milliseconds>(hibernate_after_).count(),
                     ordered_links_ ? ", links deliver in order" : "");
    if (ordered_links_) TESS_COVER("raft_sim.ordered_links");
    spawn_detached(sim_.executor(), quiet_periods(), "raft quiet periods");
  }
  co_await chaos();
  TESS_CO_RETURN_IF_ERROR(failure_);
  heal();
  (void)co_await sim_.clock().sleep_for(kHealed);
  TESS_CO_RETURN_IF_ERROR(failure_);
  co_return co_await finish();
}

}  // namespace

std::unique_ptr<Workload> make_raft_workload(Simulation& simulation) {
  return std::make_unique<RaftWorkload>(simulation);
}

}  // namespace tessera::sim
