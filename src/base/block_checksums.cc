#include "base/block_checksums.h"

#include "base/crc32c.h"
#include "base/units.h"

namespace tessera {

std::vector<uint32_t> block_checksums(std::span<const std::byte> column) {
  TESS_ASSERT(column.size() % kBlockSize == 0, "column of {} bytes is not whole blocks",
              column.size());
  std::vector<uint32_t> crcs(column.size() / kBlockSize);
  for (size_t i = 0; i < crcs.size(); ++i)
    crcs[i] = crc32c(column.subspan(i * kBlockSize, kBlockSize));
  return crcs;
}

Status verify_block_checksums(std::span<const std::byte> column, std::span<const uint32_t> expected,
                              uint64_t first_block) {
  TESS_ASSERT(column.size() == expected.size() * kBlockSize,
              "{} bytes checked against {} checksums", column.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    uint32_t actual = crc32c(column.subspan(i * kBlockSize, kBlockSize));
    if (actual != expected[i]) {
      return error(StatusCode::kCorruption, "block {} checksum {:#010x}, expected {:#010x}",
                   first_block + i, actual, expected[i]);
    }
  }
  return Status();
}

}  // namespace tessera
