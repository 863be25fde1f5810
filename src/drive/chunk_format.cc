#include "drive/chunk_format.h"

#include <cstring>

#include "base/crc32c.h"
#include "base/endian.h"

namespace tessera {

namespace {

constexpr char kHeaderMagic[8] = {'T', 'E', 'S', 'S', 'C', 'H', 'K', '1'};
constexpr uint32_t kHeaderVersion = 1;
constexpr size_t kHeaderFixedBytes = 64;
constexpr size_t kHeaderCrcOffset = 60;
constexpr size_t kIndexFixedBytes = 28;

template <typename T>
void store_be(std::byte* out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[sizeof(T) - 1 - i] = static_cast<std::byte>(value & 0xff);
    value = static_cast<T>(value >> 8);
  }
}

template <typename T>
T load_be(const std::byte* in) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value = static_cast<T>((value << 8) | uint8_t(in[i]));
  return value;
}

// The header's CRC covers every header byte except the CRC field itself.
uint32_t header_crc(std::span<const std::byte> header) {
  uint32_t crc = crc32c(header.first(kHeaderCrcOffset));
  return crc32c(header.subspan(kHeaderFixedBytes), crc);
}

}  // namespace

std::string to_string(const ChunkId& id) {
  return fmt::format("b{}/s{}/c{}/g{}", id.bucket, id.stripe, id.column, id.generation);
}

std::string encode_chunk_key(const ChunkId& id) {
  std::string key(kChunkKeyBytes, '\0');
  auto* p = reinterpret_cast<std::byte*>(key.data());
  store_be<uint32_t>(p, id.bucket.value());
  store_be<uint64_t>(p + 4, id.stripe.value());
  store_be<uint16_t>(p + 12, id.column);
  store_be<uint32_t>(p + 14, id.generation);
  return key;
}

std::string bucket_key_prefix(BucketId bucket) {
  std::string prefix(4, '\0');
  store_be<uint32_t>(reinterpret_cast<std::byte*>(prefix.data()), bucket.value());
  return prefix;
}

std::optional<ChunkId> decode_chunk_key(std::string_view key) {
  if (key.size() != kChunkKeyBytes) return std::nullopt;
  const auto* p = reinterpret_cast<const std::byte*>(key.data());
  return ChunkId{BucketId(load_be<uint32_t>(p)), StripeId(load_be<uint64_t>(p + 4)),
                 load_be<uint16_t>(p + 12), load_be<uint32_t>(p + 14)};
}

uint32_t header_blocks(uint32_t data_blocks) {
  return static_cast<uint32_t>(round_up(kHeaderFixedBytes + 4ULL * data_blocks, kBlockSize) /
                               kBlockSize);
}

std::string encode_index_value(const ChunkRecord& record) {
  std::string value(kIndexFixedBytes + 4 * record.block_crcs.size(), '\0');
  auto* p = reinterpret_cast<std::byte*>(value.data());
  store_le<uint64_t>(p, record.extent.first_block);
  store_le<uint64_t>(p + 8, record.extent.block_count);
  store_le<uint64_t>(p + 16, record.commit_seq);
  store_le<uint32_t>(p + 24, record.data_blocks());
  for (size_t i = 0; i < record.block_crcs.size(); ++i) {
    store_le<uint32_t>(p + kIndexFixedBytes + 4 * i, record.block_crcs[i]);
  }
  return value;
}

Result<ChunkRecord> decode_index_value(const ChunkId& id, std::string_view value) {
  const auto* p = reinterpret_cast<const std::byte*>(value.data());
  if (value.size() < kIndexFixedBytes) {
    return error(StatusCode::kCorruption, "index entry of {} is {} bytes", to_string(id),
                 value.size());
  }
  ChunkRecord record{
      id, Extent{load_le<uint64_t>(p), load_le<uint64_t>(p + 8)}, load_le<uint64_t>(p + 16), {}};
  uint32_t data_blocks = load_le<uint32_t>(p + 24);
  if (data_blocks == 0 || data_blocks > kMaxChunkBlocks ||
      value.size() != kIndexFixedBytes + 4ULL * data_blocks ||
      record.extent.block_count != data_blocks + header_blocks(data_blocks)) {
    return error(StatusCode::kCorruption, "index entry of {} is malformed", to_string(id));
  }
  record.block_crcs.resize(data_blocks);
  for (uint32_t i = 0; i < data_blocks; ++i) {
    record.block_crcs[i] = load_le<uint32_t>(p + kIndexFixedBytes + 4 * size_t{i});
  }
  return record;
}

Buffer encode_chunk_header(const ChunkRecord& record) {
  uint32_t data_blocks = record.data_blocks();
  TESS_ASSERT(data_blocks >= 1 && data_blocks <= kMaxChunkBlocks, "chunk of {} blocks",
              data_blocks);
  Buffer header = Buffer::allocate(header_blocks(data_blocks) * kBlockSize);
  std::memset(header.data(), 0, header.size());
  std::byte* p = header.data();
  std::memcpy(p, kHeaderMagic, sizeof(kHeaderMagic));
  store_le<uint32_t>(p + 8, kHeaderVersion);
  store_le<uint32_t>(p + 12, data_blocks);
  store_le<uint32_t>(p + 16, record.id.bucket.value());
  store_le<uint16_t>(p + 20, record.id.column);
  store_le<uint32_t>(p + 24, record.id.generation);
  store_le<uint64_t>(p + 32, record.id.stripe.value());
  for (uint32_t i = 0; i < data_blocks; ++i) {
    store_le<uint32_t>(p + kHeaderFixedBytes + 4 * size_t{i}, record.block_crcs[i]);
  }
  store_le<uint32_t>(p + kHeaderCrcOffset, header_crc(header.span()));
  return header;
}

Result<ChunkRecord> decode_chunk_header(std::span<const std::byte> header, uint64_t first_block) {
  if (header.size() < kBlockSize || std::memcmp(header.data(), kHeaderMagic, 8) != 0) {
    return error(StatusCode::kCorruption, "no chunk header at block {}", first_block);
  }
  const std::byte* p = header.data();
  uint32_t version = load_le<uint32_t>(p + 8);
  uint32_t data_blocks = load_le<uint32_t>(p + 12);
  if (version != kHeaderVersion || data_blocks == 0 || data_blocks > kMaxChunkBlocks ||
      header.size() < header_blocks(data_blocks) * kBlockSize) {
    return error(StatusCode::kCorruption, "malformed chunk header at block {}", first_block);
  }
  header = header.first(header_blocks(data_blocks) * kBlockSize);
  if (load_le<uint32_t>(p + kHeaderCrcOffset) != header_crc(header)) {
    return error(StatusCode::kCorruption, "chunk header at block {}: checksum mismatch",
                 first_block);
  }
  ChunkRecord record;
  record.id = ChunkId{BucketId(load_le<uint32_t>(p + 16)), StripeId(load_le<uint64_t>(p + 32)),
                      load_le<uint16_t>(p + 20), load_le<uint32_t>(p + 24)};
  record.block_crcs.resize(data_blocks);
  for (uint32_t i = 0; i < data_blocks; ++i) {
    record.block_crcs[i] = load_le<uint32_t>(p + kHeaderFixedBytes + 4 * size_t{i});
  }
  record.extent = Extent{first_block, header_blocks(data_blocks) + uint64_t{data_blocks}};
  return record;
}

}  // namespace tessera
