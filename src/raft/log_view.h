// LogView: the core's read-only window on the entries its host has persisted. The host owns the
// log (a RocksDB column family in tessd, MemoryLog in tests and the simulator) and changes it only
// while handling a Ready, as the Ready says; the core reads it at any time on the same executor.
#pragma once

#include <vector>

#include "base/status.h"
#include "raft/types.h"

namespace tessera::raft {

class LogView {
 public:
  virtual ~LogView() = default;
  // The last entry compacted away (index 0, term 0 if none): the log holds (snapshot.index, last].
  virtual EntryId snapshot_point() const = 0;
  // The last index persisted, or snapshot_point().index if the log is empty.
  virtual LogIndex last_index() const = 0;
  // The term at `index` for snapshot_point().index <= index <= last_index(). kOutOfRange
  // otherwise (compacted or not written), kCorruption if the stored entry is damaged.
  virtual Result<Term> term(LogIndex index) const = 0;
  // Entries [from, to), stopping early after `max_bytes` (at least one entry is returned).
  // REQUIRES: snapshot_point().index < from < to <= last_index() + 1.
  virtual Result<std::vector<Entry>> entries(LogIndex from, LogIndex to,
                                             uint64_t max_bytes) const = 0;
};

// A LogView kept in memory, with the writes a host makes while handling a Ready. For tests and
// the simulator; nothing here is durable by itself.
class MemoryLog final : public LogView {
 public:
  EntryId snapshot_point() const override { return snapshot_; }
  LogIndex last_index() const override;
  Result<Term> term(LogIndex index) const override;
  Result<std::vector<Entry>> entries(LogIndex from, LogIndex to, uint64_t max_bytes) const override;

  // Drops entries >= entries.front().index, then appends. REQUIRES: the first index is at most
  // last_index() + 1 and above the snapshot point.
  void append(std::vector<Entry> entries);
  // Drops every entry <= `through` (which must be stored); its term becomes the snapshot point.
  void compact(LogIndex through);
  // Replaces the whole log by a snapshot point (after a snapshot was installed).
  void reset(EntryId snapshot_point);
  // Keeps only the entries <= `index` (a crash that lost the tail).
  void truncate_after(LogIndex index);
  const std::vector<Entry>& stored() const { return entries_; }

 private:
  EntryId snapshot_;
  std::vector<Entry> entries_;  // Indexes snapshot_.index + 1, + 2, ...
};

}  // namespace tessera::raft
