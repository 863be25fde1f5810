// ExtentAllocator: the free space of a drive's data area as a set of free extents. It is never
// stored: the chunk store rebuilds it at open from the index (free = data area minus every indexed
// extent), so a crash cannot leak space or hand it out twice.
//
// Allocation is next-fit from a cursor that moves forward, so a stream of chunk writes lands
// sequentially on the drive. Not thread-safe; the owning chunk store's executor uses it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "base/status.h"
#include "drive/chunk_format.h"

namespace tessera {

class ExtentAllocator {
 public:
  // Everything in [first_block, end_block) starts free.
  ExtentAllocator(uint64_t first_block, uint64_t end_block);

  // A free extent of exactly `block_count` blocks, or nullopt if no free run is that long.
  std::optional<Extent> allocate(uint64_t block_count);
  // Returns `extent` to free space. REQUIRES: it was allocated or reserved, and not freed since.
  void free(Extent extent);
  // Marks `extent` used, as loading the index does. kCorruption if any of it is outside the data
  // area or already used (two index entries claiming the same blocks).
  Status reserve(Extent extent);

  uint64_t free_blocks() const { return free_blocks_; }
  uint64_t total_blocks() const { return end_block_ - first_block_; }
  // The longest free run, for tests and for "no space" errors.
  uint64_t largest_free_run() const;
  size_t free_run_count() const { return free_.size(); }

 private:
  uint64_t first_block_;
  uint64_t end_block_;
  uint64_t cursor_;
  uint64_t free_blocks_;
  std::map<uint64_t, uint64_t> free_;  // First block -> length of each maximal free run.
};

}  // namespace tessera
