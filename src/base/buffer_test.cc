#include "base/buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace tessera {
namespace {

TEST(BufferTest, AllocateIsAligned) {
  for (size_t size : {size_t{1}, size_t{4096}, size_t{4097}, size_t{1} << 20}) {
    Buffer b = Buffer::allocate(size);
    EXPECT_EQ(b.size(), size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kBlockSize, 0u);
  }
  Buffer small = Buffer::allocate(10, 64);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % 64, 0u);
  EXPECT_TRUE(Buffer::allocate(0).empty());
}

TEST(BufferTest, CopiesShareMemory) {
  Buffer a = Buffer::copy_of(std::string_view("hello world"));
  Buffer b = a;  // NOLINT(performance-unnecessary-copy-initialization): the copy is tested.
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(a.use_count(), 2);
  Buffer world = a.slice(6, 5);
  EXPECT_EQ(world.as_string_view(), "world");
  EXPECT_EQ(a.use_count(), 3);
  std::memcpy(world.data(), "WORLD", 5);
  EXPECT_EQ(b.as_string_view(), "hello WORLD");
}

TEST(BufferTest, SliceOutlivesOriginal) {
  Buffer slice;
  {
    Buffer whole = Buffer::copy_of(std::string_view("abcdef"));
    slice = whole.slice(2, 3);
  }
  EXPECT_EQ(slice.as_string_view(), "cde");
  EXPECT_EQ(slice.use_count(), 1);
}

TEST(BufferDeathTest, SliceOutOfRangeIsABug) {
  Buffer b = Buffer::allocate(8);
  EXPECT_DEATH((void)b.slice(4, 5), "outside a buffer of 8 bytes");
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(BufferTest, LargeBlocksAreReused) {
  std::byte* first = nullptr;
  {
    Buffer a = Buffer::allocate(kMiB);
    first = a.data();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % kBlockSize, 0u);
  }
  size_t cached = Buffer::cached_bytes();
  EXPECT_GE(cached, kMiB);
  Buffer b = Buffer::allocate(kMiB - 100);  // Same size class.
  EXPECT_EQ(b.data(), first);
  EXPECT_EQ(Buffer::cached_bytes(), cached - kMiB);
  Buffer c = Buffer::allocate(3 * kMiB);  // 4 MiB class: fresh memory, fully usable.
  std::memset(c.data(), 1, c.size());
}

}  // namespace
}  // namespace tessera
