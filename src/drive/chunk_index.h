// ChunkIndex: the durable chunk index of one drive, a RocksDB database. Key: the chunk key
// (chunk_format.h); value: the chunk's extent, write sequence and per-block CRC32C. Besides chunks
// it holds two records: which drive it indexes (so an index is never used with another drive or
// format) and the highest write sequence known durable.
//
// Calls block on RocksDB (a synced commit waits for the disk). The chunk store calls them from its
// index thread, never from an event loop. Thread-compatible: one caller at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "drive/chunk_format.h"

namespace rocksdb {
class DB;
class Env;
}  // namespace rocksdb

namespace tessera {

struct ChunkIndexOptions {
  // The Env RocksDB does its file I/O through (a FaultInjectionFs's in tests and the simulator);
  // nullptr for the default. It must outlive the index.
  rocksdb::Env* env = nullptr;
  // False in simulations: a compaction runs on RocksDB's own thread at times of its own, and one
  // that fails (a simulated dead process) sleeps a real second before closing can finish. A
  // simulated index stays small without it.
  bool compact_in_background = true;
};

class ChunkIndex {
 public:
  // Opens the index at `path` (a directory), creating it if missing. kIoError with RocksDB's
  // reason if it cannot be opened (another process holds it, or it is damaged).
  static Result<std::unique_ptr<ChunkIndex>> open(const std::string& path,
                                                  ChunkIndexOptions index_options = {});
  // Deletes the index at `path` and everything in it (a forced reformat).
  static Status destroy(const std::string& path, rocksdb::Env* env = nullptr);
  ~ChunkIndex();
  ChunkIndex(const ChunkIndex&) = delete;
  ChunkIndex& operator=(const ChunkIndex&) = delete;

  // The identity of the drive this index belongs to; empty for a new index.
  Result<std::string> drive_identity() const;
  Status set_drive_identity(const std::string& identity);

  // Calls `visit` for every chunk in key order; stops at the first error it returns.
  // kCorruption for a malformed entry.
  Status load(const std::function<Status(ChunkRecord)>& visit) const;
  uint64_t durable_seq() const { return durable_seq_; }

  struct Batch {
    std::vector<ChunkRecord> puts;
    std::vector<ChunkId> deletes;
  };
  // Applies `batch` atomically. With `sync`, the write reaches the disk before it returns and
  // every put with commit_seq <= durable_seq is recorded as durable.
  Status commit(const Batch& batch, bool sync, uint64_t durable_seq);

 private:
  ChunkIndex(std::unique_ptr<rocksdb::DB> db, uint64_t durable_seq);

  std::unique_ptr<rocksdb::DB> db_;
  uint64_t durable_seq_;
};

}  // namespace tessera
