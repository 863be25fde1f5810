#include "raft/log_view.h"

#include "base/assert.h"

namespace tessera::raft {

LogIndex MemoryLog::last_index() const { return snapshot_.index.plus(entries_.size()); }

Result<Term> MemoryLog::term(LogIndex index) const {
  if (index == snapshot_.index) return snapshot_.term;
  if (index < snapshot_.index || index > last_index()) {
    return error(StatusCode::kOutOfRange, "no entry {} (log holds ({}, {}])", index,
                 snapshot_.index, last_index());
  }
  return entries_[snapshot_.index.next().count_to(index)].term;
}

Result<std::vector<Entry>> MemoryLog::entries(LogIndex from, LogIndex to,
                                              uint64_t max_bytes) const {
  TESS_ASSERT(snapshot_.index < from && from < to && to <= last_index().next(),
              "entries [{}, {}) outside ({}, {}]", from, to, snapshot_.index, last_index());
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (LogIndex i = from; i < to; i = i.next()) {
    const Entry& e = entries_[snapshot_.index.next().count_to(i)];
    if (!out.empty() && bytes + e.size_bytes() > max_bytes) break;
    bytes += e.size_bytes();
    out.push_back(e);
  }
  return out;
}

void MemoryLog::append(std::vector<Entry> entries) {
  if (entries.empty()) return;
  LogIndex first = entries.front().index;
  TESS_ASSERT(first > snapshot_.index && first <= last_index().next(),
              "append at {} to log ({}, {}]", first, snapshot_.index, last_index());
  truncate_after(first.prev());
  for (auto& e : entries) {
    TESS_ASSERT(e.index == last_index().next(), "append out of order");
    entries_.push_back(std::move(e));
  }
}

void MemoryLog::compact(LogIndex through) {
  if (through <= snapshot_.index) return;
  TESS_ASSERT(through <= last_index(), "compact past the log end");
  Term t = *term(through);
  entries_.erase(entries_.begin(),
                 entries_.begin() + static_cast<ptrdiff_t>(snapshot_.index.count_to(through)));
  snapshot_ = EntryId{through, t};
}

void MemoryLog::reset(EntryId snapshot_point) {
  entries_.clear();
  snapshot_ = snapshot_point;
}

void MemoryLog::truncate_after(LogIndex index) {
  if (index >= last_index()) return;
  TESS_ASSERT(index >= snapshot_.index, "truncate below the snapshot point");
  entries_.resize(snapshot_.index.count_to(index));
}

}  // namespace tessera::raft
