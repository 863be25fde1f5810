// Sizes that the whole system agrees on.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tessera {

inline constexpr size_t kKiB = 1024;
inline constexpr size_t kMiB = 1024 * kKiB;
inline constexpr size_t kGiB = 1024 * kMiB;

// The unit of checksums, erasure coding and drive I/O.
inline constexpr size_t kBlockSize = 4 * kKiB;

inline constexpr bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }
inline constexpr uint64_t round_up(uint64_t x, uint64_t multiple) {
  return (x + multiple - 1) / multiple * multiple;
}

}  // namespace tessera
