// The log store's formats (docs/design/2026-11-25-raft-buckets.md 3.1 and 3.2): the keys and
// values of the `raft` column family. Integers are big-endian in keys (so keys sort by bucket,
// then record kind, then index) and little-endian in values. `b` is the bucket id, u32, < 2^20,
// so no bucket key starts with FF FF FF FF, the prefix of the store's own records.
//
//   b 'L' index(u64)       a log entry: 32-byte header + payload (also the MsgApp wire form)
//   b 'H'                  hard state (term, vote, commit)
//   b 'T'                  truncated: the last entry compacted away
//   b 'A'                  recovering since start_seq (absent: not recovering)
//   FF FF FF FF "identity" cluster uuid, host id, store id, created unix ms
//   FF FF FF FF "boot"     boot id, start_seq
//   FF FF FF FF "clean"    start_seq of the last clean stop
//
// Every value carries a CRC32C. Decoders never throw and never crash on any bytes: damaged,
// truncated or unknown input is kCorruption with a message saying what is wrong (bad CRC, unknown
// version, wrong length, key/value index or bucket mismatch). Encoders assert their REQUIRES.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/strong_id.h"
#include "raft/types.h"

namespace tessera {

// The cluster's uuid (the same representation as drive/superblock.h's ClusterUuid).
using ClusterUuid = std::array<uint8_t, 16>;
// /proc/sys/kernel/random/boot_id as 16 bytes: changes at every kernel start.
using BootId = std::array<uint8_t, 16>;

// Bucket ids are below this (design 3.2), which keeps bucket keys apart from the store records.
inline constexpr uint32_t kBucketIdLimit = uint32_t{1} << 20;
// The largest payload an entry may carry.
inline constexpr uint32_t kMaxEntryPayloadBytes = 1024 * 1024;
inline constexpr size_t kEntryHeaderBytes = 32;
inline constexpr size_t kEntryKeyBytes = 13;
inline constexpr uint8_t kLogFormatVersion = 1;

// ---- Keys -------------------------------------------------------------------------------------

// REQUIRES (all key encoders): bucket.value() < kBucketIdLimit.
std::string log_entry_key(BucketId bucket, raft::LogIndex index);
std::string hard_state_key(BucketId bucket);
std::string truncated_key(BucketId bucket);
std::string recovering_key(BucketId bucket);
// The 4-byte prefix of every key of `bucket`.
std::string bucket_prefix(BucketId bucket);
// An exclusive upper bound of every entry key of `bucket` (`b 'M'`).
std::string log_entries_end(BucketId bucket);
std::string identity_key();
std::string boot_key();
std::string clean_key();

// A decoded key of the raft column family.
struct RaftKey {
  enum class Kind : uint8_t {
    kEntry,
    kHardState,
    kTruncated,
    kRecovering,
    kIdentity,
    kBoot,
    kClean
  };
  Kind kind = Kind::kEntry;
  BucketId bucket;       // Bucket records only.
  raft::LogIndex index;  // kEntry only.
  friend bool operator==(const RaftKey&, const RaftKey&) = default;
};
// kCorruption for a key of no known shape (wrong length, unknown kind byte, bucket id out of
// range, unknown store record).
Result<RaftKey> decode_raft_key(std::string_view key);

// ---- Log entries (3.1) ------------------------------------------------------------------------

// The fields of an entry's header, once its CRC and shape were checked.
struct LogEntryHeader {
  raft::EntryType type = raft::EntryType::kCommand;
  uint32_t payload_bytes = 0;
  Term term;
  raft::LogIndex index;
  BucketId bucket;
};

// The stored (and wire) form of `entry` of `bucket`. REQUIRES: payload <= kMaxEntryPayloadBytes,
// a known type, an empty payload for kEmpty, index > 0, bucket < kBucketIdLimit.
std::string encode_log_entry(BucketId bucket, const raft::Entry& entry);
// Checks a value's length, version, type, flags, payload size and CRC without copying the
// payload. kCorruption naming the first problem.
Result<LogEntryHeader> check_log_entry(std::string_view value);
// check_log_entry, and the header's bucket and index must be those of the key the value was read
// under (or the message it arrived in). kCorruption otherwise.
Result<LogEntryHeader> check_log_entry(std::string_view value, BucketId bucket,
                                       raft::LogIndex index);
// check_log_entry(value, bucket, index), then the entry itself.
Result<raft::Entry> decode_log_entry(std::string_view value, BucketId bucket, raft::LogIndex index);

// ---- Bucket records (3.2) ---------------------------------------------------------------------

std::string encode_hard_state(const raft::HardState& state);
Result<raft::HardState> decode_hard_state(std::string_view value);

// `T`: the last entry compacted away ((0, 0): none).
std::string encode_truncated(raft::EntryId point);
Result<raft::EntryId> decode_truncated(std::string_view value);

// `A`: the start_seq at which the bucket became recovering.
std::string encode_recovering(uint64_t start_seq);
Result<uint64_t> decode_recovering(std::string_view value);

// ---- Store records (3.2) ----------------------------------------------------------------------

struct StoreIdentity {
  ClusterUuid cluster{};
  HostId host;
  raft::StoreId store;
  uint64_t created_unix_ms = 0;
  friend bool operator==(const StoreIdentity&, const StoreIdentity&) = default;
};
std::string encode_identity(const StoreIdentity& identity);
Result<StoreIdentity> decode_identity(std::string_view value);

struct BootRecord {
  BootId boot_id{};
  uint64_t start_seq = 0;
  friend bool operator==(const BootRecord&, const BootRecord&) = default;
};
std::string encode_boot(const BootRecord& boot);
Result<BootRecord> decode_boot(std::string_view value);

// `clean`: the start_seq of the last clean stop.
std::string encode_clean(uint64_t start_seq);
Result<uint64_t> decode_clean(std::string_view value);

// "0123…ef" (32 hex digits), for messages.
std::string to_hex(const std::array<uint8_t, 16>& bytes);
// Parses a boot id as /proc/sys/kernel/random/boot_id prints it ("8-4-4-4-12" hex digits, an
// optional trailing newline). kInvalidArgument otherwise.
Result<BootId> parse_boot_id(std::string_view text);

}  // namespace tessera
