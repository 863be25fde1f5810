// Little-endian encoding of integers into byte spans, for wire headers and on-disk structures.
// Every format in Tessera is little-endian and encoded field by field, never by memcpy of a struct.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace tessera {

static_assert(std::endian::native == std::endian::little, "Tessera supports little-endian hosts");

template <typename T>
inline void store_le(std::byte* out, T value) {
  std::memcpy(out, &value, sizeof(T));
}
template <typename T>
inline T load_le(const std::byte* in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  return value;
}

}  // namespace tessera
