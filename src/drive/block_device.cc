#include "drive/block_device.h"

#include "base/units.h"

namespace tessera {

Status BlockDevice::check_io(uint64_t offset, const void* memory, size_t length) const {
  if (offset % kBlockSize != 0 || length % kBlockSize != 0 || length == 0) {
    return error(StatusCode::kInvalidArgument,
                 "I/O of {} bytes at offset {} is not whole 4 KiB blocks", length, offset);
  }
  if (reinterpret_cast<uintptr_t>(memory) % kBlockSize != 0) {
    return Status(StatusCode::kInvalidArgument, "I/O memory is not 4 KiB aligned");
  }
  if (offset > capacity_bytes() || length > capacity_bytes() - offset) {
    return error(StatusCode::kOutOfRange, "I/O [{}, +{}) past the end of a {}-byte device", offset,
                 length, capacity_bytes());
  }
  return Status();
}

Task<Status> BlockDevice::write_gather(uint64_t offset,
                                       std::span<const std::span<const std::byte>> pieces) {
  for (std::span<const std::byte> piece : pieces) {
    TESS_CO_RETURN_IF_ERROR(co_await write(offset, piece));
    offset += piece.size();
  }
  co_return Status();
}

}  // namespace tessera
