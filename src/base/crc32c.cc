#include "base/crc32c.h"

#include <isa-l/crc.h>

namespace tessera {

uint32_t crc32c(std::span<const std::byte> bytes, uint32_t crc) {
  // ISA-L's crc32_iscsi takes and returns the register without the final inversion.
  uint32_t reg =
      crc32_iscsi(const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(bytes.data())),
                  static_cast<int>(bytes.size()), ~crc);
  return ~reg;
}

}  // namespace tessera
