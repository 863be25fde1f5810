#include "base/crc32c.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace tessera {
namespace {

std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Bit-at-a-time reference implementation of CRC32C (reflected polynomial 0x82F63B78).
uint32_t reference_crc32c(std::span<const std::byte> data) {
  uint32_t crc = 0xFFFFFFFF;
  for (std::byte b : data) {
    crc ^= static_cast<uint8_t>(b);
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ (0x82F63B78 & (0 - (crc & 1)));
  }
  return ~crc;
}

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(crc32c(bytes_of("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c(bytes_of("")), 0u);
  std::vector<std::byte> zeros(32, std::byte{0});
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);  // RFC 3720, B.4
}

TEST(Crc32cTest, MatchesReferenceAndChains) {
  std::vector<std::byte> data(10000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::byte(i * 131 + 7);
  std::span<const std::byte> all(data);
  for (size_t len : {1u, 7u, 64u, 4096u, 9999u}) {
    EXPECT_EQ(crc32c(all.first(len)), reference_crc32c(all.first(len))) << len;
  }
  uint32_t whole = crc32c(all);
  uint32_t pieces = crc32c(all.subspan(3000), crc32c(all.first(3000)));
  EXPECT_EQ(whole, pieces);
}

}  // namespace
}  // namespace tessera
