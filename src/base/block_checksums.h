// Per-block CRC32C of a column: the checksums a writer computes before sending blocks to a drive
// and every reader verifies after receiving them.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"

namespace tessera {

// The CRC32C of each 4 KiB block of `column` (its size must be a multiple of 4 KiB).
std::vector<uint32_t> block_checksums(std::span<const std::byte> column);

// OK if every block of `column` matches `expected`; otherwise kCorruption naming the first bad
// block (counted from `first_block`, so errors name the block within the whole chunk).
Status verify_block_checksums(std::span<const std::byte> column, std::span<const uint32_t> expected,
                              uint64_t first_block = 0);

}  // namespace tessera
