#include "base/buffer.h"

#include <array>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "base/assert.h"

namespace tessera {

namespace {

// Freed blocks of 2^k bytes, 64 KiB <= 2^k <= 64 MiB, kept for reuse up to kMaxCachedBytes.
class LargeBlockCache {
 public:
  static constexpr size_t kMinBlockBytes = 64 * kKiB;
  static constexpr size_t kMaxBlockBytes = 64 * kMiB;
  static constexpr size_t kMaxCachedBytes = 256 * kMiB;
  static constexpr size_t kAlignment = kBlockSize;

  static bool serves(size_t capacity, size_t alignment) {
    return capacity >= kMinBlockBytes && capacity <= kMaxBlockBytes && alignment <= kAlignment;
  }
  static size_t block_bytes(size_t capacity) { return std::bit_ceil(capacity); }

  std::byte* take(size_t block) {
    {
      std::lock_guard lock(mutex_);
      auto& blocks = free_[class_of(block)];
      if (!blocks.empty()) {
        std::byte* p = blocks.back();
        blocks.pop_back();
        cached_bytes_ -= block;
        return p;
      }
    }
    return static_cast<std::byte*>(std::aligned_alloc(kAlignment, block));
  }

  void give_back(std::byte* p, size_t block) {
    {
      std::lock_guard lock(mutex_);
      if (cached_bytes_ + block <= kMaxCachedBytes) {
        free_[class_of(block)].push_back(p);
        cached_bytes_ += block;
        return;
      }
    }
    std::free(p);
  }

  size_t cached_bytes() {
    std::lock_guard lock(mutex_);
    return cached_bytes_;
  }

 private:
  static size_t class_of(size_t block) {
    return std::countr_zero(block) - std::countr_zero(kMinBlockBytes);
  }
  static constexpr size_t kClasses =
      std::countr_zero(kMaxBlockBytes) - std::countr_zero(kMinBlockBytes) + 1;

  std::mutex mutex_;  // Guards free_ and cached_bytes_.
  std::array<std::vector<std::byte*>, kClasses> free_;
  size_t cached_bytes_ = 0;
};

// Never destroyed: buffers may be freed by static destructors after main() returns.
LargeBlockCache& cache() {
  static auto* instance = new LargeBlockCache();
  return *instance;
}

}  // namespace

Buffer Buffer::allocate(size_t size_bytes, size_t alignment) {
  TESS_ASSERT(is_power_of_two(alignment), "alignment {} is not a power of two", alignment);
  if (size_bytes == 0) return Buffer();
  size_t capacity = round_up(size_bytes, alignment);
  if (LargeBlockCache::serves(capacity, alignment)) {
    size_t block = LargeBlockCache::block_bytes(capacity);
    std::byte* bytes = cache().take(block);
    if (bytes == nullptr) throw std::bad_alloc();  // Out of memory is fatal, as for new.
    return Buffer(
        std::shared_ptr<std::byte>(bytes, [block](std::byte* p) { cache().give_back(p, block); }),
        bytes, size_bytes);
  }
  void* memory = std::aligned_alloc(alignment, capacity);
  if (memory == nullptr) throw std::bad_alloc();
  auto* bytes = static_cast<std::byte*>(memory);
  return Buffer(std::shared_ptr<std::byte>(bytes, [](std::byte* p) { std::free(p); }), bytes,
                size_bytes);
}

size_t Buffer::cached_bytes() { return cache().cached_bytes(); }

Buffer Buffer::copy_of(std::span<const std::byte> bytes) {
  Buffer buffer = allocate(bytes.size());
  if (!bytes.empty()) std::memcpy(buffer.data(), bytes.data(), bytes.size());
  return buffer;
}

Buffer Buffer::copy_of(std::string_view text) {
  return copy_of(std::as_bytes(std::span(text.data(), text.size())));
}

Buffer Buffer::slice(size_t offset, size_t length) const {
  TESS_ASSERT(offset <= size_ && length <= size_ - offset,
              "slice [{}, +{}) outside a buffer of {} bytes", offset, length, size_);
  return Buffer(storage_, data_ + offset, length);
}

}  // namespace tessera
