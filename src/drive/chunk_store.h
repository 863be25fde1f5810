// ChunkStore: one drive as a store of chunks (stripe columns) that returns exactly what was
// acknowledged, or a clear error, never wrong bytes.
//
// Crash safety (docs/architecture.md 5.2): a write puts its header and data blocks into free space,
// then commits its index entry; a durable write (the default) is acknowledged only after a device
// flush and a synced index commit. Commits are grouped: all writers waiting at once share one
// flush and one synced RocksDB write. A write with durable = false is acknowledged once its blocks
// are written and its index entry is queued (committed in the background, in order, without a
// sync); barrier() makes it durable. If an index commit ever fails, the store refuses all further
// changes with that error (reads go on): memory and index may disagree, and only a restart, which
// rebuilds memory from the index, makes them agree again. At open, the free-space map is derived
// from the index, and entries committed after the last durable commit are checked against the disk
// and dropped if their bytes did not survive (they were never acknowledged as durable).
//
// Lives on one executor (the one given to open()): call every method from tasks running there.
// The device must outlive the store. Index work (RocksDB open, the scan at open, commits) blocks
// on a thread of the store's own, never on the executor, except with
// ChunkStoreOptions::inline_index (the simulator), where it runs on the executor itself. All
// waiting (scrub pacing, pauses between passes, close()) goes through ChunkStoreOptions::clock.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/buffer.h"
#include "base/status.h"
#include "drive/block_device.h"
#include "drive/chunk_format.h"
#include "drive/chunk_index.h"
#include "drive/extent_allocator.h"
#include "drive/superblock.h"
#include "runtime/clock.h"
#include "runtime/task.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace tessera {

struct ChunkWriteOptions {
  // Acknowledge only once the chunk survives a crash. False for bulk writers that call barrier().
  bool durable = true;
  // The writer's per-block CRC32C, checked against the data before anything is written (catches
  // corruption between the writer and the drive). Empty: the store computes them.
  std::vector<uint32_t> block_crcs;
};

struct ChunkInfo {
  ChunkId id;
  uint64_t data_bytes = 0;
};

struct CorruptBlock {
  ChunkId chunk;
  uint32_t block = 0;  // Data block within the chunk; kHeaderBlock for the chunk's header.
  static constexpr uint32_t kHeaderBlock = UINT32_MAX;
};

struct ChunkStoreOptions {
  // Every wait of the store (scrub pacing, pauses between passes, close()) runs on this clock.
  const Clock* clock = &RealClock::instance();
  // The simulator's mode: index work runs inline on the executor (blocking it) instead of on the
  // store's own thread, and RocksDB compacts nothing in the background, so that a run has one
  // thread and replays exactly. Not for production: a synced RocksDB write would stall every
  // drive of the loop.
  bool inline_index = false;
  // The Env RocksDB does its file I/O through (FaultInjectionFs::env() in tests and the
  // simulator); nullptr: the default. Must outlive the store.
  rocksdb::Env* index_env = nullptr;
  // How many distinct corrupt blocks the store remembers (so that each is reported once). Beyond
  // it, newly found blocks are counted in corrupt_blocks_unreported but neither remembered nor
  // reported (a drive this damaged is failed as a whole), and one warning says so. Remembered
  // blocks are forgotten when their chunk is removed (a repair writes a new generation and
  // removes the old one), which makes room again.
  size_t max_tracked_corrupt_blocks = 100'000;
};

struct ChunkStoreStats {
  uint64_t capacity_bytes = 0;  // The data area.
  uint64_t used_bytes = 0;      // Headers and data of every chunk.
  uint64_t free_bytes = 0;
  uint64_t chunk_count = 0;
  uint64_t corrupt_blocks_found = 0;  // Distinct blocks found corrupt by reads or scrub.
  // Corrupt blocks found while max_tracked_corrupt_blocks were remembered: not reported, and
  // counted each time found (so one block may count more than once).
  uint64_t corrupt_blocks_unreported = 0;
  uint64_t scrub_passes = 0;  // Complete passes over every chunk.
  uint64_t scrubbed_bytes = 0;
};

struct ScrubOptions {
  // Rate limit, so scrub leaves the drive to clients. Must be positive: a rate of zero would
  // never finish a pass (turn the scrubber off instead of starting it).
  uint64_t bytes_per_second = 64 * kMiB;
  std::chrono::milliseconds pass_interval{60'000};  // Pause between passes of the background scrub.
};

// kInvalidArgument if `options` cannot be scrubbed with (a rate of zero).
Status check_scrub_options(const ScrubOptions& options);
// How long reading `bytes` takes at `bytes_per_second`, rounded down, exact for any 64-bit
// inputs (saturating at the largest duration). REQUIRES: bytes_per_second > 0.
Clock::Duration scrub_time_for(uint64_t bytes, uint64_t bytes_per_second);

struct ScrubReport {
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  std::vector<CorruptBlock> corrupt;
};

class ChunkStore {
 public:
  // Formats `device` for `cluster_id` as `drive_id` and creates an empty index at `index_path`.
  // An old index there is destroyed only if it belongs to the drive being reformatted (its
  // identity is that of the superblock on `device`) or to none: an index of another drive is
  // kFailedPrecondition naming both, and nothing is changed. A formatted drive is refused unless
  // `force` (kFailedPrecondition naming its cluster and drive). RocksDB work runs off the
  // executor (see ChunkStoreOptions::inline_index).
  static Task<Result<Superblock>> format(BlockDevice& device, std::string index_path,
                                         ClusterUuid cluster_id, DriveId drive_id,
                                         uint64_t created_unix_ms, bool force,
                                         ChunkStoreOptions options = {});

  // Opens a formatted drive of `cluster_id` with its index. Errors: those of open_drive(); kIoError
  // if the index cannot be opened or the device fails during recovery; kFailedPrecondition if the
  // index belongs to another drive or format; kCorruption if index entries overlap or lie outside
  // the data area. RocksDB work runs off the executor (see ChunkStoreOptions::inline_index).
  static Task<Result<std::unique_ptr<ChunkStore>>> open(Executor executor, BlockDevice& device,
                                                        std::string index_path,
                                                        ClusterUuid cluster_id,
                                                        ChunkStoreOptions options = {});
  ~ChunkStore();
  ChunkStore(const ChunkStore&) = delete;
  ChunkStore& operator=(const ChunkStore&) = delete;

  // Writes chunk `id` with `data` (whole blocks, 1 to kMaxChunkBlocks). Errors: kInvalidArgument
  // (size, or block_crcs that do not match the data: kCorruption), kAlreadyExists (chunks are
  // immutable; a rewrite uses a new generation), kNoSpace (nothing was written), kIoError.
  Task<Status> write(ChunkId id, Buffer data, ChunkWriteOptions options = {});
  // Reads `block_count` data blocks from `first_block`. kNotFound, kOutOfRange, or kCorruption
  // naming the first bad block (never wrong bytes).
  Task<Result<Buffer>> read(ChunkId id, uint32_t first_block, uint32_t block_count);
  Task<Result<Buffer>> read_all(ChunkId id);
  // Deletes a chunk; its space is free once the deletion is durable. kNotFound if absent.
  Task<Status> remove(ChunkId id);
  // Makes every write acknowledged before it durable.
  Task<Status> barrier();

  // At most `limit` chunks of `bucket` in id order, after `start_after` when given.
  std::vector<ChunkInfo> list(BucketId bucket, std::optional<ChunkId> start_after,
                              size_t limit) const;
  std::optional<ChunkInfo> find(const ChunkId& id) const;
  ChunkStoreStats stats() const;
  const Superblock& superblock() const { return superblock_; }
  DriveId drive_id() const { return superblock_.drive_id; }
  // Chunks dropped at open because they were committed but not durable and did not survive.
  uint64_t dropped_at_open() const { return dropped_at_open_; }
  // The first failed index commit, after which the store takes no changes until reopened; OK if
  // none failed.
  const Status& failure() const { return failure_; }

  // Called on the store's executor for every newly found corrupt block (reads and scrub).
  void set_corruption_listener(std::function<void(const CorruptBlock&)> listener) {
    corruption_listener_ = std::move(listener);
  }

  // Reads and verifies every chunk (header and data) once, at most options.bytes_per_second.
  // Ends early (without counting a pass) when close() is called.
  // REQUIRES: check_scrub_options(options) is OK.
  Task<ScrubReport> scrub_pass(ScrubOptions options);
  // Runs scrub passes in the background until close(). kInvalidArgument for options that
  // check_scrub_options() refuses (nothing is started).
  Status start_scrubber(ScrubOptions options);

  // Stops the scrubber and waits for it and for pending commits. REQUIRES: no other call is in
  // flight and none follows.
  Task<void> close();

 private:
  struct Entry;
  struct PendingCommit;

  ChunkStore(Executor executor, BlockDevice& device, Superblock superblock,
             std::unique_ptr<ChunkIndex> index, ChunkStoreOptions options,
             std::unique_ptr<boost::asio::thread_pool> index_thread);
  Task<Status> recover(std::vector<ChunkRecord> records);
  // Runs a synced or unsynced index commit on the index thread (inline without one).
  Task<Status> run_index_commit(ChunkIndex::Batch batch, bool sync, uint64_t durable_seq);
  // Queues an index change for the commit loop. Changes commit in queue order. A batch never both
  // deletes and puts one chunk id (the index applies its puts first).
  std::shared_ptr<PendingCommit> enqueue_commit(ChunkIndex::Batch batch, bool sync);
  // Queues and waits. Fails at once, with the first failure, once an index commit has failed.
  Task<Status> commit(ChunkIndex::Batch batch, bool sync);
  static Task<void> commit_loop(ChunkStore* self);
  static Task<void> scrub_loop(ChunkStore* self, ScrubOptions options);
  Task<std::vector<CorruptBlock>> verify_on_disk(const ChunkRecord& record);
  void report_corrupt(const CorruptBlock& block);
  void forget_corrupt(const ChunkId& id);
  // Wakes close() if it waits for the loops to end.
  void loop_ended();
  std::string name(const ChunkId& id) const;

  Executor executor_;
  BlockDevice& device_;
  Superblock superblock_;
  std::unique_ptr<ChunkIndex> index_;
  ChunkStoreOptions options_;
  const Clock& clock_;
  std::unique_ptr<boost::asio::thread_pool> index_thread_;  // Null with inline_index.
  ExtentAllocator allocator_;  // Before chunks_: entries free their extents into it.
  std::map<ChunkId, std::shared_ptr<Entry>> chunks_;
  std::set<ChunkId> writing_;  // Ids with a write in flight.
  uint64_t last_commit_seq_ = 0;
  std::deque<std::shared_ptr<PendingCommit>> commit_queue_;
  bool committing_ = false;
  Status failure_;  // The first failed index commit; the store takes no changes after it.
  std::set<std::pair<ChunkId, uint32_t>> corrupt_found_;  // At most max_tracked_corrupt_blocks.
  uint64_t corrupt_unreported_ = 0;
  std::function<void(const CorruptBlock&)> corruption_listener_;
  uint64_t dropped_at_open_ = 0;
  uint64_t scrub_passes_ = 0;
  uint64_t scrubbed_bytes_ = 0;
  bool scrubbing_ = false;
  bool closing_ = false;
  // Signals (cancelled, never expiring by themselves): the scrubber's pause between passes, every
  // scrub pass's pacing wait, and close()'s wait for the loops to end.
  boost::asio::steady_timer scrub_timer_;
  std::set<boost::asio::steady_timer*> pace_timers_;
  boost::asio::steady_timer close_timer_;
};

}  // namespace tessera
