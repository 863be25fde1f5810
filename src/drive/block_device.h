// BlockDevice: a drive as the chunk store sees it. Bytes are read and written in whole 4 KiB
// blocks at 4 KiB-aligned offsets from 4 KiB-aligned memory (what O_DIRECT requires), and flush()
// makes every write that completed before it durable. A completed write that was not flushed may
// be lost, or torn at block granularity, by a crash.
//
// Implementations live on one executor: call them from tasks running on it. The memory given to
// read() and write() must stay valid until the call completes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/status.h"
#include "runtime/task.h"

namespace tessera {

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual uint64_t capacity_bytes() const = 0;

  // Reads out.size() bytes at `offset`. Errors: kInvalidArgument (misaligned offset, length or
  // memory), kOutOfRange (past the end), kIoError (the device failed).
  virtual Task<Status> read(uint64_t offset, std::span<std::byte> out) = 0;
  // Writes data.size() bytes at `offset`. Errors as for read().
  virtual Task<Status> write(uint64_t offset, std::span<const std::byte> data) = 0;
  // Writes `pieces` one after another from `offset`, as one operation where the device allows
  // (a chunk's header and data: one I/O instead of two). Every piece must be whole aligned blocks.
  // The default writes them in turn. Errors as for read().
  virtual Task<Status> write_gather(uint64_t offset,
                                    std::span<const std::span<const std::byte>> pieces);
  // Makes every write completed before the call durable. kIoError if the device failed.
  virtual Task<Status> flush() = 0;

 protected:
  // The checks every implementation makes before touching the device.
  Status check_io(uint64_t offset, const void* memory, size_t length) const;
};

}  // namespace tessera
