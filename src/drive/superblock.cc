#include "drive/superblock.h"

#include <algorithm>
#include <cstring>

#include "base/buffer.h"
#include "base/crc32c.h"
#include "base/endian.h"

namespace tessera {

namespace {

constexpr char kMagic[8] = {'T', 'E', 'S', 'S', 'D', 'R', 'V', '1'};
constexpr size_t kCrcOffset = kBlockSize - 4;

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

std::string to_string(const ClusterUuid& id) {
  std::string out;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += fmt::format("{:02x}", id[i]);
  }
  return out;
}

Result<ClusterUuid> parse_cluster_uuid(std::string_view text) {
  ClusterUuid id{};
  size_t byte = 0;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_here != (text[i] == '-')) break;
    if (dash_here) continue;
    if (i + 1 >= text.size() || digit(text[i]) < 0 || digit(text[i + 1]) < 0) break;
    id[byte++] = static_cast<uint8_t>(digit(text[i]) * 16 + digit(text[i + 1]));
    ++i;
    if (byte == id.size()) {
      if (i + 1 == text.size()) return id;
      break;
    }
  }
  return error(StatusCode::kInvalidArgument,
               "'{}' is not a cluster id (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", text);
}

SuperblockBlock encode_superblock(const Superblock& superblock) {
  SuperblockBlock block{};
  std::byte* p = block.data();
  std::memcpy(p, kMagic, sizeof(kMagic));
  store_le<uint32_t>(p + 8, superblock.format_version);
  store_le<uint32_t>(p + 12, static_cast<uint32_t>(kBlockSize));
  std::memcpy(p + 16, superblock.cluster_id.data(), superblock.cluster_id.size());
  store_le<uint32_t>(p + 32, superblock.drive_id.value());
  store_le<uint64_t>(p + 40, superblock.capacity_blocks);
  store_le<uint64_t>(p + 48, superblock.data_start_block);
  store_le<uint64_t>(p + 56, superblock.created_unix_ms);
  store_le<uint64_t>(p + 64, superblock.generation);
  store_le<uint32_t>(p + kCrcOffset, crc32c(std::span(p, kCrcOffset)));
  return block;
}

Result<Superblock> decode_superblock(std::span<const std::byte, kBlockSize> block) {
  const std::byte* p = block.data();
  if (all_zero(block)) return Status(StatusCode::kNotFound, "drive is not formatted");
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) {
    return Status(StatusCode::kCorruption, "not a Tessera superblock (bad magic)");
  }
  if (load_le<uint32_t>(p + kCrcOffset) != crc32c(std::span(p, kCrcOffset))) {
    return Status(StatusCode::kCorruption, "superblock checksum mismatch");
  }
  Superblock superblock;
  superblock.format_version = load_le<uint32_t>(p + 8);
  if (superblock.format_version != kDriveFormatVersion) {
    return error(StatusCode::kFailedPrecondition,
                 "drive format version {} is unknown to this build (it reads version {})",
                 superblock.format_version, kDriveFormatVersion);
  }
  if (load_le<uint32_t>(p + 12) != kBlockSize || load_le<uint32_t>(p + 36) != 0) {
    return Status(StatusCode::kCorruption, "superblock has a bad block size or reserved field");
  }
  std::memcpy(superblock.cluster_id.data(), p + 16, superblock.cluster_id.size());
  superblock.drive_id = DriveId(load_le<uint32_t>(p + 32));
  superblock.capacity_blocks = load_le<uint64_t>(p + 40);
  superblock.data_start_block = load_le<uint64_t>(p + 48);
  superblock.created_unix_ms = load_le<uint64_t>(p + 56);
  superblock.generation = load_le<uint64_t>(p + 64);
  return superblock;
}

Task<Result<Superblock>> read_superblock(BlockDevice& device) {
  Buffer blocks = Buffer::allocate(2 * kBlockSize);
  TESS_CO_RETURN_IF_ERROR(co_await device.read(0, blocks.span()));
  Result<Superblock> copies[2] = {
      decode_superblock(std::span<const std::byte, kBlockSize>(blocks.data(), kBlockSize)),
      decode_superblock(
          std::span<const std::byte, kBlockSize>(blocks.data() + kBlockSize, kBlockSize))};
  const Result<Superblock>* best = nullptr;
  for (const auto& copy : copies) {
    if (copy.ok() && (best == nullptr || copy->generation > (*best)->generation)) best = &copy;
  }
  if (best != nullptr) co_return *best;
  // No valid copy: a known-but-unsupported version is the clearest thing to say, then damage.
  for (StatusCode code : {StatusCode::kFailedPrecondition, StatusCode::kCorruption}) {
    for (const auto& copy : copies) {
      if (copy.status().code() == code) co_return copy.status();
    }
  }
  co_return copies[0].status();  // Both all zero: not formatted.
}

Task<Status> write_superblock(BlockDevice& device, const Superblock& superblock) {
  Buffer block = Buffer::allocate(kBlockSize);
  SuperblockBlock encoded = encode_superblock(superblock);
  std::memcpy(block.data(), encoded.data(), kBlockSize);
  for (uint64_t copy = 0; copy < 2; ++copy) {
    TESS_CO_RETURN_IF_ERROR(co_await device.write(copy * kBlockSize, block.span()));
    TESS_CO_RETURN_IF_ERROR(co_await device.flush());
  }
  co_return Status();
}

Task<Result<Superblock>> format_drive(BlockDevice& device, ClusterUuid cluster_id, DriveId drive_id,
                                      uint64_t created_unix_ms, bool force) {
  uint64_t capacity_blocks = device.capacity_bytes() / kBlockSize;
  if (capacity_blocks <= kDataStartBlock) {
    co_return error(StatusCode::kNoSpace, "a drive needs more than {} MiB; this one has {} bytes",
                    kDataStartBlock * kBlockSize / kMiB, device.capacity_bytes());
  }
  auto existing = co_await read_superblock(device);
  uint64_t generation = 1;
  if (existing.ok()) {
    if (!force) {
      co_return error(StatusCode::kFailedPrecondition,
                      "drive already belongs to cluster {} as drive {}; force a reformat to "
                      "erase it",
                      to_string(existing->cluster_id), existing->drive_id);
    }
    generation = existing->generation + 1;
  } else if (existing.status().code() != StatusCode::kNotFound && !force) {
    co_return existing.status().with_context(
        "drive holds something that is not a valid superblock; force a reformat to erase it");
  }
  Superblock superblock{kDriveFormatVersion, cluster_id,      drive_id,  capacity_blocks,
                        kDataStartBlock,     created_unix_ms, generation};
  TESS_CO_RETURN_IF_ERROR(co_await write_superblock(device, superblock));
  co_return superblock;
}

Status check_layout(const Superblock& superblock, uint64_t device_bytes) {
  uint64_t device_blocks = device_bytes / kBlockSize;
  if (superblock.capacity_blocks > device_blocks) {
    return error(StatusCode::kCorruption,
                 "superblock of drive {} claims {} blocks but the device has only {} (was it "
                 "truncated, or copied to a smaller device?)",
                 superblock.drive_id, superblock.capacity_blocks, device_blocks);
  }
  if (superblock.data_start_block < 2 ||
      superblock.data_start_block >= superblock.capacity_blocks) {
    return error(StatusCode::kCorruption,
                 "superblock of drive {} puts the data area at block {} of {}", superblock.drive_id,
                 superblock.data_start_block, superblock.capacity_blocks);
  }
  return Status();
}

Task<Result<Superblock>> open_drive(BlockDevice& device, ClusterUuid cluster_id) {
  TESS_CO_ASSIGN_OR_RETURN(Superblock superblock, co_await read_superblock(device));
  if (superblock.cluster_id != cluster_id) {
    co_return error(StatusCode::kFailedPrecondition,
                    "drive {} belongs to cluster {}, not to this cluster {}", superblock.drive_id,
                    to_string(superblock.cluster_id), to_string(cluster_id));
  }
  TESS_CO_RETURN_IF_ERROR(check_layout(superblock, device.capacity_bytes()));
  co_return superblock;
}

}  // namespace tessera
