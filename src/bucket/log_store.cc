#include "bucket/log_store.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <iterator>

#include "base/fault_points.h"
#include "base/log.h"
#include "runtime/offload.h"

namespace tessera {

using raft::Entry;
using raft::EntryId;
using raft::LogIndex;

namespace {

constexpr const char* kRaftFamily = "raft";

Status from_rocksdb(const rocksdb::Status& status, std::string_view what) {
  if (status.ok()) return Status();
  return error(StatusCode::kIoError, "log store {}: {}", what, status.ToString());
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// RocksDB work blocks (a sync waits for the disk): it runs on the store's sync thread, or inline
// on the executor when there is none (simulation mode). The functions are made outside
// coroutines (see runtime/offload.h).
template <typename Function>
Task<std::invoke_result_t<Function>> on_sync_thread(boost::asio::thread_pool* thread,
                                                    Function function) {
  if (thread == nullptr) co_return function();
  co_return co_await offload(*thread, std::move(function));
}

// Copies a batch's operations into another: the writer merges the batches waiting in its queue
// into one DB::Write this way. RocksDB has no public WriteBatch append (WriteBatchInternal is not
// installed). The copy is a memcpy of each record (a few hundred bytes per entry), far below
// the DB::Write it saves (~10 µs, design 4.2); a group of one batch is written as it is. The
// measurement in log_store_test merges 2-3 batches per DB::Write at ~70,000 appends/s.
// The keys whose memtable inserts use a hint (open_database): at least 5 bytes (bucket and kind),
// except where a range deletion starts. RocksDB before 9.2 keeps one hint per prefix for both a
// memtable's point and range-deletion skiplists (facebook/rocksdb#5118, fixed by #12558), which
// corrupts the skiplist (or asserts) when a range deletion's start key takes a hint. Our range
// deletions start at a bucket's first key (4 bytes, state family) or at its log entry 0 (no entry
// has index 0): outside. LogWriteBatch asserts that of each one.
constexpr size_t kHintPrefixBytes = 5;

bool takes_insert_hint(std::string_view key) {
  if (key.size() < kHintPrefixBytes) return false;
  static constexpr std::string_view kIndexZero("\0\0\0\0\0\0\0\0", 8);
  return !(key.size() == kEntryKeyBytes && key.substr(kEntryKeyBytes - 8) == kIndexZero);
}

class InsertHintPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "tessera.InsertHintPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), kHintPrefixBytes);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return takes_insert_hint(std::string_view(key.data(), key.size()));
  }
};

void delete_range(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* family,
                  std::string_view begin, std::string_view end) {
  TESS_ASSERT(!takes_insert_hint(begin), "a range deletion starting inside the hint domain");
  (void)batch.DeleteRange(family, rocksdb::Slice(begin.data(), begin.size()),
                          rocksdb::Slice(end.data(), end.size()));
}

class BatchAppender final : public rocksdb::WriteBatch::Handler {
 public:
  BatchAppender(rocksdb::WriteBatch* out, rocksdb::ColumnFamilyHandle* raft,
                rocksdb::ColumnFamilyHandle* state)
      : out_(out), raft_(raft), state_(state) {}
  rocksdb::Status PutCF(uint32_t family, const rocksdb::Slice& key,
                        const rocksdb::Slice& value) override {
    return out_->Put(handle(family), key, value);
  }
  rocksdb::Status DeleteCF(uint32_t family, const rocksdb::Slice& key) override {
    return out_->Delete(handle(family), key);
  }
  rocksdb::Status DeleteRangeCF(uint32_t family, const rocksdb::Slice& begin,
                                const rocksdb::Slice& end) override {
    return out_->DeleteRange(handle(family), begin, end);
  }

 private:
  rocksdb::ColumnFamilyHandle* handle(uint32_t family) const {
    return family == raft_->GetID() ? raft_ : state_;
  }
  rocksdb::WriteBatch* out_;
  rocksdb::ColumnFamilyHandle* raft_;
  rocksdb::ColumnFamilyHandle* state_;
};

}  // namespace

Result<BootId> read_boot_id(const std::string& path) {
  std::ifstream in(path);
  if (!in) return error(StatusCode::kIoError, "cannot read the boot id from {}", path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TESS_ASSIGN_OR_RETURN(BootId id, parse_boot_id(text));
  return id;
}

// ---- BucketLog ---------------------------------------------------------------------------------

BucketLog::BucketLog(LogStore* store, BucketId bucket, EntryId snapshot, LogIndex last,
                     uint64_t cache_limit_bytes)
    : store_(store),
      bucket_(bucket),
      snapshot_(snapshot),
      last_(last),
      cache_limit_bytes_(cache_limit_bytes),
      unwritten_from_(LogIndex(UINT64_MAX)) {}

BucketLog::~BucketLog() {
  TESS_ASSERT(writes_in_flight_ == 0 || write_failed_, "bucket {} log destroyed during a write",
              bucket_);
  store_->unregister(bucket_);
}

const BucketLog::Cached& BucketLog::cached(LogIndex index) const {
  return cache_[cache_first().count_to(index)];
}

Result<std::string> BucketLog::read_value(LogIndex index) const {
  std::string value;
  rocksdb::Status got = store_->db_->Get(rocksdb::ReadOptions(), store_->raft_,
                                         log_entry_key(bucket_, index), &value);
  if (got.IsNotFound()) {
    return error(StatusCode::kCorruption, "entry {} of bucket {} is missing from its log ({}, {}]",
                 index, bucket_, snapshot_.index, last_);
  }
  TESS_RETURN_IF_ERROR(
      from_rocksdb(got, fmt::format("read entry {} of bucket {}", index, bucket_)));
  return value;
}

Result<Term> BucketLog::term(LogIndex index) const {
  if (index == snapshot_.index) return snapshot_.term;
  if (index < snapshot_.index || index > last_) {
    return error(StatusCode::kOutOfRange, "bucket {} has no entry {} (log holds ({}, {}])", bucket_,
                 index, snapshot_.index, last_);
  }
  if (index >= cache_first()) {
    TESS_ASSIGN_OR_RETURN(LogEntryHeader header,
                          check_log_entry(cached(index).value, bucket_, index));
    return header.term;
  }
  TESS_ASSIGN_OR_RETURN(std::string value, read_value(index));
  TESS_ASSIGN_OR_RETURN(LogEntryHeader header, check_log_entry(value, bucket_, index));
  return header.term;
}

Result<std::vector<Entry>> BucketLog::entries(LogIndex from, LogIndex to,
                                              uint64_t max_bytes) const {
  TESS_ASSERT(snapshot_.index < from && from < to && to <= last_.next(),
              "bucket {}: entries [{}, {}) outside ({}, {}]", bucket_, from, to, snapshot_.index,
              last_);
  std::vector<Entry> out;
  uint64_t bytes = 0;
  LogIndex index = from;
  LogIndex cache_start = cache_first();
  if (index < cache_start) {
    // Older entries (a lagging follower): one iterator over the range rather than a Get each.
    LogIndex db_end = std::min(to, cache_start);
    std::string upper = log_entry_key(bucket_, db_end);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions options;
    options.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(store_->db_->NewIterator(options, store_->raft_));
    for (it->Seek(log_entry_key(bucket_, index)); it->Valid() && index < db_end;
         it->Next(), index = index.next()) {
      if (it->key() != rocksdb::Slice(log_entry_key(bucket_, index))) break;
      TESS_ASSIGN_OR_RETURN(Entry entry,
                            decode_log_entry(it->value().ToStringView(), bucket_, index));
      if (!out.empty() && bytes + entry.size_bytes() > max_bytes) return out;
      bytes += entry.size_bytes();
      out.push_back(std::move(entry));
    }
    TESS_RETURN_IF_ERROR(from_rocksdb(it->status(), fmt::format("scan bucket {}", bucket_)));
    if (index < db_end) {
      return error(StatusCode::kCorruption,
                   "entry {} of bucket {} is missing from its log ({}, {}]", index, bucket_,
                   snapshot_.index, last_);
    }
  }
  for (; index < to; index = index.next()) {
    TESS_ASSIGN_OR_RETURN(Entry entry, decode_log_entry(cached(index).value, bucket_, index));
    if (!out.empty() && bytes + entry.size_bytes() > max_bytes) break;
    bytes += entry.size_bytes();
    out.push_back(std::move(entry));
  }
  return out;
}

void BucketLog::begin_write() {
  if (writes_in_flight_ == 0) unwritten_from_ = last_.next();
  ++writes_in_flight_;
}

void BucketLog::append(const std::vector<Entry>& entries, std::vector<std::string> values) {
  LogIndex first = entries.front().index;
  TESS_ASSERT(first > snapshot_.index && first <= last_.next(),
              "bucket {}: append at {} to log ({}, {}]", bucket_, first, snapshot_.index, last_);
  if (first <= last_) {
    if (first >= cache_first()) {
      while (last_ >= first) {
        cache_bytes_ -= cache_.back().value.size();
        cache_.pop_back();
        last_ = last_.prev();
      }
    } else {
      cache_.clear();
      cache_bytes_ = 0;
    }
  }
  last_ = first.prev();
  unwritten_from_ = std::min(unwritten_from_, first);
  for (size_t i = 0; i < entries.size(); ++i) {
    TESS_ASSERT(entries[i].index == last_.next(), "bucket {}: append of {} after {}", bucket_,
                entries[i].index, last_);
    cache_bytes_ += values[i].size();
    cache_.push_back(Cached{entries[i].term, std::move(values[i])});
    last_ = last_.next();
  }
  trim_cache();
}

void BucketLog::compact(EntryId through) {
  while (!cache_.empty() && cache_first() <= through.index) {
    cache_bytes_ -= cache_.front().value.size();
    cache_.pop_front();
  }
  snapshot_ = through;
}

void BucketLog::reset(EntryId snapshot_point) {
  cache_.clear();
  cache_bytes_ = 0;
  snapshot_ = snapshot_point;
  last_ = snapshot_point.index;
  unwritten_from_ = std::min(unwritten_from_, last_.next());
}

void BucketLog::end_write(bool ok) {
  TESS_ASSERT(writes_in_flight_ > 0, "bucket {}: a write ended that never began", bucket_);
  if (!ok) write_failed_ = true;
  if (--writes_in_flight_ == 0 && !write_failed_) {
    // RocksDB applies writes in order, so once the last one finished it holds the whole view.
    unwritten_from_ = LogIndex(UINT64_MAX);
    trim_cache();
  }
}

void BucketLog::trim_cache() {
  while (cache_bytes_ > cache_limit_bytes_ && !cache_.empty() && cache_first() < unwritten_from_) {
    cache_bytes_ -= cache_.front().value.size();
    cache_.pop_front();
  }
}

// ---- LogWriteBatch -----------------------------------------------------------------------------

LogWriteBatch::LogWriteBatch(LogStore* store) : store_(store) {}

LogWriteBatch::LogWriteBatch(LogWriteBatch&& other) noexcept
    : store_(other.store_),
      batch_(std::move(other.batch_)),
      touched_(std::move(other.touched_)),
      marks_(std::move(other.marks_)),
      finished_(other.finished_) {
  other.touched_.clear();
  other.marks_.clear();
  other.finished_ = true;
}

LogWriteBatch::~LogWriteBatch() {
  TESS_ASSERT(finished_ || touched_.empty(),
              "a LogWriteBatch that changed {} bucket logs was dropped without write()",
              touched_.size());
}

void LogWriteBatch::touch(BucketLog& log) {
  TESS_ASSERT(log.store_ == store_, "bucket {} log of another store", log.bucket());
  TESS_ASSERT(!finished_, "LogWriteBatch changed after write()");
  if (std::find(touched_.begin(), touched_.end(), &log) != touched_.end()) return;
  touched_.push_back(&log);
  log.begin_write();
}

void LogWriteBatch::set_mark(BucketId bucket, EntryId mark) {
  for (DurableMark& m : marks_) {
    if (m.bucket == bucket) {
      m.durable = mark;
      return;
    }
  }
  marks_.push_back(DurableMark{bucket, mark});
}

void LogWriteBatch::set_hard_state(BucketId bucket, const raft::HardState& state) {
  (void)batch_.Put(store_->raft_, hard_state_key(bucket), encode_hard_state(state));
}

void LogWriteBatch::append(BucketLog& log, const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  BucketId bucket = log.bucket();
  LogIndex old_last = log.last_index();
  touch(log);
  std::vector<std::string> values;
  values.reserve(entries.size());
  for (const Entry& entry : entries) {
    values.push_back(encode_log_entry(bucket, entry));
    (void)batch_.Put(store_->raft_, log_entry_key(bucket, entry.index), values.back());
  }
  // A replaced tail is deleted with point deletes, and only its part past the new entries (the
  // puts overwrite the rest). Tails are short (uncommitted entries: the core's flow control
  // bounds them) and rare (a follower diverged from a new leader), so this is a handful of
  // tombstones. A range deletion instead would stay in the raft memtable until a flush, and each
  // new one makes the next read of the raft family rebuild the memtable's fragmented tombstone
  // list (RocksDB 7.7+ caches it only until the next DeleteRange), for every bucket's reads past
  // its cache.
  LogIndex new_last = entries.back().index;
  for (LogIndex i = new_last.next(); i <= old_last; i = i.next()) {
    (void)batch_.Delete(store_->raft_, log_entry_key(bucket, i));
  }
  log.append(entries, std::move(values));
  set_mark(bucket, EntryId{new_last, entries.back().term});
}

Status LogWriteBatch::compact(BucketLog& log, LogIndex through) {
  if (through <= log.snapshot_point().index) return Status();
  TESS_ASSIGN_OR_RETURN(Term term, log.term(through));
  touch(log);
  BucketId bucket = log.bucket();
  // Compaction deletes a prefix of >= 1,000 entries (design 2.7) with one range deletion: one
  // record in the WAL and memtable instead of thousands of point tombstones, and no later read
  // touches the range (reads start above the snapshot point). Compactions are rare per bucket
  // (every ~1,000+ entries), so few range tombstones live in the memtable at once.
  delete_range(batch_, store_->raft_, log_entry_key(bucket, LogIndex(0)),
               log_entry_key(bucket, through.next()));
  EntryId point{through, term};
  (void)batch_.Put(store_->raft_, truncated_key(bucket), encode_truncated(point));
  log.compact(point);
  return Status();
}

void LogWriteBatch::reset(BucketLog& log, EntryId snapshot_point) {
  touch(log);
  BucketId bucket = log.bucket();
  delete_range(batch_, store_->raft_, log_entry_key(bucket, LogIndex(0)), log_entries_end(bucket));
  (void)batch_.Put(store_->raft_, truncated_key(bucket), encode_truncated(snapshot_point));
  log.reset(snapshot_point);
  set_mark(bucket, snapshot_point);
}

void LogWriteBatch::clear_recovering(BucketId bucket) {
  (void)batch_.Delete(store_->raft_, recovering_key(bucket));
}

void LogWriteBatch::put_state(std::string_view key, std::string_view value) {
  (void)batch_.Put(store_->state_, key, value);
}

void LogWriteBatch::delete_state(std::string_view key) { (void)batch_.Delete(store_->state_, key); }

void LogWriteBatch::delete_state_range(std::string_view begin, std::string_view end) {
  delete_range(batch_, store_->state_, begin, end);
}

bool LogWriteBatch::empty() const { return batch_.Count() == 0; }

uint64_t LogWriteBatch::bytes() const { return batch_.GetDataSize(); }

void LogWriteBatch::finish(bool ok) {
  for (BucketLog* log : touched_) log->end_write(ok);
  touched_.clear();
  finished_ = true;
}

// ---- LogStore ----------------------------------------------------------------------------------

struct LogStore::PendingWrite {
  explicit PendingWrite(const Executor& caller)
      : executor(caller), done_timer(caller, boost::asio::steady_timer::time_point::max()) {}
  Executor executor;
  rocksdb::WriteBatch* batch = nullptr;  // The caller's, alive until `done`.
  std::vector<DurableMark> marks;
  bool sync = false;
  Status result;      // Set by the writer before it posts the completion.
  bool done = false;  // On `executor` only.
  boost::asio::steady_timer done_timer;
};

namespace {

auto complete_write(std::shared_ptr<void> keep, bool* done, boost::asio::steady_timer* timer) {
  return [keep = std::move(keep), done, timer] {
    *done = true;
    timer->cancel();
  };
}

}  // namespace

LogStore::LogStore(Executor executor, std::string path, LogStoreOptions options)
    : executor_(std::move(executor)),
      path_(std::move(path)),
      options_(options),
      clock_(*options.clock),
      sync_timer_(executor_),
      stopped_timer_(executor_) {}

LogStore::~LogStore() {
  TESS_ASSERT(closed_, "log store {} destroyed before close()", path_);
  std::lock_guard lock(mutex_);
  TESS_ASSERT(open_logs_.empty(), "log store {} destroyed before {} bucket logs", path_,
              open_logs_.size());
}

Status LogStore::open_database(const ClusterUuid& cluster, HostId host) {
  rocksdb::DBOptions db_options;
  if (options_.env != nullptr) db_options.env = options_.env;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // After a crash the database is a prefix of the writes; manual_wal_flush off puts every
  // returned Write in the page cache, so it survives the process (design 4.1).
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.manual_wal_flush = false;
  db_options.max_open_files = 256;
  db_options.keep_log_file_num = 4;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Keys in both families start with their bucket (4 bytes) and kind (1 byte), and the keys of
  // one such prefix mostly arrive in order (a bucket's log entries, a session's results) or are
  // one key again (hard state, applied state): the memtable keeps an insert hint per prefix
  // instead of searching its whole skiplist, which took a fifth of a tessd's CPU under puts
  // (2026-12-04 note). Hints need one inserting thread at a time; writes here come from a loop
  // or the writer thread and RocksDB's write group inserts them in turn.
  db_options.allow_concurrent_memtable_write = false;
  auto by_bucket_and_kind = std::make_shared<const InsertHintPrefix>();
  rocksdb::ColumnFamilyOptions raft_options;
  raft_options.write_buffer_size = options_.memtable_bytes;
  raft_options.disable_auto_compactions = options_.simulation;
  raft_options.memtable_insert_with_hint_prefix_extractor = by_bucket_and_kind;
  rocksdb::ColumnFamilyOptions state_options;
  state_options.write_buffer_size = options_.memtable_bytes;
  state_options.disable_auto_compactions = options_.simulation;
  state_options.memtable_insert_with_hint_prefix_extractor = by_bucket_and_kind;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, state_options}, {kRaftFamily, raft_options}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status opened = rocksdb::DB::Open(db_options, path_, families, &handles, &db_);
  // RocksDB's flock on PATH/LOCK (see drive/chunk_index.cc): an operator error, not an I/O one.
  if (opened.IsIOError() &&
      (opened.ToString().find("While lock file") != std::string::npos ||
       opened.ToString().find("lock hold by current process") != std::string::npos)) {
    return error(StatusCode::kFailedPrecondition,
                 "log store {} is in use by another process (its LOCK is held)", path_);
  }
  TESS_RETURN_IF_ERROR(from_rocksdb(opened, "open " + path_));
  state_ = handles[0];
  raft_ = handles[1];

  auto get = [this](const std::string& key) -> Result<std::optional<std::string>> {
    std::string value;
    rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), raft_, key, &value);
    if (got.IsNotFound()) return std::optional<std::string>();
    TESS_RETURN_IF_ERROR(from_rocksdb(got, "read " + path_));
    return std::optional<std::string>(std::move(value));
  };
  auto in_context = [this](const Status& status) {
    return status.with_context(fmt::format("log store {}", path_));
  };

  // Every bucket holding a record: one seek per bucket.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), raft_));
    for (it->SeekToFirst(); it->Valid();) {
      Result<RaftKey> key = decode_raft_key(it->key().ToStringView());
      if (!key.ok()) return in_context(key.status());
      if (key->kind == RaftKey::Kind::kIdentity || key->kind == RaftKey::Kind::kBoot ||
          key->kind == RaftKey::Kind::kClean) {
        break;  // The store records sort after every bucket.
      }
      buckets_at_open_.push_back(key->bucket);
      if (key->bucket.value() + 1 >= kBucketIdLimit) break;
      it->Seek(bucket_prefix(BucketId(key->bucket.value() + 1)));
    }
    TESS_RETURN_IF_ERROR(from_rocksdb(it->status(), "scan " + path_));
  }

  TESS_ASSIGN_OR_RETURN(std::optional<std::string> identity_value, get(identity_key()));
  TESS_ASSIGN_OR_RETURN(std::optional<std::string> boot_value, get(boot_key()));
  TESS_ASSIGN_OR_RETURN(std::optional<std::string> clean_value, get(clean_key()));
  rocksdb::WriteBatch batch;
  if (identity_value) {
    Result<StoreIdentity> identity = decode_identity(*identity_value);
    if (!identity.ok()) return in_context(identity.status());
    if (identity->cluster != cluster || identity->host != host) {
      return error(StatusCode::kFailedPrecondition,
                   "log store {} belongs to cluster {} host {} (store {:x}), not to cluster {} "
                   "host {}; it is left alone: remove it by hand if that host is gone",
                   path_, to_hex(identity->cluster), identity->host, identity->store.value(),
                   to_hex(cluster), host);
    }
    identity_ = *identity;
  } else {
    if (boot_value || !buckets_at_open_.empty()) {
      return error(StatusCode::kCorruption, "log store {} has records but no identity", path_);
    }
    uint64_t store_id = splitmix64(options_.store_id_seed ^ splitmix64(options_.now_unix_ms) ^
                                   (uint64_t{host.value()} << 32));
    identity_ = StoreIdentity{cluster, host, raft::StoreId(store_id == 0 ? 1 : store_id),
                              options_.now_unix_ms};
    (void)batch.Put(raft_, identity_key(), encode_identity(identity_));
  }

  std::optional<BootRecord> last_boot;
  if (boot_value) {
    Result<BootRecord> boot = decode_boot(*boot_value);
    if (!boot.ok()) return in_context(boot.status());
    last_boot = *boot;
  }
  std::optional<uint64_t> clean;
  if (clean_value) {
    Result<uint64_t> decoded = decode_clean(*clean_value);
    if (!decoded.ok()) return in_context(decoded.status());
    clean = *decoded;
  }
  // Design 4.4: a process crash loses nothing (the page cache survives it); a kernel restart
  // loses what was not synced, unless the last process stopped cleanly (everything synced).
  may_have_lost_writes_ = last_boot && last_boot->boot_id != options_.boot_id &&
                          (!clean || *clean != last_boot->start_seq);
  start_seq_ = (last_boot ? last_boot->start_seq : 0) + 1;
  (void)batch.Put(raft_, boot_key(), encode_boot(BootRecord{options_.boot_id, start_seq_}));
  if (may_have_lost_writes_) {
    TESS_COVER("log_store.may_have_lost_writes");
    for (BucketId bucket : buckets_at_open_) {
      // A bucket still recovering from an earlier loss keeps the start_seq it became so at.
      TESS_ASSIGN_OR_RETURN(std::optional<std::string> marker, get(recovering_key(bucket)));
      if (!marker) (void)batch.Put(raft_, recovering_key(bucket), encode_recovering(start_seq_));
    }
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  return from_rocksdb(db_->Write(write_options, &batch), "write the boot record of " + path_);
}

void LogStore::close_database() {
  if (db_ == nullptr) return;
  if (raft_ != nullptr) (void)db_->DestroyColumnFamilyHandle(raft_);
  if (state_ != nullptr) (void)db_->DestroyColumnFamilyHandle(state_);
  raft_ = nullptr;
  state_ = nullptr;
  rocksdb::Status closed = db_->Close();
  if (!closed.ok()) TESS_LOG_WARN("log store {}: close: {}", path_, closed.ToString());
  delete db_;
  db_ = nullptr;
}

namespace {

auto open_work(LogStore* store, ClusterUuid cluster, HostId host,
               Status (LogStore::*open)(const ClusterUuid&, HostId)) {
  return [store, cluster, host, open] { return (store->*open)(cluster, host); };
}

auto close_work(LogStore* store, void (LogStore::*close)()) {
  return [store, close] {
    (store->*close)();
    return 0;
  };
}

auto sync_work(rocksdb::DB* db) {
  return [db] { return from_rocksdb(db->SyncWAL(), "sync"); };
}

auto clean_work(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* raft, uint64_t start_seq) {
  return [db, raft, start_seq] {
    TESS_RETURN_IF_ERROR(from_rocksdb(db->SyncWAL(), "sync"));
    rocksdb::WriteBatch batch;
    (void)batch.Put(raft, clean_key(), encode_clean(start_seq));
    rocksdb::WriteOptions options;
    options.sync = true;
    return from_rocksdb(db->Write(options, &batch), "write the clean record");
  };
}

auto join_work(std::thread* thread) {
  return [thread] {
    thread->join();
    return 0;
  };
}

}  // namespace

Task<Result<std::unique_ptr<LogStore>>> LogStore::open(Executor executor, std::string path,
                                                       ClusterUuid cluster, HostId host,
                                                       LogStoreOptions options) {
  if (options.boot_id == BootId{}) {
    co_return error(StatusCode::kInvalidArgument, "log store {}: no boot id given", path);
  }
  if (options.group_sync_delay <= Clock::Duration::zero() ||
      options.group_sync_delay > kMaxGroupSyncDelay) {
    co_return error(
        StatusCode::kInvalidArgument,
        "log store {}: group_sync_delay must be in (0, 10 ms], not {} µs", path,
        std::chrono::duration_cast<std::chrono::microseconds>(options.group_sync_delay).count());
  }
  if (options.store_id_seed == 0) {
    co_return error(StatusCode::kInvalidArgument, "log store {}: no store_id_seed given", path);
  }
  if (options.memtable_bytes < uint64_t{64} * 1024) {
    co_return error(StatusCode::kInvalidArgument, "log store {}: memtable_bytes {} below 64 KiB",
                    path, options.memtable_bytes);
  }
  if (options.clock == nullptr) {
    co_return error(StatusCode::kInvalidArgument, "log store {}: no clock", path);
  }
  std::unique_ptr<LogStore> store(new LogStore(executor, path, options));
  if (!options.simulation) store->sync_thread_ = std::make_unique<boost::asio::thread_pool>(1);
  Status opened = co_await on_sync_thread(
      store->sync_thread_.get(), open_work(store.get(), cluster, host, &LogStore::open_database));
  if (!opened.ok()) {
    (void)co_await on_sync_thread(store->sync_thread_.get(),
                                  close_work(store.get(), &LogStore::close_database));
    store->closed_ = true;
    co_return opened;
  }
  if (!options.simulation) store->start_writer();
  store->syncer_running_ = true;
  spawn_detached(store->executor_, syncer_loop(store.get()), "log store syncer");
  TESS_LOG_INFO(
      "log store {}: store {:x} of host {}, start {}{}", path, store->identity_.store.value(), host,
      store->start_seq_,
      store->may_have_lost_writes_ ? ", unsynced writes may be lost: buckets recovering" : "");
  co_return store;
}

Result<LoadedBucket> LogStore::load(BucketId bucket) {
  {
    std::lock_guard lock(mutex_);
    TESS_ASSERT(open_logs_.insert(bucket.value()).second, "bucket {} log loaded twice", bucket);
  }
  // Unregisters on every early return; released into the BucketLog at the end.
  struct Registration {
    LogStore* store;
    BucketId bucket;
    bool armed = true;
    ~Registration() {
      if (armed) store->unregister(bucket);
    }
  } registration{this, bucket};

  auto get = [this](const std::string& key) -> Result<std::optional<std::string>> {
    std::string value;
    rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), raft_, key, &value);
    if (got.IsNotFound()) return std::optional<std::string>();
    TESS_RETURN_IF_ERROR(from_rocksdb(got, "read"));
    return std::optional<std::string>(std::move(value));
  };
  std::string context = fmt::format("log store {} bucket {}", path_, bucket);
  LoadedBucket loaded;
  TESS_ASSIGN_OR_RETURN(std::optional<std::string> hard_state, get(hard_state_key(bucket)));
  if (hard_state) {
    Result<raft::HardState> decoded = decode_hard_state(*hard_state);
    if (!decoded.ok()) return decoded.status().with_context(context);
    loaded.hard_state = *decoded;
  }
  TESS_ASSIGN_OR_RETURN(std::optional<std::string> truncated, get(truncated_key(bucket)));
  if (truncated) {
    Result<EntryId> decoded = decode_truncated(*truncated);
    if (!decoded.ok()) return decoded.status().with_context(context);
    loaded.snapshot_point = *decoded;
  }
  TESS_ASSIGN_OR_RETURN(std::optional<std::string> recovering, get(recovering_key(bucket)));
  if (recovering) {
    Result<uint64_t> decoded = decode_recovering(*recovering);
    if (!decoded.ok()) return decoded.status().with_context(context);
    loaded.recovering = true;
    loaded.recovering_since = *decoded;
  }

  // The first and last entries: the log must start right after the truncation point, and its
  // last entry must be sound (the core reads the last term at once).
  std::string lower = log_entry_key(bucket, LogIndex(0));
  std::string upper = log_entries_end(bucket);
  rocksdb::Slice lower_slice(lower);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions options;
  options.iterate_lower_bound = &lower_slice;
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, raft_));
  loaded.last_index = loaded.snapshot_point.index;
  it->SeekToFirst();
  if (it->Valid()) {
    Result<RaftKey> first = decode_raft_key(it->key().ToStringView());
    if (!first.ok()) return first.status().with_context(context);
    if (first->index != loaded.snapshot_point.index.next()) {
      return error(StatusCode::kCorruption, "{}: the log starts at {}, not right after {}", context,
                   first->index, loaded.snapshot_point.index);
    }
    it->SeekToLast();
    if (!it->Valid()) TESS_RETURN_IF_ERROR(from_rocksdb(it->status(), "scan " + context));
    TESS_ASSERT(it->Valid(), "{}: entries vanished during load", context);
    Result<RaftKey> last = decode_raft_key(it->key().ToStringView());
    if (!last.ok()) return last.status().with_context(context);
    Result<LogEntryHeader> header =
        check_log_entry(it->value().ToStringView(), bucket, last->index);
    if (!header.ok()) return header.status().with_context(context);
    loaded.last_index = last->index;
  }
  TESS_RETURN_IF_ERROR(from_rocksdb(it->status(), "scan " + context));
  bool holds_records = hard_state || truncated || recovering || loaded.last_index.value() > 0;
  if (!holds_records && may_have_lost_writes_) {
    // The open found no record of this bucket to mark, but the loss may have taken all of them
    // (a replica whose every write was unsynced may still have acked entries). A bucket truly
    // new here is a learner with nothing to lose: recovering costs it nothing. The marker goes
    // to the disk before any write of the bucket can be built.
    TESS_COVER("log_store.unknown_bucket_recovering");
    Status failed = failure();
    if (!failed.ok()) return failed;
    rocksdb::WriteOptions sync;
    sync.sync = true;
    TESS_RETURN_IF_ERROR(
        from_rocksdb(db_->Put(sync, raft_, recovering_key(bucket), encode_recovering(start_seq_)),
                     "mark " + context + " recovering"));
    loaded.recovering = true;
    loaded.recovering_since = start_seq_;
  }
  if (loaded.hard_state.commit > loaded.last_index) {
    return error(StatusCode::kCorruption, "{}: commit {} is past the last entry {}", context,
                 loaded.hard_state.commit, loaded.last_index);
  }
  registration.armed = false;
  loaded.log.reset(new BucketLog(this, bucket, loaded.snapshot_point, loaded.last_index,
                                 options_.cache_bytes_per_bucket));
  return loaded;
}

void LogStore::unregister(BucketId bucket) {
  std::lock_guard lock(mutex_);
  open_logs_.erase(bucket.value());
}

LogWriteBatch LogStore::batch() { return LogWriteBatch(this); }

Status LogStore::write_group(const std::vector<std::shared_ptr<PendingWrite>>& group) {
  Status status;
  {
    std::lock_guard lock(mutex_);
    stats_.write_calls += group.size();
    status = failure_;
  }
  bool sync = false;
  for (const auto& pending : group) sync = sync || pending->sync;
  bool attempted = false;
  if (status.ok()) {
    rocksdb::WriteBatch merged;
    rocksdb::WriteBatch* write = group.front()->batch;
    if (group.size() > 1) {
      BatchAppender appender(&merged, raft_, state_);
      for (const auto& pending : group) {
        status = from_rocksdb(pending->batch->Iterate(&appender), "merge batches");
        if (!status.ok()) break;
      }
      write = &merged;
    }
    if (status.ok() && TESS_BUGGIFY("log_store.write_fails")) {
      status = Status(StatusCode::kIoError, "injected log store write failure");
    }
    if (status.ok()) {
      rocksdb::WriteOptions options;
      options.sync = sync;
      attempted = true;
      status = from_rocksdb(db_->Write(options, write), sync ? "synced write" : "write");
    }
  }
  std::lock_guard lock(mutex_);
  if (attempted) {
    ++stats_.db_writes;
    if (sync) ++stats_.synced_db_writes;
  }
  if (status.ok()) return status;
  if (failure_.ok()) {
    TESS_COVER("log_store.write_failed");
    TESS_LOG_ERROR("log store {}: a write failed, the store takes no more writes: {}", path_,
                   status);
    failure_ =
        error(StatusCode::kIoError, "log store {} failed a write: {}", path_, status.message());
  }
  return failure_;
}

void LogStore::publish_written(const std::vector<std::shared_ptr<PendingWrite>>& group) {
  bool sync = false;
  uint64_t write_seq = 0;
  bool note = false;
  {
    std::lock_guard lock(mutex_);
    write_seq = ++write_seq_;
    for (const auto& pending : group) {
      sync = sync || pending->sync;
      for (const DurableMark& mark : pending->marks) {
        written_marks_[mark.bucket.value()] = mark.durable;
        marks_changed_.insert(mark.bucket.value());
      }
    }
    note = sync || !unsynced_noted_;
    unsynced_noted_ = true;
  }
  if (!note) return;
  if (options_.simulation) {
    note_unsynced(write_seq, sync);
  } else {
    boost::asio::post(executor_, [this, write_seq, sync] { note_unsynced(write_seq, sync); });
  }
}

void LogStore::start_writer() {
  writer_ = std::thread([this] { writer_loop(); });
}

void LogStore::writer_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    queue_changed_.wait(lock, [this] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;
    std::vector<std::shared_ptr<PendingWrite>> group;
    group.swap(queue_);
    lock.unlock();
    Status status = write_group(group);
    complete_group(group, status, /*inline_completion=*/false);
    lock.lock();
  }
}

void LogStore::complete_group(const std::vector<std::shared_ptr<PendingWrite>>& group,
                              Status status, bool inline_completion) {
  // Completions go out before the watermarks are published, so a listener on a writer's
  // executor hears of a durable entry only after that writer heard its write finished.
  for (const auto& pending : group) {
    pending->result = status;
    PendingWrite* p = pending.get();
    if (inline_completion) {
      p->done = true;
      p->done_timer.cancel();
    } else {
      boost::asio::post(p->executor, complete_write(pending, &p->done, &p->done_timer));
    }
  }
  if (status.ok()) publish_written(group);
}

void LogStore::join_turn(std::shared_ptr<PendingWrite> pending) {
  const void* loop = &boost::asio::query(pending->executor, boost::asio::execution::context);
  Executor executor = pending->executor;
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    auto& turn = turns_[loop];
    first = turn.empty();
    turn.push_back(std::move(pending));
    if (first) ++turns_open_;
  }
  // Posted, not run now: the Readies already queued on this loop join the group first.
  if (first) boost::asio::post(executor, [this, loop] { write_turn(loop); });
}

void LogStore::write_turn(const void* loop) {
  std::vector<std::shared_ptr<PendingWrite>> group;
  Status refused;
  {
    std::lock_guard lock(mutex_);
    auto it = turns_.find(loop);
    TESS_ASSERT(it != turns_.end() && !it->second.empty(), "a turn group without writes");
    group.swap(it->second);
    turns_.erase(it);
    if (stopping_) refused = error(StatusCode::kCancelled, "log store {} is closing", path_);
  }
  if (refused.ok()) {
    Status status = write_group(group);
    complete_group(group, status, /*inline_completion=*/true);
  } else {
    for (const auto& pending : group) {
      pending->result = refused;
      pending->done = true;
      pending->done_timer.cancel();
    }
  }
  std::lock_guard lock(mutex_);
  --turns_open_;
}

int LogStore::turns_open() const {
  std::lock_guard lock(mutex_);
  return turns_open_;
}

Task<Status> LogStore::write(LogWriteBatch batch, bool sync) {
  TESS_ASSERT(batch.store_ == this, "a batch of another log store");
  TESS_ASSERT(!batch.finished_, "a batch written twice");
  if (batch.empty() && !sync) {
    // Nothing to write (a Ready of answers only, e.g. to heartbeats): its messages depend only on
    // earlier writes, which completed before the caller's next write was issued. Skipping the
    // writer thread's round trip here is most of an idle group's cost.
    batch.finish(true);
    co_return Status();
  }
  Executor caller = co_await boost::asio::this_coro::executor;
  auto pending = std::make_shared<PendingWrite>(caller);
  pending->batch = &batch.batch_;
  pending->marks = batch.marks_;
  pending->sync = sync;
  if (options_.simulation) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_)
        pending->result = error(StatusCode::kCancelled, "log store {} is closing", path_);
    }
    if (pending->result.ok()) {
      std::vector<std::shared_ptr<PendingWrite>> group = {pending};
      pending->result = write_group(group);
      if (pending->result.ok()) publish_written(group);
    }
  } else {
    bool queued = false;
    bool on_turn = !sync && options_.inline_unsynced_writes;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        pending->result = error(StatusCode::kCancelled, "log store {} is closing", path_);
      } else if (!failure_.ok()) {
        ++stats_.write_calls;
        pending->result = failure_;
      } else {
        if (!on_turn) queue_.push_back(pending);
        queued = true;
      }
    }
    if (queued) {
      if (on_turn) {
        join_turn(pending);
      } else {
        queue_changed_.notify_one();
      }
      while (!pending->done) co_await clock_.wait(pending->done_timer, Clock::TimePoint::max());
    }
  }
  batch.finish(pending->result.ok());
  co_return pending->result;
}

void LogStore::note_unsynced(uint64_t write_seq, bool sync_now) {
  if (write_seq > synced_seq_ && !unsynced_since_) unsynced_since_ = clock_.now();
  if (sync_now) sync_wanted_ = true;
  sync_timer_.cancel();
}

void LogStore::sync_now() {
  if (options_.simulation) {
    sync_wanted_ = true;
    sync_timer_.cancel();
    return;
  }
  boost::asio::post(executor_, [this] {
    sync_wanted_ = true;
    sync_timer_.cancel();
  });
}

void LogStore::add_durable_listener(Executor executor,
                                    std::function<void(const std::vector<DurableMark>&)> listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(Listener{std::move(executor), std::move(listener)});
}

namespace {

auto call_listener(std::function<void(const std::vector<DurableMark>&)> function,
                   std::shared_ptr<const std::vector<DurableMark>> marks) {
  return [function = std::move(function), marks = std::move(marks)] { function(*marks); };
}

}  // namespace

Task<void> LogStore::syncer_loop(LogStore* self) {
  while (!self->syncer_stop_) {
    Clock::TimePoint now = self->clock_.now();
    bool due = self->sync_wanted_ || (self->unsynced_since_ && now - *self->unsynced_since_ >=
                                                                   self->options_.group_sync_delay);
    if (!due) {
      Clock::TimePoint deadline = self->unsynced_since_
                                      ? *self->unsynced_since_ + self->options_.group_sync_delay
                                      : Clock::TimePoint::max();
      co_await self->clock_.wait(self->sync_timer_, deadline);
      continue;
    }
    self->sync_wanted_ = false;
    self->unsynced_since_.reset();
    // The watermarks of the writes that returned before this sync begins: SyncWAL covers them.
    auto marks = std::make_shared<std::vector<DurableMark>>();
    bool anything = false;
    std::vector<Listener> listeners;
    {
      std::lock_guard lock(self->mutex_);
      if (!self->failure_.ok()) break;
      anything = self->write_seq_ > self->synced_seq_;
      self->synced_seq_ = self->write_seq_;
      self->unsynced_noted_ = false;
      for (uint32_t bucket : self->marks_changed_) {
        marks->push_back(DurableMark{BucketId(bucket), self->written_marks_[bucket]});
      }
      self->marks_changed_.clear();
      listeners = self->listeners_;
    }
    if (!anything) continue;
    Status status;
    Clock::TimePoint started = self->clock_.now();
    if (TESS_BUGGIFY("log_store.sync_fails")) {
      status = Status(StatusCode::kIoError, "injected log store sync failure");
    } else {
      status = co_await on_sync_thread(self->sync_thread_.get(), sync_work(self->db_));
    }
    Clock::Duration took = self->clock_.now() - started;
    {
      std::lock_guard lock(self->mutex_);
      ++self->stats_.wal_syncs;
      self->stats_.wal_sync_time += took;
      self->stats_.wal_sync_time_max = std::max(self->stats_.wal_sync_time_max, took);
      if (!status.ok() && self->failure_.ok()) {
        TESS_COVER("log_store.sync_failed");
        TESS_LOG_ERROR("log store {}: a WAL sync failed, the store takes no more writes: {}",
                       self->path_, status);
        self->failure_ = error(StatusCode::kIoError, "log store {} failed a WAL sync: {}",
                               self->path_, status.message());
      }
    }
    if (!status.ok()) break;
    if (marks->empty()) continue;
    for (Listener& listener : listeners) {
      boost::asio::post(listener.executor, call_listener(std::move(listener.function), marks));
    }
  }
  self->syncer_running_ = false;
  self->stopped_timer_.cancel();
}

Status LogStore::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

LogStoreStats LogStore::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

Result<std::optional<std::string>> LogStore::get_state(std::string_view key) const {
  std::string value;
  rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), state_, key, &value);
  if (got.IsNotFound()) return std::optional<std::string>();
  TESS_RETURN_IF_ERROR(from_rocksdb(got, "read state"));
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<std::string, std::string>>> LogStore::scan_state(
    std::string_view begin, std::string_view end, size_t limit) const {
  std::vector<std::pair<std::string, std::string>> out;
  rocksdb::ReadOptions options;
  rocksdb::Slice upper(end.data(), end.size());
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, state_));
  for (it->Seek(rocksdb::Slice(begin.data(), begin.size())); it->Valid() && out.size() < limit;
       it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  TESS_RETURN_IF_ERROR(from_rocksdb(it->status(), "scan state"));
  return out;
}

Task<void> LogStore::stop_threads() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queue_changed_.notify_all();
  // Turn groups already posted run first (they see stopping_ and refuse, or are inside DB::Write
  // on another loop): they hold `this`. Yielding lets those of this loop run.
  while (turns_open() > 0) co_await boost::asio::post(executor_, boost::asio::use_awaitable);
  if (writer_.joinable()) {
    // Joined off the executor. The writer's last posts to this executor were queued before the
    // join's completion is, so they have run when this resumes.
    (void)co_await on_sync_thread(sync_thread_.get(), join_work(&writer_));
  }
  syncer_stop_ = true;
  sync_timer_.cancel();
  while (syncer_running_) co_await clock_.wait(stopped_timer_, Clock::TimePoint::max());
}

Task<Status> LogStore::close_clean() {
  TESS_ASSERT(!closed_, "log store {} closed twice", path_);
  co_await stop_threads();
  Status status = failure();
  if (status.ok()) {
    status = co_await on_sync_thread(sync_thread_.get(), clean_work(db_, raft_, start_seq_));
    if (!status.ok()) {
      std::lock_guard lock(mutex_);
      if (failure_.ok()) failure_ = status;
    }
  }
  (void)co_await on_sync_thread(sync_thread_.get(), close_work(this, &LogStore::close_database));
  closed_ = true;
  co_return status;
}

Task<void> LogStore::close() {
  TESS_ASSERT(!closed_, "log store {} closed twice", path_);
  co_await stop_threads();
  (void)co_await on_sync_thread(sync_thread_.get(), close_work(this, &LogStore::close_database));
  closed_ = true;
}

}  // namespace tessera
