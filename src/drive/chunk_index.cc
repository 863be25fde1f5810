#include "drive/chunk_index.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "base/endian.h"

namespace tessera {

namespace {

// Meta keys are shorter than chunk keys (kChunkKeyBytes), which is how loading tells them apart.
constexpr std::string_view kIdentityKey = "~identity";
constexpr std::string_view kDurableSeqKey = "~durable_seq";

Status from_rocksdb(const rocksdb::Status& status, std::string_view what) {
  if (status.ok()) return Status();
  return error(StatusCode::kIoError, "chunk index {}: {}", what, status.ToString());
}

}  // namespace

ChunkIndex::ChunkIndex(std::unique_ptr<rocksdb::DB> db, uint64_t durable_seq)
    : db_(std::move(db)), durable_seq_(durable_seq) {}

ChunkIndex::~ChunkIndex() = default;

Result<std::unique_ptr<ChunkIndex>> ChunkIndex::open(const std::string& path,
                                                     ChunkIndexOptions index_options) {
  rocksdb::Options options;
  if (index_options.env != nullptr) options.env = index_options.env;
  options.disable_auto_compactions = !index_options.compact_in_background;
  options.create_if_missing = true;
  options.max_open_files = 256;
  options.keep_log_file_num = 4;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status opened = rocksdb::DB::Open(options, path, &raw);
  // RocksDB's flock on PATH/LOCK: "While lock file" when another process holds it, "lock hold by
  // current process" when this one does. An operator error (the drive is served elsewhere), not
  // an I/O failure: say so and leave the drive alone.
  if (opened.IsIOError() &&
      (opened.ToString().find("While lock file") != std::string::npos ||
       opened.ToString().find("lock hold by current process") != std::string::npos)) {
    return error(StatusCode::kFailedPrecondition,
                 "chunk index {} is in use by another process (its LOCK is held)", path);
  }
  TESS_RETURN_IF_ERROR(from_rocksdb(opened, "open " + path));
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string value;
  uint64_t durable_seq = 0;
  rocksdb::Status got = db->Get(rocksdb::ReadOptions(), kDurableSeqKey, &value);
  if (got.ok()) {
    if (value.size() != 8) return error(StatusCode::kCorruption, "chunk index {}: bad seq", path);
    durable_seq = load_le<uint64_t>(reinterpret_cast<const std::byte*>(value.data()));
  } else if (!got.IsNotFound()) {
    TESS_RETURN_IF_ERROR(from_rocksdb(got, "read " + path));
  }
  return std::unique_ptr<ChunkIndex>(new ChunkIndex(std::move(db), durable_seq));
}

Status ChunkIndex::destroy(const std::string& path, rocksdb::Env* env) {
  rocksdb::Options options;
  if (env != nullptr) options.env = env;
  return from_rocksdb(rocksdb::DestroyDB(path, options), "destroy " + path);
}

Result<std::string> ChunkIndex::drive_identity() const {
  std::string value;
  rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), kIdentityKey, &value);
  if (got.IsNotFound()) return std::string();
  TESS_RETURN_IF_ERROR(from_rocksdb(got, "read identity"));
  return value;
}

Status ChunkIndex::set_drive_identity(const std::string& identity) {
  rocksdb::WriteOptions options;
  options.sync = true;
  return from_rocksdb(db_->Put(options, kIdentityKey, identity), "write identity");
}

Status ChunkIndex::load(const std::function<Status(ChunkRecord)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<ChunkId> id = decode_chunk_key(it->key().ToStringView());
    if (!id) continue;  // A meta record.
    TESS_ASSIGN_OR_RETURN(ChunkRecord record, decode_index_value(*id, it->value().ToStringView()));
    TESS_RETURN_IF_ERROR(visit(std::move(record)));
  }
  return from_rocksdb(it->status(), "scan");
}

Status ChunkIndex::commit(const Batch& batch, bool sync, uint64_t durable_seq) {
  rocksdb::WriteBatch write;
  for (const ChunkRecord& record : batch.puts) {
    TESS_RETURN_IF_ERROR(from_rocksdb(
        write.Put(encode_chunk_key(record.id), encode_index_value(record)), "batch put"));
  }
  for (const ChunkId& id : batch.deletes) {
    TESS_RETURN_IF_ERROR(from_rocksdb(write.Delete(encode_chunk_key(id)), "batch delete"));
  }
  if (sync && durable_seq > durable_seq_) {
    std::string value(8, '\0');
    store_le<uint64_t>(reinterpret_cast<std::byte*>(value.data()), durable_seq);
    TESS_RETURN_IF_ERROR(from_rocksdb(write.Put(kDurableSeqKey, value), "batch put"));
  }
  rocksdb::WriteOptions options;
  options.sync = sync;
  TESS_RETURN_IF_ERROR(from_rocksdb(db_->Write(options, &write), "commit"));
  if (sync) durable_seq_ = std::max(durable_seq_, durable_seq);
  return Status();
}

}  // namespace tessera
