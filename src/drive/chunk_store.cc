#include "drive/chunk_store.h"

#include <algorithm>
#include <array>
#include <chrono>

#include "base/block_checksums.h"
#include "base/fault_points.h"
#include "base/log.h"
#include "runtime/offload.h"

namespace tessera {

namespace {

// How long an injected slow index commit (TESS_BUGGIFY) takes, in simulated time.
constexpr std::chrono::milliseconds kBuggifiedCommitDelay{50};

std::string identity_of(const Superblock& superblock) {
  return fmt::format("{}/drive-{}/created-{}", to_string(superblock.cluster_id),
                     superblock.drive_id, superblock.created_unix_ms);
}

Status check_chunk_size(const Buffer& data) {
  if (data.empty() || data.size() % kBlockSize != 0 ||
      data.size() > uint64_t{kMaxChunkBlocks} * kBlockSize) {
    return error(StatusCode::kInvalidArgument,
                 "a chunk is 1 to {} whole 4 KiB blocks; got {} bytes", kMaxChunkBlocks,
                 data.size());
  }
  return Status();
}

// Data blocks whose CRC does not match, counted within the chunk.
std::vector<uint32_t> bad_blocks(std::span<const std::byte> data, std::span<const uint32_t> crcs,
                                 uint32_t first_block) {
  std::vector<uint32_t> bad;
  for (size_t i = 0; i < crcs.size(); ++i) {
    if (verify_block_checksums(data.subspan(i * kBlockSize, kBlockSize), crcs.subspan(i, 1))
            .code() != StatusCode::kOk) {
      bad.push_back(first_block + static_cast<uint32_t>(i));
    }
  }
  return bad;
}

// Index work is blocking (RocksDB waits for fsync): it runs on the store's index thread, or inline
// on the executor when there is none (the simulator). The functions below are made outside
// coroutines (see offload.h).
template <typename Function>
Task<std::invoke_result_t<Function>> on_index_thread(boost::asio::thread_pool* thread,
                                                     Function function) {
  if (thread == nullptr) co_return function();
  co_return co_await offload(*thread, std::move(function));
}

auto index_commit(ChunkIndex* index, ChunkIndex::Batch batch, bool sync, uint64_t durable_seq) {
  return [index, batch = std::move(batch), sync, durable_seq] {
    return index->commit(batch, sync, durable_seq);
  };
}

struct LoadedIndex {
  std::unique_ptr<ChunkIndex> index;
  std::string identity;
  std::vector<ChunkRecord> records;
};

Result<LoadedIndex> load_index(const std::string& path, ChunkIndexOptions options) {
  LoadedIndex loaded;
  TESS_ASSIGN_OR_RETURN(loaded.index, ChunkIndex::open(path, options));
  TESS_ASSIGN_OR_RETURN(loaded.identity, loaded.index->drive_identity());
  std::vector<ChunkRecord>* records = &loaded.records;
  TESS_RETURN_IF_ERROR(loaded.index->load([records](ChunkRecord record) {
    records->push_back(std::move(record));
    return Status();
  }));
  return loaded;
}

auto load_index_work(std::string path, ChunkIndexOptions options) {
  return [path = std::move(path), options] { return load_index(path, options); };
}

// An index may be destroyed by a format only if it belongs to no drive or to the drive being
// reformatted (`reformatted`: the identity of the superblock on the device, empty if none): with
// --index-dir, a wrong path must not wipe another drive's index.
Status check_index_replaceable(const std::string& path, ChunkIndexOptions options,
                               const std::string& reformatted) {
  TESS_ASSIGN_OR_RETURN(std::unique_ptr<ChunkIndex> index, ChunkIndex::open(path, options));
  TESS_ASSIGN_OR_RETURN(std::string owner, index->drive_identity());
  if (!owner.empty() && owner != reformatted) {
    return error(StatusCode::kFailedPrecondition,
                 "chunk index {} belongs to {}, not to the drive being formatted ({}); it is "
                 "left alone: remove it by hand if that drive is gone",
                 path, owner, reformatted.empty() ? "a blank drive" : reformatted);
  }
  return Status();
}

auto check_index_replaceable_work(std::string path, ChunkIndexOptions options,
                                  std::string reformatted) {
  return [path = std::move(path), options, reformatted = std::move(reformatted)] {
    return check_index_replaceable(path, options, reformatted);
  };
}

Status create_index(const std::string& path, ChunkIndexOptions options,
                    const std::string& identity) {
  TESS_RETURN_IF_ERROR(ChunkIndex::destroy(path, options.env));
  TESS_ASSIGN_OR_RETURN(std::unique_ptr<ChunkIndex> index, ChunkIndex::open(path, options));
  return index->set_drive_identity(identity);
}

auto create_index_work(std::string path, ChunkIndexOptions options, std::string identity) {
  return [path = std::move(path), options, identity = std::move(identity)] {
    return create_index(path, options, identity);
  };
}

ChunkIndexOptions index_options(const ChunkStoreOptions& options) {
  return ChunkIndexOptions{options.index_env, !options.inline_index};
}

std::unique_ptr<boost::asio::thread_pool> make_index_thread(const ChunkStoreOptions& options) {
  if (options.inline_index) return nullptr;
  return std::make_unique<boost::asio::thread_pool>(1);
}

}  // namespace

Status check_scrub_options(const ScrubOptions& options) {
  if (options.bytes_per_second == 0) {
    return Status(StatusCode::kInvalidArgument,
                  "a scrub rate of 0 bytes/s would never finish a pass: give a positive rate, or "
                  "turn the scrubber off");
  }
  return Status();
}

Clock::Duration scrub_time_for(uint64_t bytes, uint64_t bytes_per_second) {
  TESS_ASSERT(bytes_per_second > 0, "scrub rate of zero");
  // 128 bits: bytes * 10^9 overflows 64 bits past 18 GB, and the quotient fits 64 bits for any
  // realistic rate; saturate otherwise.
  __extension__ typedef unsigned __int128 Wide;  // NOLINT(modernize-use-using)
  Wide nanoseconds = Wide{bytes} * 1'000'000'000U / bytes_per_second;
  if (nanoseconds > static_cast<Wide>(Clock::Duration::max().count())) {
    return Clock::Duration::max();
  }
  return Clock::Duration(static_cast<Clock::Duration::rep>(nanoseconds));
}

// A chunk the store holds. Readers keep a reference while they read, so a deleted chunk's extent
// returns to free space only when the last reader is done with it.
struct ChunkStore::Entry {
  Entry(ChunkRecord chunk_record, ExtentAllocator* owner)
      : record(std::move(chunk_record)), allocator(owner) {}
  ~Entry() { allocator->free(record.extent); }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

  ChunkRecord record;
  ExtentAllocator* allocator;
  bool removing = false;
};

struct ChunkStore::PendingCommit {
  explicit PendingCommit(const Executor& executor)
      : done_timer(executor, boost::asio::steady_timer::time_point::max()) {}
  ChunkIndex::Batch batch;
  bool sync = false;
  bool done = false;
  Status result;
  boost::asio::steady_timer done_timer;
};

ChunkStore::ChunkStore(Executor executor, BlockDevice& device, Superblock superblock,
                       std::unique_ptr<ChunkIndex> index, ChunkStoreOptions options,
                       std::unique_ptr<boost::asio::thread_pool> index_thread)
    : executor_(std::move(executor)),
      device_(device),
      superblock_(superblock),
      index_(std::move(index)),
      options_(options),
      clock_(*options.clock),
      index_thread_(std::move(index_thread)),
      allocator_(superblock.data_start_block, superblock.capacity_blocks),
      last_commit_seq_(index_->durable_seq()),
      scrub_timer_(executor_),
      close_timer_(executor_) {}

ChunkStore::~ChunkStore() {
  TESS_ASSERT(!committing_ && !scrubbing_, "chunk store destroyed before close()");
  if (index_thread_) index_thread_->join();
}

std::string ChunkStore::name(const ChunkId& id) const {
  return fmt::format("drive {} chunk {}", superblock_.drive_id, to_string(id));
}

Task<Result<Superblock>> ChunkStore::format(BlockDevice& device, std::string index_path,
                                            ClusterUuid cluster_id, DriveId drive_id,
                                            uint64_t created_unix_ms, bool force,
                                            ChunkStoreOptions options) {
  // Checked before the superblock is written, so that a refused format changes nothing.
  Result<Superblock> old = co_await read_superblock(device);
  std::string reformatted = old.ok() ? identity_of(*old) : std::string();
  std::unique_ptr<boost::asio::thread_pool> index_thread = make_index_thread(options);
  TESS_CO_RETURN_IF_ERROR(co_await on_index_thread(
      index_thread.get(),
      check_index_replaceable_work(index_path, index_options(options), std::move(reformatted))));
  TESS_CO_ASSIGN_OR_RETURN(
      Superblock superblock,
      co_await format_drive(device, cluster_id, drive_id, created_unix_ms, force));
  TESS_CO_RETURN_IF_ERROR(co_await on_index_thread(
      index_thread.get(),
      create_index_work(std::move(index_path), index_options(options), identity_of(superblock))));
  co_return superblock;
}

Task<Result<std::unique_ptr<ChunkStore>>> ChunkStore::open(Executor executor, BlockDevice& device,
                                                           std::string index_path,
                                                           ClusterUuid cluster_id,
                                                           ChunkStoreOptions options) {
  TESS_CO_ASSIGN_OR_RETURN(Superblock superblock, co_await open_drive(device, cluster_id));
  std::unique_ptr<boost::asio::thread_pool> index_thread = make_index_thread(options);
  TESS_CO_ASSIGN_OR_RETURN(
      LoadedIndex loaded,
      co_await on_index_thread(index_thread.get(),
                               load_index_work(index_path, index_options(options))));
  if (loaded.identity != identity_of(superblock)) {
    co_return error(StatusCode::kFailedPrecondition,
                    "chunk index {} belongs to {}, not to this drive ({}); reformat the drive "
                    "to start over",
                    index_path, loaded.identity.empty() ? "no drive" : loaded.identity,
                    identity_of(superblock));
  }
  std::unique_ptr<ChunkStore> store(new ChunkStore(std::move(executor), device, superblock,
                                                   std::move(loaded.index), options,
                                                   std::move(index_thread)));
  TESS_CO_RETURN_IF_ERROR(co_await store->recover(std::move(loaded.records)));
  co_return store;
}

// Rebuilds memory from the index: every extent reserved (overlaps are corruption), and entries
// committed after the last durable commit checked against the disk.
Task<Status> ChunkStore::recover(std::vector<ChunkRecord> records) {
  ChunkIndex::Batch dropped;
  bool kept_unsynced = false;
  for (ChunkRecord& record : records) {
    TESS_CO_RETURN_IF_ERROR(allocator_.reserve(record.extent));
    last_commit_seq_ = std::max(last_commit_seq_, record.commit_seq);
    if (record.commit_seq > index_->durable_seq()) {
      std::vector<CorruptBlock> bad = co_await verify_on_disk(record);
      if (!bad.empty()) {
        TESS_COVER("chunk_store.recover_drops_torn_chunk");
        TESS_LOG_WARN(
            "drive {}: dropping chunk {}: committed without a sync and {} of its blocks "
            "did not survive",
            superblock_.drive_id, to_string(record.id), bad.size());
        dropped.deletes.push_back(record.id);
        allocator_.free(record.extent);
        continue;
      }
      kept_unsynced = true;
    }
    ChunkId id = record.id;
    chunks_.emplace(id, std::make_shared<Entry>(std::move(record), &allocator_));
  }
  dropped_at_open_ = dropped.deletes.size();
  if (kept_unsynced) {
    // The verified chunks may have been read from the device's volatile cache (a process crash
    // does not empty it): flush before the index records them durable, or a power loss could
    // take bytes that no later open would check again.
    TESS_COVER("chunk_store.recover_keeps_unsynced_chunks");
    // The simulator's self-test skips the flush to prove that a seed catches the loss.
    if (!TESS_MUTATION("drive.skip_recovery_flush")) {
      TESS_CO_RETURN_IF_ERROR(co_await device_.flush());
    }
  }
  // Everything kept is verified or durable; record that, so the next open need not check again.
  co_return co_await run_index_commit(std::move(dropped), /*sync=*/true, last_commit_seq_);
}

Task<Status> ChunkStore::run_index_commit(ChunkIndex::Batch batch, bool sync,
                                          uint64_t durable_seq) {
  co_return co_await on_index_thread(
      index_thread_.get(), index_commit(index_.get(), std::move(batch), sync, durable_seq));
}

Task<Status> ChunkStore::write(ChunkId id, Buffer data, ChunkWriteOptions options) {
  TESS_CO_RETURN_IF_ERROR(failure_);
  TESS_CO_RETURN_IF_ERROR(check_chunk_size(data));
  ChunkRecord record{id, {}, 0, std::move(options.block_crcs)};
  if (record.block_crcs.empty()) {
    record.block_crcs = block_checksums(data.span());
  } else if (record.block_crcs.size() != data.size() / kBlockSize) {
    co_return error(StatusCode::kInvalidArgument, "{} checksums for {} blocks",
                    record.block_crcs.size(), data.size() / kBlockSize);
  } else {
    Status valid = verify_block_checksums(data.span(), record.block_crcs);
    if (!valid.ok()) co_return error(StatusCode::kCorruption, "{}: {}", name(id), valid.message());
  }
  if (chunks_.contains(id) || writing_.contains(id)) {
    co_return error(StatusCode::kAlreadyExists, "{} already exists", name(id));
  }
  uint64_t blocks = header_blocks(record.data_blocks()) + uint64_t{record.data_blocks()};
  std::optional<Extent> extent = allocator_.allocate(blocks);
  if (!extent) {
    co_return error(
        StatusCode::kNoSpace, "drive {} is full: {} blocks needed, {} free, longest free run {}",
        superblock_.drive_id, blocks, allocator_.free_blocks(), allocator_.largest_free_run());
  }
  record.extent = *extent;
  writing_.insert(id);
  struct Release {
    ChunkStore* store;
    ChunkId id;
    std::optional<Extent> extent;
    ~Release() {
      store->writing_.erase(id);
      if (extent) store->allocator_.free(*extent);
    }
  } release{this, id, record.extent};

  Buffer header = encode_chunk_header(record);
  std::array<std::span<const std::byte>, 2> pieces = {header.span(), data.span()};
  TESS_CO_RETURN_IF_ERROR(
      co_await device_.write_gather(record.extent.first_block * kBlockSize, pieces));

  TESS_CO_RETURN_IF_ERROR(failure_);
  record.commit_seq = ++last_commit_seq_;
  ChunkIndex::Batch batch;
  batch.puts.push_back(record);
  if (options.durable) {
    TESS_CO_RETURN_IF_ERROR(co_await commit(std::move(batch), /*sync=*/true));
  } else {
    // Not durable until a barrier: the index commit runs in the background, in order with every
    // other change, and a failure of it fails the next barrier.
    (void)enqueue_commit(std::move(batch), /*sync=*/false);
  }
  release.extent.reset();  // The entry owns the extent now.
  chunks_.emplace(id, std::make_shared<Entry>(std::move(record), &allocator_));
  co_return Status();
}

Task<Result<Buffer>> ChunkStore::read(ChunkId id, uint32_t first_block, uint32_t block_count) {
  auto found = chunks_.find(id);
  if (found == chunks_.end()) co_return error(StatusCode::kNotFound, "{} not found", name(id));
  std::shared_ptr<Entry> entry = found->second;  // Keeps the extent while we read it.
  const ChunkRecord& record = entry->record;
  if (block_count == 0 || first_block >= record.data_blocks() ||
      block_count > record.data_blocks() - first_block) {
    co_return error(StatusCode::kOutOfRange, "{} has {} blocks; read of {} from block {}", name(id),
                    record.data_blocks(), block_count, first_block);
  }
  Buffer out = Buffer::allocate(uint64_t{block_count} * kBlockSize);
  TESS_CO_RETURN_IF_ERROR(
      co_await device_.read((record.data_start_block() + first_block) * kBlockSize, out.span()));
  std::span<const uint32_t> crcs(record.block_crcs.data() + first_block, block_count);
  Status valid = verify_block_checksums(out.span(), crcs, first_block);
  if (!valid.ok()) {
    std::vector<uint32_t> bad = bad_blocks(out.span(), crcs, first_block);
    for (uint32_t block : bad) report_corrupt(CorruptBlock{id, block});
    co_return error(StatusCode::kCorruption, "{}: {} corrupt block(s) in the range; first: {}",
                    name(id), bad.size(), valid.message());
  }
  co_return out;
}

Task<Result<Buffer>> ChunkStore::read_all(ChunkId id) {
  auto found = chunks_.find(id);
  if (found == chunks_.end()) co_return error(StatusCode::kNotFound, "{} not found", name(id));
  co_return co_await read(id, 0, found->second->record.data_blocks());
}

Task<Status> ChunkStore::remove(ChunkId id) {
  TESS_CO_RETURN_IF_ERROR(failure_);
  auto found = chunks_.find(id);
  if (found == chunks_.end() || found->second->removing) {
    co_return error(StatusCode::kNotFound, "{} not found", name(id));
  }
  found->second->removing = true;
  ChunkIndex::Batch batch;
  batch.deletes.push_back(id);
  Status committed = co_await commit(std::move(batch), /*sync=*/true);
  found = chunks_.find(id);
  TESS_ASSERT(found != chunks_.end(), "{} vanished while being removed", name(id));
  if (!committed.ok()) {
    found->second->removing = false;
    co_return committed;
  }
  chunks_.erase(found);  // The extent is freed when the last reader lets go.
  forget_corrupt(id);
  co_return Status();
}

Task<Status> ChunkStore::barrier() {
  Status committed = co_await commit({}, /*sync=*/true);
  TESS_CO_RETURN_IF_ERROR(failure_);  // A background commit before it may have failed.
  co_return committed;
}

std::shared_ptr<ChunkStore::PendingCommit> ChunkStore::enqueue_commit(ChunkIndex::Batch batch,
                                                                      bool sync) {
  auto pending = std::make_shared<PendingCommit>(executor_);
  pending->batch = std::move(batch);
  pending->sync = sync;
  commit_queue_.push_back(pending);
  if (!committing_) {
    committing_ = true;
    spawn_detached(executor_, commit_loop(this), "chunk store commit loop");
  }
  return pending;
}

Task<Status> ChunkStore::commit(ChunkIndex::Batch batch, bool sync) {
  TESS_CO_RETURN_IF_ERROR(failure_);
  std::shared_ptr<PendingCommit> pending = enqueue_commit(std::move(batch), sync);
  while (!pending->done) co_await clock_.wait(pending->done_timer, Clock::TimePoint::max());
  co_return pending->result;
}

// Group commit: every commit waiting when the loop comes round shares one device flush (if any of
// them needs durability) and one RocksDB write. Data writes finish before their commit is queued,
// so the flush covers them all.
Task<void> ChunkStore::commit_loop(ChunkStore* self) {
  while (!self->commit_queue_.empty()) {
    std::deque<std::shared_ptr<PendingCommit>> group;
    group.swap(self->commit_queue_);
    ChunkIndex::Batch merged;
    bool sync = false;
    for (const auto& pending : group) {
      sync = sync || pending->sync;
      for (auto& put : pending->batch.puts) merged.puts.push_back(std::move(put));
      for (auto& id : pending->batch.deletes) merged.deletes.push_back(id);
    }
    uint64_t durable_seq = self->last_commit_seq_;
    Status status;
    if (sync) status = co_await self->device_.flush();
    if (status.ok() && TESS_BUGGIFY("chunk_store.slow_index_commit")) {
      (void)co_await self->clock_.sleep_for(kBuggifiedCommitDelay);
    }
    if (status.ok() && TESS_BUGGIFY("chunk_store.index_commit_fails")) {
      status = Status(StatusCode::kIoError, "injected index commit failure");
    }
    if (status.ok()) status = co_await self->run_index_commit(std::move(merged), sync, durable_seq);
    if (!status.ok() && self->failure_.ok()) {
      TESS_COVER("chunk_store.index_commit_failed");
      // Memory may now hold what the index does not: refuse every change from here on.
      TESS_LOG_ERROR("drive {}: index commit failed, the drive stops taking changes: {}",
                     self->drive_id(), status);
      self->failure_ = error(status.code(), "drive {} failed an index commit earlier: {}",
                             self->drive_id(), status.message());
    }
    for (const auto& pending : group) {
      pending->result = status;
      pending->done = true;
      pending->done_timer.cancel();
    }
  }
  self->committing_ = false;
  self->loop_ended();
}

void ChunkStore::loop_ended() {
  if (closing_) close_timer_.cancel();
}

std::vector<ChunkInfo> ChunkStore::list(BucketId bucket, std::optional<ChunkId> start_after,
                                        size_t limit) const {
  std::vector<ChunkInfo> out;
  auto it = chunks_.lower_bound(ChunkId{bucket, StripeId(0), 0, 0});
  if (start_after && start_after->bucket == bucket) it = chunks_.upper_bound(*start_after);
  if (start_after && start_after->bucket > bucket) return out;
  for (; it != chunks_.end() && out.size() < limit && it->first.bucket == bucket; ++it) {
    out.push_back(ChunkInfo{it->first, uint64_t{it->second->record.data_blocks()} * kBlockSize});
  }
  return out;
}

std::optional<ChunkInfo> ChunkStore::find(const ChunkId& id) const {
  auto found = chunks_.find(id);
  if (found == chunks_.end()) return std::nullopt;
  return ChunkInfo{id, uint64_t{found->second->record.data_blocks()} * kBlockSize};
}

ChunkStoreStats ChunkStore::stats() const {
  ChunkStoreStats stats;
  stats.capacity_bytes = allocator_.total_blocks() * kBlockSize;
  stats.free_bytes = allocator_.free_blocks() * kBlockSize;
  stats.used_bytes = stats.capacity_bytes - stats.free_bytes;
  stats.chunk_count = chunks_.size();
  stats.corrupt_blocks_found = corrupt_found_.size();
  stats.corrupt_blocks_unreported = corrupt_unreported_;
  stats.scrub_passes = scrub_passes_;
  stats.scrubbed_bytes = scrubbed_bytes_;
  return stats;
}

void ChunkStore::report_corrupt(const CorruptBlock& block) {
  std::pair<ChunkId, uint32_t> key(block.chunk, block.block);
  if (corrupt_found_.contains(key)) return;
  TESS_COVER("chunk_store.corrupt_block_found");
  if (corrupt_found_.size() >= options_.max_tracked_corrupt_blocks) {
    // Forgetting reported blocks would report them again on every pass; a drive with this many
    // bad blocks is replaced as a whole, so the ones beyond are counted, not reported.
    if (corrupt_unreported_++ == 0) {
      TESS_LOG_WARN(
          "drive {}: {} corrupt blocks found, as many as it tracks; further ones are counted "
          "but not reported: fail the drive and rebuild it",
          superblock_.drive_id, corrupt_found_.size());
    }
    return;
  }
  corrupt_found_.insert(key);
  if (block.block == CorruptBlock::kHeaderBlock) {
    TESS_LOG_WARN("{}: corrupt header", name(block.chunk));
  } else {
    TESS_LOG_WARN("{}: corrupt block {}", name(block.chunk), block.block);
  }
  if (corruption_listener_) corruption_listener_(block);
}

void ChunkStore::forget_corrupt(const ChunkId& id) {
  corrupt_found_.erase(corrupt_found_.lower_bound({id, 0}),
                       corrupt_found_.upper_bound({id, UINT32_MAX}));
}

// Reads a chunk's whole extent and checks its header and every data block.
Task<std::vector<CorruptBlock>> ChunkStore::verify_on_disk(const ChunkRecord& record) {
  Buffer extent = Buffer::allocate(record.extent.block_count * kBlockSize);
  Status read = co_await device_.read(record.extent.first_block * kBlockSize, extent.span());
  std::vector<CorruptBlock> corrupt;
  if (!read.ok()) {
    TESS_LOG_WARN("{}: read failed: {}", name(record.id), read);
    corrupt.push_back(CorruptBlock{record.id, CorruptBlock::kHeaderBlock});
    co_return corrupt;
  }
  Result<ChunkRecord> header = decode_chunk_header(extent.span(), record.extent.first_block);
  if (!header.ok() || header->id != record.id || header->block_crcs != record.block_crcs) {
    corrupt.push_back(CorruptBlock{record.id, CorruptBlock::kHeaderBlock});
  }
  uint64_t header_bytes = (record.data_start_block() - record.extent.first_block) * kBlockSize;
  for (uint32_t block : bad_blocks(extent.span().subspan(header_bytes), record.block_crcs, 0)) {
    corrupt.push_back(CorruptBlock{record.id, block});
  }
  co_return corrupt;
}

Task<ScrubReport> ChunkStore::scrub_pass(ScrubOptions options) {
  TESS_ASSERT(check_scrub_options(options).ok(), "scrub rate of zero");
  ScrubReport report;
  Clock::TimePoint started = clock_.now();
  boost::asio::steady_timer pace(executor_);
  pace_timers_.insert(&pace);  // So that close() can end the pause.
  std::optional<ChunkId> next;
  while (!closing_) {
    auto it = next ? chunks_.upper_bound(*next) : chunks_.begin();
    if (it == chunks_.end()) break;
    next = it->first;
    std::shared_ptr<Entry> entry = it->second;
    for (const CorruptBlock& bad : co_await verify_on_disk(entry->record)) {
      report_corrupt(bad);
      report.corrupt.push_back(bad);
    }
    ++report.chunks;
    report.bytes += entry->record.extent.block_count * kBlockSize;
    scrubbed_bytes_ += entry->record.extent.block_count * kBlockSize;
    // Pause until the bytes read so far fit the rate.
    Clock::Duration offset = scrub_time_for(report.bytes, options.bytes_per_second);
    Clock::TimePoint due =
        offset >= Clock::TimePoint::max() - started ? Clock::TimePoint::max() : started + offset;
    if (!closing_ && due > clock_.now()) co_await clock_.wait(pace, due);
  }
  pace_timers_.erase(&pace);
  if (!closing_) ++scrub_passes_;
  co_return report;
}

Status ChunkStore::start_scrubber(ScrubOptions options) {
  TESS_ASSERT(!scrubbing_, "scrubber started twice");
  TESS_RETURN_IF_ERROR(check_scrub_options(options));
  scrubbing_ = true;
  spawn_detached(executor_, scrub_loop(this, options), "scrubber");
  return Status();
}

Task<void> ChunkStore::scrub_loop(ChunkStore* self, ScrubOptions options) {
  while (!self->closing_) {
    ScrubReport report = co_await self->scrub_pass(options);
    TESS_LOG_INFO("drive {}: scrub pass: {} chunks, {} bytes, {} corrupt blocks", self->drive_id(),
                  report.chunks, report.bytes, report.corrupt.size());
    if (self->closing_) break;
    co_await self->clock_.wait(self->scrub_timer_, self->clock_.after(options.pass_interval));
  }
  self->scrubbing_ = false;
  self->loop_ended();
}

Task<void> ChunkStore::close() {
  closing_ = true;
  scrub_timer_.cancel();
  for (boost::asio::steady_timer* pace : pace_timers_) pace->cancel();
  while (scrubbing_ || committing_) co_await clock_.wait(close_timer_, Clock::TimePoint::max());
}

}  // namespace tessera
