// The drive superblock: who a drive belongs to and how it is laid out. Two copies, in blocks 0 and
// 1; docs/design/2026-11-24-drive-superblock-v1.md gives the format and the rules.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "base/status.h"
#include "base/strong_id.h"
#include "base/units.h"
#include "drive/block_device.h"

namespace tessera {

inline constexpr uint32_t kDriveFormatVersion = 1;
// The data area starts after 64 MiB kept for superblocks and future formats.
inline constexpr uint64_t kDataStartBlock = 64 * kMiB / kBlockSize;

using ClusterUuid = std::array<uint8_t, 16>;
// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
std::string to_string(const ClusterUuid& id);
// Parses that form (hex digits in either case). kInvalidArgument naming the text if malformed.
Result<ClusterUuid> parse_cluster_uuid(std::string_view text);

struct Superblock {
  uint32_t format_version = kDriveFormatVersion;
  ClusterUuid cluster_id{};
  DriveId drive_id;
  uint64_t capacity_blocks = 0;
  uint64_t data_start_block = kDataStartBlock;
  uint64_t created_unix_ms = 0;
  uint64_t generation = 0;

  friend bool operator==(const Superblock&, const Superblock&) = default;
};

using SuperblockBlock = std::array<std::byte, kBlockSize>;

SuperblockBlock encode_superblock(const Superblock& superblock);
// kNotFound if the block is all zero (never written); kCorruption if magic or CRC do not match;
// kFailedPrecondition for a format version this build does not know.
Result<Superblock> decode_superblock(std::span<const std::byte, kBlockSize> block);

// Reads both copies and returns the valid one with the highest generation. Errors: kNotFound (not
// formatted), kCorruption (no valid copy), kFailedPrecondition (unknown format version), or the
// device's own error.
Task<Result<Superblock>> read_superblock(BlockDevice& device);
// Writes `superblock` to copy 0, flushes, then to copy 1, flushes: a crash tears at most one copy.
Task<Status> write_superblock(BlockDevice& device, const Superblock& superblock);

// Formats `device` for `cluster_id` as `drive_id`. A drive that already holds a valid superblock
// is refused with kFailedPrecondition (naming its cluster and drive) unless `force`.
// kNoSpace if the device is too small for a data area.
Task<Result<Superblock>> format_drive(BlockDevice& device, ClusterUuid cluster_id, DriveId drive_id,
                                      uint64_t created_unix_ms, bool force);
// kCorruption if `superblock` does not fit a device of `device_bytes`: more blocks than the
// device has (a truncated file, a copy to a smaller device), or a data area outside them.
Status check_layout(const Superblock& superblock, uint64_t device_bytes);
// Reads the superblock and checks that the drive belongs to `cluster_id` (kFailedPrecondition
// naming both clusters if not) and fits the device (check_layout).
Task<Result<Superblock>> open_drive(BlockDevice& device, ClusterUuid cluster_id);

}  // namespace tessera
