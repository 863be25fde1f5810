// Replica: one replica of one bucket in a tessd (docs/design/2026-11-25-raft-buckets.md 7): its
// raft::Core, its BucketLog in the process's LogStore, its KvStateMachine over the store's default
// family, and the client operations waiting on it. It carries out the core's Readies: persists
// hard state and entries through the LogStore (group commit with every other bucket), sends
// messages through a RaftOutbox, applies committed commands in the same write batch as the
// bucket's applied index, answers proposals and reads, and feeds the store's durable watermarks
// back to the core.
//
// Executor: a Replica lives on its bucket's loop (one executor); every method is called from
// there, and its run loop is a task there. Failures: a failed store write or a damaged entry stops
// the replica (`broken()`): it answers nothing more, and operations waiting on it get kUnavailable;
// the store refuses further writes anyway (log_store.h).
//
// Snapshots: this version sends a bucket's whole key range inline in the snapshot message (at
// most kMaxInlineSnapshotBytes) and installs it in one write batch; the streamed pull of design
// 3.3 replaces it for large buckets.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "base/strong_id.h"
#include "bucket/kv_state_machine.h"
#include "bucket/log_store.h"
#include "proto/bucket.pb.h"
#include "raft/core.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::bucket {

inline constexpr uint64_t kMaxInlineSnapshotBytes = uint64_t{64} * 1024 * 1024;

// Where a replica's messages go: the transport (one frame per peer per loop turn) or a test's
// network. send() never blocks and may drop: Raft retries.
class RaftOutbox {
 public:
  virtual ~RaftOutbox() = default;
  virtual void send(BucketId bucket, raft::Message message) = 0;
};

struct ReplicaOptions {
  // self and the timeouts; `incarnation` is set from the store's start_seq, `seed` must be set.
  raft::CoreOptions core;
  // The replica ticks its core this often; zero: its owner calls tick() (BucketHost ticks all its
  // replicas in one loop turn, so their heartbeats to one peer share a frame).
  Clock::Duration tick_interval = std::chrono::milliseconds(100);
  // The log is compacted to applied - keep_entries once it holds more than compact_above_entries.
  uint64_t compact_above_entries = 10'000;
  uint64_t keep_entries = 1'000;
  // Runs the namespace's commands and reads (bucket/command_handler.h); nullptr: a key-value
  // bucket. Not owned; shared by the process's replicas and outlives them.
  CommandHandler* command_handler = nullptr;
  // Wall-clock milliseconds since the Unix epoch for the log time a leader stamps on each
  // proposal (inode times, transaction timeouts, session expiry); nullptr: the system clock.
  // The simulator and tests give their fake clock's.
  std::function<uint64_t()> unix_ms;
};

class Replica {
 public:
  // Loads the replica of `bucket` from `store`, or founds it when the store holds nothing of it
  // and `founding_config` is not empty (the bootstrap rule, raft/core.h: a snapshot at index 1
  // holding the configuration, written synced). A replica added later passes an empty config and
  // learns everything from its leader. kCorruption / kIoError from the store.
  // REQUIRES: `store` and `outbox` outlive the replica.
  static Task<Result<std::unique_ptr<Replica>>> open(Executor executor, const Clock* clock,
                                                     LogStore* store, BucketId bucket,
                                                     raft::Config founding_config,
                                                     ReplicaOptions options, RaftOutbox* outbox);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Starts the run loop (ticks and Readies). Call once.
  void start();
  // Stops the run loop and fails every waiting operation with kUnavailable; returns once the loop
  // has ended (a write in flight finishes first).
  Task<void> stop();

  // A peer's message for this bucket.
  void step(const raft::Message& message);
  // The store's durable watermark for this bucket.
  void on_durable(raft::EntryId durable);
  // Prompts the core's timers (when ReplicaOptions::tick_interval is zero). Nothing while the
  // core hibernates.
  void tick();
  // Hibernation (raft/core.h): whether the core stopped ticking, and waking it when the host's
  // liveness signal says its leader's (or a follower's) process died or restarted.
  bool hibernated() const { return core_->hibernated(); }
  void wake_hibernated();
  // The transport could not deliver to `peer`: the core stops streaming to it.
  void report_unreachable(raft::ReplicaId peer) { core_->report_unreachable(peer); }

  // Proposes a mutation and waits for its result. kFailedPrecondition "not leader" (leader()
  // names the leader if known), kBusy, kAborted (a transfer is under way, or the proposal was
  // overtaken by another leader's entry: it was not applied), kUnavailable (leadership lost while
  // waiting: outcome unknown, retry with the same request id), kDeadlineExceeded (outcome
  // unknown). A result with a non-OK status_code is the command's own answer.
  Task<Result<proto::BucketResult>> mutate(proto::BucketCommand command, Deadline deadline);
  // A linearizable read of one key (lease or ReadIndex): the same failures, never "unknown".
  Task<Result<proto::BucketResult>> get(std::string key, Deadline deadline);
  // A linearizable read of up to `limit` keys in [start, end) (KvStateMachine::range).
  Task<Result<proto::BucketResult>> range(std::string start, std::string end, size_t limit,
                                          Deadline deadline);
  // A linearizable namespace read (CommandHandler::read): the same failures as get().
  Task<Result<proto::BucketResult>> meta_read(proto::MetaRead read, Deadline deadline);
  // The same read of this replica's applied state as it is now, with no lease or ReadIndex
  // round: not linearizable, possibly stale. For local decisions only (whether a leader's
  // recovery round is worth a linearizable read). Storage errors as meta_read's.
  Result<proto::BucketResult> local_meta_read(const proto::MetaRead& read) const;
  // Waits until every entry up to `index` is durable on a majority (SyncTo). Leader only.
  Task<Status> sync_to(uint64_t index, Deadline deadline);

  // Leader only: proposes one configuration change (raft::Core::propose_conf_change: one at a
  // time, refused while another is pending); it takes effect as it is appended. The caller sees
  // the outcome in core().config(). Fails as the core does, or kUnavailable once stopped.
  Status propose_conf_change(const raft::ConfChange& change);
  // Leader only: hands leadership to `target`, a caught-up voter (raft::Core::transfer_leadership).
  Status transfer_leadership(raft::ReplicaId target);

  BucketId bucket() const { return bucket_; }
  const raft::Core& core() const { return *core_; }
  raft::ReplicaId leader() const { return core_->leader(); }
  bool broken() const { return broken_; }

 private:
  struct Waiter {
    explicit Waiter(const Executor& executor) : timer(executor) {}
    boost::asio::steady_timer timer;
    std::optional<Result<proto::BucketResult>> result;
  };
  struct PendingRead {
    Waiter* waiter = nullptr;
    std::string key;                      // get, or the start of a range
    std::string end;                      // range only
    size_t limit = 0;                     // range only; 0: a get
    std::optional<proto::MetaRead> meta;  // A namespace read instead of a get or range.
    raft::LogIndex index;  // Serve once applied >= index (zero until the core answers).
  };
  Task<Result<proto::BucketResult>> read(PendingRead read, Deadline deadline);
  Result<proto::BucketResult> serve(const PendingRead& read);

  struct Loaded {
    std::unique_ptr<Replica> replica;
    raft::InitialState initial;
    bool found = false;  // The bucket is being founded here.
  };
  Replica(Executor executor, const Clock& clock, LogStore& store, BucketId bucket,
          ReplicaOptions options, RaftOutbox& outbox);
  static Result<Loaded> load(Executor executor, const Clock& clock, LogStore& store,
                             BucketId bucket, const raft::Config& founding_config,
                             ReplicaOptions options, RaftOutbox& outbox);
  static Task<void> run(Replica* self);
  Task<void> handle_ready();
  Task<Result<proto::BucketResult>> wait_for(Waiter& waiter, Deadline deadline);
  void wake();
  void finish(Waiter* waiter, Result<proto::BucketResult> result);
  void send(raft::Message message);
  Status install_snapshot(LogWriteBatch& batch, const raft::SnapshotMeta& meta,
                          const std::string& data);
  Status apply_committed(LogWriteBatch& batch, const std::vector<raft::Entry>& committed,
                         std::vector<std::pair<raft::EntryId, proto::BucketResult>>& results);
  void answer_proposals(const std::vector<std::pair<raft::EntryId, proto::BucketResult>>& results);
  void serve_reads();
  void release_syncs();
  void fail_all(const Status& status);
  void on_leadership_lost();
  void mark_broken(const Status& status);

  Executor executor_;
  const Clock& clock_;
  LogStore& store_;
  BucketId bucket_;
  ReplicaOptions options_;
  RaftOutbox& outbox_;
  std::unique_ptr<BucketLog> log_;
  std::unique_ptr<raft::Core> core_;
  KvStateMachine machine_;
  raft::Config applied_config_;
  Term applied_term_;
  uint64_t log_time_ms_ = 0;

  boost::asio::steady_timer wake_timer_;
  boost::asio::steady_timer stopped_timer_;
  bool wake_pending_ = false;
  bool started_ = false;
  bool stopping_ = false;
  bool running_ = false;
  bool broken_ = false;
  bool was_leader_ = false;

  std::map<raft::LogIndex, std::pair<Term, Waiter*>> proposals_;
  std::map<raft::ReadId, PendingRead> reads_;
  uint64_t next_read_id_ = 1;
  std::list<std::pair<raft::LogIndex, Waiter*>> syncs_;
};

}  // namespace tessera::bucket
