// Buffer: a fixed-size, aligned, reference-counted run of bytes for payloads that must not be
// copied (RPC payloads, drive I/O with O_DIRECT, stripe columns). Copying a Buffer copies a
// reference; slice() shares the same memory. The bytes themselves are not synchronized: fill a
// buffer before handing copies to other executors, and treat shared buffers as read-only.
//
// Large blocks (64 KiB to 64 MiB) come from a bounded, thread-safe cache of freed blocks in
// power-of-two size classes: the allocator would otherwise mmap and munmap every payload, and the
// page faults and TLB shootdowns of that cost more than the network copy itself.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "base/units.h"

namespace tessera {

class Buffer {
 public:
  // An empty buffer (size 0, data may be null).
  Buffer() = default;

  // New uninitialized memory of size_bytes, aligned to `alignment` (a power of two). The usable
  // capacity is rounded up to the alignment so that O_DIRECT I/O may fill whole blocks.
  static Buffer allocate(size_t size_bytes, size_t alignment = kBlockSize);
  // New memory holding a copy of `bytes`.
  static Buffer copy_of(std::span<const std::byte> bytes);
  static Buffer copy_of(std::string_view text);

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<std::byte> span() const { return {data_, size_}; }
  std::string_view as_string_view() const { return {reinterpret_cast<const char*>(data_), size_}; }

  // A view of [offset, offset + length) sharing this buffer's memory.
  // REQUIRES: offset + length <= size().
  Buffer slice(size_t offset, size_t length) const;

  // The number of Buffers sharing this memory (for tests and assertions).
  long use_count() const { return storage_.use_count(); }

  // Bytes currently held in the cache of freed large blocks (for tests and metrics).
  static size_t cached_bytes();

 private:
  Buffer(std::shared_ptr<std::byte> storage, std::byte* data, size_t size)
      : storage_(std::move(storage)), data_(data), size_(size) {}

  std::shared_ptr<std::byte> storage_;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tessera
