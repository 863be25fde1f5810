// CRC32C (Castagnoli), the checksum of every 4 KiB block and of every RPC frame header. Computed
// by ISA-L with the CPU's crc32 instruction. crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tessera {

// The CRC32C of `bytes`. To checksum data in pieces, pass the previous result as `crc`.
uint32_t crc32c(std::span<const std::byte> bytes, uint32_t crc = 0);

}  // namespace tessera
