// FaultInjectionFs: a RocksDB FileSystem over the real one that can simulate a power loss, for
// crash tests of the chunk index and for the simulator (the leveldb / RocksDB fault-injection
// pattern; RocksDB's own FaultInjectionTestFS is not in Debian's shared library).
//
// It remembers, per file written through it, how many bytes were appended and how many of them a
// Sync / Fsync made durable, and which files were created (or renamed into place) since their
// directory was last fsynced. simulate_power_loss() then does what the power loss would: truncates
// every file to its synced size and deletes files whose directory entry was never synced. A
// process crash needs nothing of it (the page cache survives a process).
//
// Limits of the model, chosen to stay small: files are assumed to be written by appending (what
// RocksDB does for its WAL, MANIFEST, tables and CURRENT); a deleted file does not come back at a
// power loss; a rename over an existing file keeps the new contents (one of the two outcomes a
// real power loss allows).
//
// It can also fail operations on demand: the next N appends, the next N syncs, or, once
// set_active(false), every write, sync, create, rename and delete (a dead process: nothing it
// still tries reaches the disk). Failures are IOError.
//
// Thread-safe: RocksDB calls it from its own threads. One mutex guards the bookkeeping; it is a
// leaf lock (nothing else is locked while it is held) and is not held across calls into the real
// file system.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace tessera {

class FaultInjectionFs final : public rocksdb::FileSystemWrapper {
 public:
  // `sync_to_disk` false: Sync, Fsync and directory fsyncs are recorded but not passed to `base`,
  // for tests and simulations in which only simulated power losses happen (a real fsync costs
  // milliseconds, and a simulation makes thousands).
  explicit FaultInjectionFs(
      const std::shared_ptr<rocksdb::FileSystem>& base = rocksdb::FileSystem::Default(),
      bool sync_to_disk = true);
  ~FaultInjectionFs() override;

  // The Env to give RocksDB (rocksdb::Options::env): the default Env with this file system.
  // Owned by this object; valid while it lives.
  rocksdb::Env* env() { return env_.get(); }

  // Drops what was not synced: files are truncated to their synced size and files whose
  // directory was not fsynced since they were created are deleted. With keep_unsynced_probability
  // p > 0, each file instead keeps, with probability p, a random part of its unsynced tail (the
  // kernel had written it back; a log's last record may be torn), chosen by `seed`. Afterwards
  // every remaining file counts as synced. REQUIRES: no database is open on the files (close it
  // first; with set_active(false) its closing writes nothing).
  void simulate_power_loss(double keep_unsynced_probability = 0, uint64_t seed = 0);

  // The next `count` appends (or syncs) fail and change nothing.
  void fail_next_appends(int count);
  void fail_next_syncs(int count);
  // While inactive, every mutation fails with IOError and changes nothing. Reads go on.
  void set_active(bool active);
  bool active() const;
  // Called after every successful append and sync of a file other than RocksDB's info log (which
  // holds nothing the database needs), on the calling thread, without the lock held. For tests
  // that stop the process at an exact step.
  void set_after_mutation(std::function<void()> hook);

  // Appends and syncs made (successful ones, excluding the info log), for tests.
  uint64_t mutations() const;

  const char* Name() const override { return "TesseraFaultInjectionFs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old_name,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus DeleteFile(const std::string& name, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus LinkFile(const std::string& from, const std::string& to,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus Truncate(const std::string& name, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override;

 private:
  class File;
  class Directory;
  friend class File;
  friend class Directory;

  struct FileState {
    uint64_t size_bytes = 0;    // Appended so far.
    uint64_t synced_bytes = 0;  // Of which a sync made durable.
    bool entry_synced = true;   // Its directory entry survives a power loss.
  };

  rocksdb::IOStatus check_active() const;  // REQUIRES: mutex_ held.
  rocksdb::IOStatus wrap_new_file(const std::string& name, bool created, uint64_t size_bytes,
                                  std::unique_ptr<rocksdb::FSWritableFile>* result);
  // Bookkeeping of File and Directory. Each returns the injected or inactive error, if any, before
  // the operation (the *_done ones record its success).
  rocksdb::IOStatus before_append(const std::string& name);
  void append_done(const std::string& name, uint64_t bytes);
  rocksdb::IOStatus before_sync(const std::string& name);
  void sync_done(const std::string& name);
  rocksdb::IOStatus before_directory_sync();
  void directory_synced(const std::string& directory);
  void count_mutation(const std::string& name);

  std::unique_ptr<rocksdb::Env> env_;
  const bool sync_to_disk_;
  mutable std::mutex mutex_;                // Guards everything below. A leaf lock.
  std::map<std::string, FileState> files_;  // By full path.
  int failing_appends_ = 0;
  int failing_syncs_ = 0;
  bool active_ = true;
  uint64_t mutations_ = 0;
  std::function<void()> after_mutation_;
};

}  // namespace tessera
