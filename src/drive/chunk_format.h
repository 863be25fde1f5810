// The on-drive and in-index formats of a chunk: its id, the header blocks that start its extent on
// disk, and the index record. docs/design/2026-11-24-chunk-store-v1.md gives the byte layouts.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/buffer.h"
#include "base/status.h"
#include "base/strong_id.h"
#include "base/units.h"

namespace tessera {

// One stripe column on one drive. The generation grows when a column is rewritten (rebuild,
// move), so an old id never names new bytes.
struct ChunkId {
  BucketId bucket;
  StripeId stripe;
  uint16_t column = 0;
  uint32_t generation = 0;

  auto operator<=>(const ChunkId&) const = default;
};

// "b<bucket>/s<stripe>/c<column>/g<generation>", as errors and logs name chunks.
std::string to_string(const ChunkId& id);

// The largest chunk: one column of the largest stripe geometry (1024 blocks, 4 MiB).
inline constexpr uint32_t kMaxChunkBlocks = 1024;

// Index keys sort by (bucket, stripe, column, generation), so the chunks of one bucket are one
// key range. 18 bytes, big-endian.
inline constexpr size_t kChunkKeyBytes = 18;
std::string encode_chunk_key(const ChunkId& id);
std::string bucket_key_prefix(BucketId bucket);
std::optional<ChunkId> decode_chunk_key(std::string_view key);

// Where a chunk lives: its header blocks followed by its data blocks.
struct Extent {
  uint64_t first_block = 0;  // Absolute block number on the drive.
  uint64_t block_count = 0;  // Header and data blocks.
  uint64_t end_block() const { return first_block + block_count; }
};

// Header blocks needed for a chunk of `data_blocks` blocks (its per-block CRCs must fit).
uint32_t header_blocks(uint32_t data_blocks);

// What the index and memory know of a chunk. `commit_seq` orders index commits; a chunk committed
// after the last durable commit is verified at open (docs/architecture.md 5.2).
struct ChunkRecord {
  ChunkId id;
  Extent extent;
  uint64_t commit_seq = 0;
  std::vector<uint32_t> block_crcs;  // One per data block.

  uint32_t data_blocks() const { return static_cast<uint32_t>(block_crcs.size()); }
  uint64_t data_start_block() const { return extent.first_block + header_blocks(data_blocks()); }
};

std::string encode_index_value(const ChunkRecord& record);
// kCorruption if the value is malformed.
Result<ChunkRecord> decode_index_value(const ChunkId& id, std::string_view value);

// The header blocks of a chunk, so that a drive can be scrubbed (and its index rebuilt) from the
// disk alone. REQUIRES: record.block_crcs.size() in 1..kMaxChunkBlocks.
Buffer encode_chunk_header(const ChunkRecord& record);
// Decodes and checks a header read from disk: kCorruption if magic, CRC or size do not match.
// The returned record's extent.first_block is `first_block`.
Result<ChunkRecord> decode_chunk_header(std::span<const std::byte> header, uint64_t first_block);

}  // namespace tessera
