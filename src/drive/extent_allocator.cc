#include "drive/extent_allocator.h"

#include <algorithm>
#include <iterator>

#include "base/assert.h"

namespace tessera {

ExtentAllocator::ExtentAllocator(uint64_t first_block, uint64_t end_block)
    : first_block_(first_block),
      end_block_(end_block),
      cursor_(first_block),
      free_blocks_(end_block - first_block) {
  TESS_ASSERT(first_block < end_block, "empty data area [{}, {})", first_block, end_block);
  free_[first_block] = end_block - first_block;
}

std::optional<Extent> ExtentAllocator::allocate(uint64_t block_count) {
  TESS_ASSERT(block_count > 0, "allocation of zero blocks");
  // Next-fit: the first run at or after the cursor that is long enough, wrapping around once.
  auto fits = [block_count](const auto& run) { return run.second >= block_count; };
  auto start = free_.upper_bound(cursor_);
  if (start != free_.begin()) {
    auto before = std::prev(start);
    if (before->first + before->second > cursor_) start = before;  // The cursor is inside it.
  }
  auto found = std::find_if(start, free_.end(), fits);
  if (found == free_.end()) {
    found = std::find_if(free_.begin(), start, fits);
    if (found == start) return std::nullopt;
  }

  auto [run_start, run_length] = *found;
  // Inside the run that holds the cursor, allocate at the cursor so writes stay sequential.
  uint64_t at = run_start;
  if (cursor_ > run_start && cursor_ + block_count <= run_start + run_length) at = cursor_;
  free_.erase(found);
  if (at > run_start) free_[run_start] = at - run_start;
  uint64_t tail = run_start + run_length - (at + block_count);
  if (tail > 0) free_[at + block_count] = tail;
  free_blocks_ -= block_count;
  cursor_ = at + block_count == end_block_ ? first_block_ : at + block_count;
  return Extent{at, block_count};
}

void ExtentAllocator::free(Extent extent) {
  TESS_ASSERT(extent.block_count > 0 && extent.first_block >= first_block_ &&
                  extent.end_block() <= end_block_,
              "freeing [{}, {}) outside the data area", extent.first_block, extent.end_block());
  uint64_t start = extent.first_block;
  uint64_t length = extent.block_count;
  auto next = free_.lower_bound(start);
  TESS_ASSERT(next == free_.end() || next->first >= extent.end_block(), "double free of [{}, {})",
              start, extent.end_block());
  if (next != free_.begin()) {
    auto before = std::prev(next);
    TESS_ASSERT(before->first + before->second <= start, "double free of [{}, {})", start,
                extent.end_block());
    if (before->first + before->second == start) {
      start = before->first;
      length += before->second;
      free_.erase(before);
    }
  }
  if (next != free_.end() && next->first == extent.end_block()) {
    length += next->second;
    free_.erase(next);
  }
  free_[start] = length;
  free_blocks_ += extent.block_count;
}

Status ExtentAllocator::reserve(Extent extent) {
  auto bad = [&extent](std::string_view why) {
    return error(StatusCode::kCorruption, "extent [{}, {}) {}", extent.first_block,
                 extent.end_block(), why);
  };
  if (extent.block_count == 0 || extent.first_block < first_block_ ||
      extent.end_block() > end_block_) {
    return bad("is outside the data area");
  }
  auto run = free_.upper_bound(extent.first_block);
  if (run == free_.begin()) return bad("overlaps another chunk");
  --run;
  auto [run_start, run_length] = *run;
  if (run_start + run_length < extent.end_block()) return bad("overlaps another chunk");
  free_.erase(run);
  if (extent.first_block > run_start) free_[run_start] = extent.first_block - run_start;
  uint64_t tail = run_start + run_length - extent.end_block();
  if (tail > 0) free_[extent.end_block()] = tail;
  free_blocks_ -= extent.block_count;
  return Status();
}

uint64_t ExtentAllocator::largest_free_run() const {
  uint64_t largest = 0;
  for (const auto& [start, length] : free_) largest = std::max(largest, length);
  return largest;
}

}  // namespace tessera
