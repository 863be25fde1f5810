#include "base/buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "base/assert.h"

namespace tessera {

Buffer Buffer::allocate(size_t size_bytes, size_t alignment) {
  TESS_ASSERT(is_power_of_two(alignment), "alignment {} is not a power of two", alignment);
  if (size_bytes == 0) return Buffer();
  size_t capacity = round_up(size_bytes, alignment);
  void* memory = std::aligned_alloc(alignment, capacity);
  if (memory == nullptr) throw std::bad_alloc();  // Out of memory is fatal, as for new.
  auto* bytes = static_cast<std::byte*>(memory);
  return Buffer(std::shared_ptr<std::byte>(bytes, [](std::byte* p) { std::free(p); }), bytes,
                size_bytes);
}

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
