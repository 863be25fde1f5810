// LogStore: the Raft logs of every bucket replica of one tessd, and their state machines, in one
// RocksDB database (docs/design/2026-11-25-raft-buckets.md 4). Column family `raft` holds the
// records of log_format.h; `default` holds the state machines (design 3.3). One WAL orders every
// write of every bucket, so after a crash the database is a prefix of the writes
// (kPointInTimeRecovery) and a state machine is never ahead of its log.
//
// Writing: a caller builds a LogWriteBatch (hard states, entries, compactions, resets, clearing
// the recovering marker, state-machine puts, for any number of buckets) and awaits write(). A
// write is acknowledged once it reached the OS (it survives kill -9, not a power loss), or the
// disk as well when `sync`. Group commit, two ways: unsynced batches written on one loop turn
// join one DB::Write made inline on that loop at the end of the turn (no thread hop: a WAL
// append and a memtable insert, tens of microseconds); synced batches go to a writer thread,
// which merges every batch waiting in its queue into one DB::Write, so an fsync never blocks a
// loop. The syncer fsyncs the WAL once the oldest
// unsynced write is group_sync_delay old (2 ms), or at once after sync_now(), and then tells the
// durable listeners each bucket's durable watermark: the last (index, term) written before that
// sync began. A failed write or sync fails the store: it refuses every later write with that
// first error (kIoError), reads go on, and only a restart (which recovers a prefix) clears it.
//
// Knowing what a crash lost (design 4.4): every open writes a new `boot` record (the kernel's boot
// id, start_seq + 1) in one synced batch. If the boot id changed and the last stop was not clean,
// unsynced writes may have been lost: that open also writes an `A` (recovering) record for every
// bucket the store holds. close_clean() syncs the WAL and then records the clean stop.
//
// Threads and executors. The store lives on the executor given to open(): close and the syncer's
// timing run there (all waiting goes through LogStoreOptions::clock). load(), write(),
// sync_now(), add_durable_listener(), failure() and stats() may be called from any executor
// (every BucketLog lives on the executor that loaded it); a write's completion resumes the
// awaiting task on its own executor, and a listener is called on the executor it was added with.
// A listener hears of a durable entry only after the write that put it was completed (both are
// posted in that order). RocksDB work runs on the store's threads (a writer and a syncer) and
// inline for unsynced turn groups, except in simulation mode, where there are no threads: writes
// and syncs run inline on the store's executor, so that the deterministic simulator drives them. A
// BucketLog lives on the executor of its bucket's replica; its reads block on RocksDB inline
// (design 10: entries past the cache are rare, ~0.1 ms).
//
// Limits: an entry's payload is at most 1 MiB (encode asserts it; the core refuses larger
// proposals). The writer's queue holds one batch per awaiting write(): its bound is the callers'
// (one Ready per replica at a time, the core's flow control), so write() does not refuse for
// fullness.
#pragma once

#include <rocksdb/write_batch.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "bucket/log_format.h"
#include "raft/log_view.h"
#include "raft/types.h"
#include "runtime/clock.h"
#include "runtime/task.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Env;
}  // namespace rocksdb

namespace tessera {

class BucketLog;
class LogStore;

struct LogStoreOptions {
  // The syncer's timing runs on this clock (and only there).
  const Clock* clock = &RealClock::instance();
  // The simulator's mode: no threads; write() and the syncer's SyncWAL run inline on the store's
  // executor (blocking it), and RocksDB compacts nothing in the background, so a run replays
  // exactly. Not for production: a synced write would stall every bucket of the loop.
  bool simulation = false;
  // Unsynced writes of one loop turn share one DB::Write made inline on that loop (see above);
  // false: they go through the writer thread like synced ones (tests of its merging).
  bool inline_unsynced_writes = true;
  // The Env RocksDB does its file I/O through (FaultInjectionFs::env() in tests and the
  // simulator); nullptr: the default. Must outlive the store.
  rocksdb::Env* env = nullptr;
  // This kernel's boot id: read_boot_id() on real hosts; the simulator gives a new one at every
  // simulated power loss. Must not be all zero.
  BootId boot_id{};
  // How long the syncer lets the oldest unsynced write wait for others to share its fsync.
  // At most kMaxGroupSyncDelay.
  Clock::Duration group_sync_delay = std::chrono::milliseconds(2);
  // The write buffer (memtable) of each column family. Design 4.1: 64 MiB of raft memtable hold
  // ~13 s of entries at the aimed load, most of them compacted away before a flush writes them.
  // RocksDB also preallocates each WAL file at 1.1 x this size, which tests and the simulator
  // (many small databases, often on tmpfs) avoid with a smaller value.
  uint64_t memtable_bytes = uint64_t{64} * 1024 * 1024;
  // Recent entries kept in memory per bucket (entries not yet in RocksDB are kept regardless).
  uint64_t cache_bytes_per_bucket = uint64_t{1024} * 1024;
  // Draws the store id when the store is created (the owner's randomness; style: no
  // random_device inside components). Must not be 0: a store id repeated after a host lost its
  // store would bring back a replica with its vote forgotten (design 3.2). The host id and
  // now_unix_ms are mixed in as well.
  uint64_t store_id_seed = 0;
  // Wall-clock time stamped into the identity when the store is created.
  uint64_t now_unix_ms = 0;
};

inline constexpr Clock::Duration kMaxGroupSyncDelay = std::chrono::milliseconds(10);

// Reads the kernel's boot id (/proc/sys/kernel/random/boot_id). kIoError / kInvalidArgument.
Result<BootId> read_boot_id(const std::string& path = "/proc/sys/kernel/random/boot_id");

// A bucket's log is durable up to `durable` (every entry up to it survives a power loss).
struct DurableMark {
  BucketId bucket;
  raft::EntryId durable;
  friend bool operator==(const DurableMark&, const DurableMark&) = default;
};

struct LogStoreStats {
  uint64_t write_calls = 0;  // Batches handed to write() and written (or refused).
  uint64_t db_writes = 0;    // DB::Write calls: fewer than write_calls when batches were merged.
  uint64_t synced_db_writes = 0;
  uint64_t wal_syncs = 0;  // SyncWAL calls of the syncer.
  // Time spent in them (on the store's clock: zero in simulation), in total and at most.
  Clock::Duration wal_sync_time{};
  Clock::Duration wal_sync_time_max{};
};

// What load() found of one bucket: what raft::InitialState needs from the log store, and the log.
struct LoadedBucket {
  raft::HardState hard_state;
  // The replica may have lost acknowledged entries in an OS crash (design 2.8).
  bool recovering = false;
  // The start_seq at which it became recovering (0: not recovering).
  uint64_t recovering_since = 0;
  raft::EntryId snapshot_point;
  raft::LogIndex last_index;
  // Not the store's: the state machine's configuration and applied index (BucketState in the
  // default family, design 3.3). load() leaves them empty for the caller to fill before it builds
  // raft::InitialState{hard_state, config, applied, recovering}.
  raft::Config config;
  raft::LogIndex applied;
  // The bucket's log, for raft::Core.
  std::unique_ptr<BucketLog> log;
};

// One bucket's persisted log, as the Raft core reads it: RocksDB plus a bounded cache of the most
// recent entries. Every entry read, from RocksDB or from the cache, is checked (CRC, index,
// bucket); a damaged or missing entry is kCorruption. The view changes when a LogWriteBatch that
// appends to, compacts or resets it is built (as MemoryLog changes when the host handles a Ready);
// entries not yet written to RocksDB stay in the cache until their write completes.
//
// Lives on one executor (its replica's); call it only from there. Built by LogStore::load(); at
// most one per bucket at a time. REQUIRES: destroyed before its store.
class BucketLog final : public raft::LogView {
 public:
  ~BucketLog() override;
  BucketLog(const BucketLog&) = delete;
  BucketLog& operator=(const BucketLog&) = delete;

  BucketId bucket() const { return bucket_; }
  raft::EntryId snapshot_point() const override { return snapshot_; }
  raft::LogIndex last_index() const override { return last_; }
  Result<Term> term(raft::LogIndex index) const override;
  Result<std::vector<raft::Entry>> entries(raft::LogIndex from, raft::LogIndex to,
                                           uint64_t max_bytes) const override;
  // Entries held in memory, and their bytes.
  size_t cached_entries() const { return cache_.size(); }
  uint64_t cached_bytes() const { return cache_bytes_; }

 private:
  friend class LogStore;
  friend class LogWriteBatch;
  struct Cached {
    Term term;
    std::string value;  // The stored form (log_format.h), checked at every read.
  };

  BucketLog(LogStore* store, BucketId bucket, raft::EntryId snapshot, raft::LogIndex last,
            uint64_t cache_limit_bytes);
  // The first cached index (last_ + 1 when the cache is empty).
  raft::LogIndex cache_first() const { return raft::LogIndex(last_.value() + 1 - cache_.size()); }
  // Reads one entry's stored bytes from RocksDB. kCorruption if it is missing.
  Result<std::string> read_value(raft::LogIndex index) const;
  const Cached& cached(raft::LogIndex index) const;
  // Changes made by a LogWriteBatch being built.
  void begin_write();
  void append(const std::vector<raft::Entry>& entries, std::vector<std::string> values);
  void compact(raft::EntryId through);
  void reset(raft::EntryId snapshot_point);
  // The write that began with begin_write() finished (OK or not).
  void end_write(bool ok);
  void trim_cache();

  LogStore* store_;
  BucketId bucket_;
  raft::EntryId snapshot_;
  raft::LogIndex last_;
  std::deque<Cached> cache_;  // Entries (last_ - size, last_].
  uint64_t cache_bytes_ = 0;
  uint64_t cache_limit_bytes_;
  // Writes built but not finished that change this log, and the first index they may have put
  // that RocksDB does not hold yet (kept in the cache until they finish).
  uint32_t writes_in_flight_ = 0;
  raft::LogIndex unwritten_from_;
  bool write_failed_ = false;
};

// A set of changes for one write(): any number of buckets' log changes and state-machine puts,
// applied atomically in one DB::Write. Built on one executor; the BucketLogs it changes must live
// on the executor that awaits write(), and outlive it. The views of those BucketLogs change as
// the batch is built, so a batch that changed one must be written: dropping it is a bug (asserted).
class LogWriteBatch {
 public:
  LogWriteBatch(LogWriteBatch&& other) noexcept;
  LogWriteBatch& operator=(LogWriteBatch&& other) = delete;
  LogWriteBatch(const LogWriteBatch&) = delete;
  LogWriteBatch& operator=(const LogWriteBatch&) = delete;
  ~LogWriteBatch();

  void set_hard_state(BucketId bucket, const raft::HardState& state);
  // Drops the stored entries >= entries.front().index and appends `entries`. REQUIRES: the
  // entries are contiguous, belong to `log`'s bucket, and the first index is in
  // (snapshot_point, last_index + 1].
  void append(BucketLog& log, const std::vector<raft::Entry>& entries);
  // Deletes the entries <= `through` and records `T` = (through, its term). Nothing if `through`
  // is at or below the snapshot point. kOutOfRange past the last index; kCorruption if the entry
  // at `through` is damaged (nothing is changed then).
  Status compact(BucketLog& log, raft::LogIndex through);
  // Deletes every entry and records `T` = `snapshot_point` (design 3.3's last step, after a
  // snapshot was ingested). Set the commit with set_hard_state in the same batch.
  void reset(BucketLog& log, raft::EntryId snapshot_point);
  // The bucket stopped recovering (Ready::recovered): deletes its `A` record. Written unsynced:
  // losing it only repeats a safe state.
  void clear_recovering(BucketId bucket);
  // State-machine changes, in the default column family.
  void put_state(std::string_view key, std::string_view value);
  void delete_state(std::string_view key);
  void delete_state_range(std::string_view begin, std::string_view end);

  bool empty() const;
  uint64_t bytes() const;

 private:
  friend class LogStore;
  explicit LogWriteBatch(LogStore* store);
  void touch(BucketLog& log);
  void set_mark(BucketId bucket, raft::EntryId mark);
  // Tells the changed BucketLogs that the write finished.
  void finish(bool ok);

  LogStore* store_;
  rocksdb::WriteBatch batch_;
  std::vector<BucketLog*> touched_;
  // Each changed bucket's last entry after this batch: its written watermark once it is written.
  std::vector<DurableMark> marks_;
  bool finished_ = false;
};

class LogStore {
 public:
  // Opens (creating if needed) the store at `path` (a directory) for `host` of `cluster`.
  // Errors: kInvalidArgument for bad options; kFailedPrecondition if the store belongs to another
  // cluster or host, or another process holds it; kCorruption for a damaged store record; kIoError
  // if RocksDB cannot open or write it. Writes the boot record (and the recovering markers, if
  // unsynced writes may have been lost) in one synced batch before returning.
  static Task<Result<std::unique_ptr<LogStore>>> open(Executor executor, std::string path,
                                                      ClusterUuid cluster, HostId host,
                                                      LogStoreOptions options);
  ~LogStore();
  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  const StoreIdentity& identity() const { return identity_; }
  // This open's start_seq (1 for a new store, +1 at every open): the process incarnation.
  uint64_t start_seq() const { return start_seq_; }
  // The kernel restarted since the last open and the last stop was not clean: writes that were
  // not synced may be gone, and every bucket was marked recovering.
  bool may_have_lost_writes() const { return may_have_lost_writes_; }
  // The buckets holding any record at open.
  const std::vector<BucketId>& buckets_at_open() const { return buckets_at_open_; }

  // Loads a bucket's hard state, truncation point, recovering marker and last index, and makes
  // its BucketLog. A bucket the store holds no record of loads empty; if this open may have lost
  // writes it loads recovering, and its `A` record is written (synced) first, because the loss
  // may have taken every record it had. kCorruption for a damaged record, a commit past the last
  // entry or a log that does not start right after its truncation point; kIoError if RocksDB
  // fails. REQUIRES: no BucketLog of `bucket` exists. Blocks on RocksDB (and an fsync in the
  // case above).
  Result<LoadedBucket> load(BucketId bucket);

  // An empty batch for this store.
  LogWriteBatch batch();
  // Applies `batch` atomically; with `sync`, it reached the disk when this returns OK. Errors:
  // kIoError (this write or an earlier one or a sync failed: the store takes no more writes),
  // kCancelled (the store is closing). An empty batch without `sync` returns OK at once, without
  // a round trip to the writer thread. REQUIRES: `batch` was made by this store's batch().
  Task<Status> write(LogWriteBatch batch, bool sync);
  // Asks the syncer to sync now rather than after group_sync_delay. Any thread.
  void sync_now();
  // Calls `listener` on `executor` after every WAL sync with the watermarks that moved (each
  // bucket's last entry written before the sync began; lower than before after a tail was
  // replaced or a log was reset). Any thread.
  void add_durable_listener(Executor executor,
                            std::function<void(const std::vector<DurableMark>&)> listener);

  // The first failed write or sync, after which the store refuses writes; OK if none.
  Status failure() const;
  LogStoreStats stats() const;

  // State-machine reads (the default column family). nullopt if absent; kIoError.
  Result<std::optional<std::string>> get_state(std::string_view key) const;
  // The state-machine pairs with begin <= key < end, in key order, at most `limit`. kIoError.
  Result<std::vector<std::pair<std::string, std::string>>> scan_state(std::string_view begin,
                                                                      std::string_view end,
                                                                      size_t limit) const;

  // Stops the writer and the syncer, syncs the WAL and records a clean stop (so the next open
  // after a reboot knows nothing was lost), then closes the database. Without the clean record if
  // the store failed (that failure is returned). REQUIRES: no write in flight and none follows;
  // every BucketLog destroyed.
  Task<Status> close_clean();
  // Stops and closes without recording a clean stop (after a failure, or a test's crash).
  Task<void> close();

 private:
  friend class BucketLog;
  friend class LogWriteBatch;
  struct PendingWrite;
  struct Listener {
    Executor executor;
    std::function<void(const std::vector<DurableMark>&)> function;
  };

  LogStore(Executor executor, std::string path, LogStoreOptions options);
  Status open_database(const ClusterUuid& cluster, HostId host);
  // Writes `group` as one DB::Write; a failure fails the store. Writer thread, or inline.
  Status write_group(const std::vector<std::shared_ptr<PendingWrite>>& group);
  // After a successful write_group: the written watermarks move, and the syncer hears of it.
  void publish_written(const std::vector<std::shared_ptr<PendingWrite>>& group);
  void start_writer();
  void writer_loop();
  // Unsynced writes on the caller's loop: `pending` joins its loop's turn group; the first one
  // posts write_turn, which runs after the handlers already queued on that loop.
  void join_turn(std::shared_ptr<PendingWrite> pending);
  void write_turn(const void* loop);
  int turns_open() const;
  // Completes every write of `group` with `status` on its executor, then publishes them.
  void complete_group(const std::vector<std::shared_ptr<PendingWrite>>& group, Status status,
                      bool inline_completion);
  // On the store's executor: a write that needs a sync finished (write_seq), or a sync is wanted.
  void note_unsynced(uint64_t write_seq, bool sync_now);
  static Task<void> syncer_loop(LogStore* self);
  Task<void> stop_threads();
  void close_database();
  void unregister(BucketId bucket);

  Executor executor_;
  std::string path_;
  LogStoreOptions options_;
  const Clock& clock_;
  StoreIdentity identity_;
  uint64_t start_seq_ = 0;
  bool may_have_lost_writes_ = false;
  std::vector<BucketId> buckets_at_open_;

  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* raft_ = nullptr;
  rocksdb::ColumnFamilyHandle* state_ = nullptr;

  // Threads (null in simulation mode). The sync thread runs SyncWAL and blocking open/close work.
  std::unique_ptr<boost::asio::thread_pool> sync_thread_;
  std::thread writer_;

  // Guards everything below it (the writer thread, writers on any executor and the syncer share
  // it). A leaf lock: nothing else is locked while it is held, and RocksDB is never called under
  // it.
  mutable std::mutex mutex_;
  std::condition_variable queue_changed_;
  std::vector<std::shared_ptr<PendingWrite>> queue_;
  // Unsynced writes waiting for the end of their loop's turn, by loop (execution context), and
  // how many turn groups are posted and not finished (closing waits for them: they hold `this`).
  std::unordered_map<const void*, std::vector<std::shared_ptr<PendingWrite>>> turns_;
  int turns_open_ = 0;
  bool stopping_ = false;
  Status failure_;
  // Each bucket's last entry as of the last finished write, and the buckets whose mark changed
  // since the last sync began.
  std::unordered_map<uint32_t, raft::EntryId> written_marks_;
  std::set<uint32_t> marks_changed_;
  uint64_t write_seq_ = 0;  // Successful DB::Writes so far.
  bool unsynced_noted_ =
      false;  // A note_unsynced() is on its way for the writes after the last sync.
  std::vector<Listener> listeners_;
  std::set<uint32_t> open_logs_;  // Buckets with a BucketLog.
  LogStoreStats stats_;

  // The syncer's state: on the store's executor only.
  std::optional<Clock::TimePoint> unsynced_since_;
  uint64_t synced_seq_ = 0;  // Writes up to this write_seq are covered by a sync already begun.
  bool sync_wanted_ = false;
  bool syncer_running_ = false;
  bool syncer_stop_ = false;
  boost::asio::steady_timer sync_timer_;
  boost::asio::steady_timer stopped_timer_;
  bool closed_ = false;
};

}  // namespace tessera
