#include "bucket/log_format.h"

#include <cstring>
#include <span>

#include "base/crc32c.h"
#include "base/endian.h"

namespace tessera {

namespace {

constexpr char kEntryKind = 'L';
constexpr char kHardStateKind = 'H';
constexpr char kTruncatedKind = 'T';
constexpr char kRecoveringKind = 'A';
constexpr std::string_view kStorePrefix("\xff\xff\xff\xff", 4);
constexpr std::string_view kIdentityName = "identity";
constexpr std::string_view kBootName = "boot";
constexpr std::string_view kCleanName = "clean";

// Entry header offsets (design 3.1).
constexpr size_t kVersionOffset = 0;
constexpr size_t kTypeOffset = 1;
constexpr size_t kFlagsOffset = 2;
constexpr size_t kPayloadBytesOffset = 4;
constexpr size_t kTermOffset = 8;
constexpr size_t kIndexOffset = 16;
constexpr size_t kBucketOffset = 24;
constexpr size_t kCrcOffset = 28;

// Record values (design 3.2): u8 version, 3 zero bytes, CRC32C of the rest, the rest.
constexpr size_t kRecordHeaderBytes = 8;
constexpr size_t kHardStateBodyBytes = 32;
constexpr size_t kTruncatedBodyBytes = 16;
constexpr size_t kRecoveringBodyBytes = 8;
constexpr size_t kIdentityBodyBytes = 36;
constexpr size_t kBootBodyBytes = 24;
constexpr size_t kCleanBodyBytes = 8;

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

std::byte* bytes_of(std::string& s) { return reinterpret_cast<std::byte*>(s.data()); }
const std::byte* bytes_of(std::string_view s) {
  return reinterpret_cast<const std::byte*>(s.data());
}
std::span<const std::byte> span_of(std::string_view s) { return {bytes_of(s), s.size()}; }

void check_bucket(BucketId bucket) {
  TESS_ASSERT(bucket.value() < kBucketIdLimit, "bucket id {} is not below 2^20", bucket);
}

std::string bucket_key(BucketId bucket, char kind) {
  check_bucket(bucket);
  std::string key(5, '\0');
  store_be<uint32_t>(bytes_of(key), bucket.value());
  key[4] = kind;
  return key;
}

std::string store_key(std::string_view name) {
  std::string key(kStorePrefix);
  key.append(name);
  return key;
}

// A record value: the header (version, zero bytes, CRC of `body`) then `body`.
std::string seal_record(const std::string& body) {
  std::string value(kRecordHeaderBytes, '\0');
  value[0] = static_cast<char>(kLogFormatVersion);
  store_le<uint32_t>(bytes_of(value) + 4, crc32c(span_of(body)));
  value.append(body);
  return value;
}

// Checks a record value of `what` and returns its body. kCorruption for a wrong length, an
// unknown version, nonzero reserved bytes or a bad CRC.
Result<std::string_view> open_record(std::string_view value, size_t body_bytes,
                                     std::string_view what) {
  if (value.size() != kRecordHeaderBytes + body_bytes) {
    return error(StatusCode::kCorruption, "{} record is {} bytes, expected {}", what, value.size(),
                 kRecordHeaderBytes + body_bytes);
  }
  if (static_cast<uint8_t>(value[0]) != kLogFormatVersion) {
    return error(StatusCode::kCorruption, "{} record has unknown format version {}", what,
                 static_cast<uint8_t>(value[0]));
  }
  if (value[1] != 0 || value[2] != 0 || value[3] != 0) {
    return error(StatusCode::kCorruption, "{} record has nonzero reserved bytes", what);
  }
  std::string_view body = value.substr(kRecordHeaderBytes);
  uint32_t stored = load_le<uint32_t>(bytes_of(value) + 4);
  uint32_t computed = crc32c(span_of(body));
  if (stored != computed) {
    return error(StatusCode::kCorruption,
                 "{} record has a bad CRC (stored {:08x}, computed {:08x})", what, stored,
                 computed);
  }
  return body;
}

uint32_t entry_crc(std::string_view value) {
  uint32_t crc = crc32c(span_of(value.substr(0, kCrcOffset)));
  return crc32c(span_of(value.substr(kEntryHeaderBytes)), crc);
}

bool known_entry_type(uint8_t type) {
  return type == static_cast<uint8_t>(raft::EntryType::kCommand) ||
         type == static_cast<uint8_t>(raft::EntryType::kConfChange) ||
         type == static_cast<uint8_t>(raft::EntryType::kEmpty);
}

}  // namespace

std::string log_entry_key(BucketId bucket, raft::LogIndex index) {
  std::string key = bucket_key(bucket, kEntryKind);
  key.resize(kEntryKeyBytes);
  store_be<uint64_t>(bytes_of(key) + 5, index.value());
  return key;
}
std::string hard_state_key(BucketId bucket) { return bucket_key(bucket, kHardStateKind); }
std::string truncated_key(BucketId bucket) { return bucket_key(bucket, kTruncatedKind); }
std::string recovering_key(BucketId bucket) { return bucket_key(bucket, kRecoveringKind); }
std::string bucket_prefix(BucketId bucket) {
  check_bucket(bucket);
  std::string key(4, '\0');
  store_be<uint32_t>(bytes_of(key), bucket.value());
  return key;
}
std::string log_entries_end(BucketId bucket) {
  return bucket_key(bucket, static_cast<char>(kEntryKind + 1));
}
std::string identity_key() { return store_key(kIdentityName); }
std::string boot_key() { return store_key(kBootName); }
std::string clean_key() { return store_key(kCleanName); }

Result<RaftKey> decode_raft_key(std::string_view key) {
  if (key.starts_with(kStorePrefix)) {
    std::string_view name = key.substr(kStorePrefix.size());
    if (name == kIdentityName) return RaftKey{.kind = RaftKey::Kind::kIdentity};
    if (name == kBootName) return RaftKey{.kind = RaftKey::Kind::kBoot};
    if (name == kCleanName) return RaftKey{.kind = RaftKey::Kind::kClean};
    return error(StatusCode::kCorruption, "unknown store record key of {} bytes", key.size());
  }
  if (key.size() < 5) {
    return error(StatusCode::kCorruption, "raft key of {} bytes is too short", key.size());
  }
  RaftKey out;
  uint32_t bucket = load_be<uint32_t>(bytes_of(key));
  if (bucket >= kBucketIdLimit) {
    return error(StatusCode::kCorruption, "raft key names bucket {}, not below 2^20", bucket);
  }
  out.bucket = BucketId(bucket);
  char kind = key[4];
  if (kind == kEntryKind) {
    if (key.size() != kEntryKeyBytes) {
      return error(StatusCode::kCorruption, "entry key of bucket {} is {} bytes, expected {}",
                   bucket, key.size(), kEntryKeyBytes);
    }
    out.kind = RaftKey::Kind::kEntry;
    out.index = raft::LogIndex(load_be<uint64_t>(bytes_of(key) + 5));
    return out;
  }
  if (key.size() != 5) {
    return error(StatusCode::kCorruption, "record key of bucket {} is {} bytes, expected 5", bucket,
                 key.size());
  }
  switch (kind) {
    case kHardStateKind:
      out.kind = RaftKey::Kind::kHardState;
      return out;
    case kTruncatedKind:
      out.kind = RaftKey::Kind::kTruncated;
      return out;
    case kRecoveringKind:
      out.kind = RaftKey::Kind::kRecovering;
      return out;
    default:
      return error(StatusCode::kCorruption, "unknown record kind 0x{:02x} in a key of bucket {}",
                   static_cast<uint8_t>(kind), bucket);
  }
}

std::string encode_log_entry(BucketId bucket, const raft::Entry& entry) {
  check_bucket(bucket);
  TESS_ASSERT(entry.payload.size() <= kMaxEntryPayloadBytes, "entry {} payload of {} bytes",
              entry.index, entry.payload.size());
  TESS_ASSERT(known_entry_type(static_cast<uint8_t>(entry.type)), "entry {} of unknown type {}",
              entry.index, static_cast<int>(entry.type));
  TESS_ASSERT(entry.type != raft::EntryType::kEmpty || entry.payload.empty(),
              "empty entry {} with a payload", entry.index);
  TESS_ASSERT(entry.index.value() > 0, "entry index 0");
  std::string value(kEntryHeaderBytes + entry.payload.size(), '\0');
  std::byte* p = bytes_of(value);
  p[kVersionOffset] = std::byte{kLogFormatVersion};
  p[kTypeOffset] = static_cast<std::byte>(entry.type);
  store_le<uint16_t>(p + kFlagsOffset, 0);
  store_le<uint32_t>(p + kPayloadBytesOffset, static_cast<uint32_t>(entry.payload.size()));
  store_le<uint64_t>(p + kTermOffset, entry.term.value());
  store_le<uint64_t>(p + kIndexOffset, entry.index.value());
  store_le<uint32_t>(p + kBucketOffset, bucket.value());
  if (!entry.payload.empty()) {
    std::memcpy(p + kEntryHeaderBytes, entry.payload.data(), entry.payload.size());
  }
  store_le<uint32_t>(p + kCrcOffset, entry_crc(value));
  return value;
}

Result<LogEntryHeader> check_log_entry(std::string_view value) {
  if (value.size() < kEntryHeaderBytes) {
    return error(StatusCode::kCorruption, "log entry of {} bytes is shorter than its header",
                 value.size());
  }
  const std::byte* p = bytes_of(value);
  uint8_t version = static_cast<uint8_t>(p[kVersionOffset]);
  if (version != kLogFormatVersion) {
    return error(StatusCode::kCorruption, "log entry has unknown format version {}", version);
  }
  uint32_t payload_bytes = load_le<uint32_t>(p + kPayloadBytesOffset);
  if (payload_bytes > kMaxEntryPayloadBytes) {
    return error(StatusCode::kCorruption, "log entry declares {} payload bytes, above the {} limit",
                 payload_bytes, kMaxEntryPayloadBytes);
  }
  if (value.size() != kEntryHeaderBytes + payload_bytes) {
    return error(StatusCode::kCorruption,
                 "log entry is {} bytes, its header declares {} (32 + {} payload bytes)",
                 value.size(), kEntryHeaderBytes + payload_bytes, payload_bytes);
  }
  uint32_t stored = load_le<uint32_t>(p + kCrcOffset);
  uint32_t computed = entry_crc(value);
  if (stored != computed) {
    return error(StatusCode::kCorruption,
                 "log entry has a bad CRC (stored {:08x}, computed {:08x})", stored, computed);
  }
  // Checked after the CRC: with a good CRC these are an encoder's bug or a future format.
  uint8_t type = static_cast<uint8_t>(p[kTypeOffset]);
  if (!known_entry_type(type)) {
    return error(StatusCode::kCorruption, "log entry has unknown type {}", type);
  }
  uint16_t flags = load_le<uint16_t>(p + kFlagsOffset);
  if (flags != 0) {
    return error(StatusCode::kCorruption, "log entry has unknown flags 0x{:04x}", flags);
  }
  if (type == static_cast<uint8_t>(raft::EntryType::kEmpty) && payload_bytes != 0) {
    return error(StatusCode::kCorruption, "empty log entry carries {} payload bytes",
                 payload_bytes);
  }
  LogEntryHeader header;
  header.type = static_cast<raft::EntryType>(type);
  header.payload_bytes = payload_bytes;
  header.term = Term(load_le<uint64_t>(p + kTermOffset));
  header.index = raft::LogIndex(load_le<uint64_t>(p + kIndexOffset));
  header.bucket = BucketId(load_le<uint32_t>(p + kBucketOffset));
  if (header.index.value() == 0) {
    return error(StatusCode::kCorruption, "log entry has index 0");
  }
  if (header.bucket.value() >= kBucketIdLimit) {
    return error(StatusCode::kCorruption, "log entry names bucket {}, not below 2^20",
                 header.bucket);
  }
  return header;
}

Result<LogEntryHeader> check_log_entry(std::string_view value, BucketId bucket,
                                       raft::LogIndex index) {
  TESS_ASSIGN_OR_RETURN(LogEntryHeader header, check_log_entry(value));
  if (header.bucket != bucket) {
    return error(StatusCode::kCorruption, "log entry of bucket {} found under bucket {}",
                 header.bucket, bucket);
  }
  if (header.index != index) {
    return error(StatusCode::kCorruption, "log entry {} of bucket {} found at index {}",
                 header.index, bucket, index);
  }
  return header;
}

Result<raft::Entry> decode_log_entry(std::string_view value, BucketId bucket,
                                     raft::LogIndex index) {
  TESS_ASSIGN_OR_RETURN(LogEntryHeader header, check_log_entry(value, bucket, index));
  raft::Entry entry;
  entry.term = header.term;
  entry.index = header.index;
  entry.type = header.type;
  entry.payload.assign(value.substr(kEntryHeaderBytes));
  return entry;
}

std::string encode_hard_state(const raft::HardState& state) {
  std::string body(kHardStateBodyBytes, '\0');
  std::byte* p = bytes_of(body);
  store_le<uint64_t>(p, state.term.value());
  store_le<uint32_t>(p + 8, state.vote.host.value());
  store_le<uint64_t>(p + 16, state.vote.store.value());
  store_le<uint64_t>(p + 24, state.commit.value());
  return seal_record(std::move(body));
}

Result<raft::HardState> decode_hard_state(std::string_view value) {
  TESS_ASSIGN_OR_RETURN(std::string_view body,
                        open_record(value, kHardStateBodyBytes, "hard state"));
  const std::byte* p = bytes_of(body);
  if (load_le<uint32_t>(p + 12) != 0) {
    return error(StatusCode::kCorruption, "hard state record has nonzero padding");
  }
  raft::HardState state;
  state.term = Term(load_le<uint64_t>(p));
  state.vote.host = HostId(load_le<uint32_t>(p + 8));
  state.vote.store = raft::StoreId(load_le<uint64_t>(p + 16));
  state.commit = raft::LogIndex(load_le<uint64_t>(p + 24));
  return state;
}

std::string encode_truncated(raft::EntryId point) {
  std::string body(kTruncatedBodyBytes, '\0');
  store_le<uint64_t>(bytes_of(body), point.index.value());
  store_le<uint64_t>(bytes_of(body) + 8, point.term.value());
  return seal_record(std::move(body));
}

Result<raft::EntryId> decode_truncated(std::string_view value) {
  TESS_ASSIGN_OR_RETURN(std::string_view body,
                        open_record(value, kTruncatedBodyBytes, "truncated"));
  return raft::EntryId{raft::LogIndex(load_le<uint64_t>(bytes_of(body))),
                       Term(load_le<uint64_t>(bytes_of(body) + 8))};
}

std::string encode_recovering(uint64_t start_seq) {
  std::string body(kRecoveringBodyBytes, '\0');
  store_le<uint64_t>(bytes_of(body), start_seq);
  return seal_record(std::move(body));
}

Result<uint64_t> decode_recovering(std::string_view value) {
  TESS_ASSIGN_OR_RETURN(std::string_view body,
                        open_record(value, kRecoveringBodyBytes, "recovering"));
  return load_le<uint64_t>(bytes_of(body));
}

std::string encode_identity(const StoreIdentity& identity) {
  std::string body(kIdentityBodyBytes, '\0');
  std::byte* p = bytes_of(body);
  std::memcpy(p, identity.cluster.data(), 16);
  store_le<uint32_t>(p + 16, identity.host.value());
  store_le<uint64_t>(p + 20, identity.store.value());
  store_le<uint64_t>(p + 28, identity.created_unix_ms);
  return seal_record(std::move(body));
}

Result<StoreIdentity> decode_identity(std::string_view value) {
  TESS_ASSIGN_OR_RETURN(std::string_view body, open_record(value, kIdentityBodyBytes, "identity"));
  const std::byte* p = bytes_of(body);
  StoreIdentity identity;
  std::memcpy(identity.cluster.data(), p, 16);
  identity.host = HostId(load_le<uint32_t>(p + 16));
  identity.store = raft::StoreId(load_le<uint64_t>(p + 20));
  identity.created_unix_ms = load_le<uint64_t>(p + 28);
  return identity;
}

std::string encode_boot(const BootRecord& boot) {
  std::string body(kBootBodyBytes, '\0');
  std::memcpy(body.data(), boot.boot_id.data(), 16);
  store_le<uint64_t>(bytes_of(body) + 16, boot.start_seq);
  return seal_record(std::move(body));
}

Result<BootRecord> decode_boot(std::string_view value) {
  TESS_ASSIGN_OR_RETURN(std::string_view body, open_record(value, kBootBodyBytes, "boot"));
  BootRecord boot;
  std::memcpy(boot.boot_id.data(), body.data(), 16);
  boot.start_seq = load_le<uint64_t>(bytes_of(body) + 16);
  return boot;
}

std::string encode_clean(uint64_t start_seq) {
  std::string body(kCleanBodyBytes, '\0');
  store_le<uint64_t>(bytes_of(body), start_seq);
  return seal_record(std::move(body));
}

Result<uint64_t> decode_clean(std::string_view value) {
  TESS_ASSIGN_OR_RETURN(std::string_view body, open_record(value, kCleanBodyBytes, "clean"));
  return load_le<uint64_t>(bytes_of(body));
}

std::string to_hex(const std::array<uint8_t, 16>& bytes) {
  std::string out;
  out.reserve(32);
  for (uint8_t b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

Result<BootId> parse_boot_id(std::string_view text) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  BootId id{};
  size_t digits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_here) {
      if (c != '-') break;
      continue;
    }
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0 || digits >= 32) {
      digits = 99;
      break;
    }
    id[digits / 2] = static_cast<uint8_t>(id[digits / 2] | (v << (digits % 2 == 0 ? 4 : 0)));
    ++digits;
  }
  if (text.size() != 36 || digits != 32) {
    return error(StatusCode::kInvalidArgument,
                 "boot id \"{}\" is not 32 hex digits in the form 8-4-4-4-12", text.substr(0, 64));
  }
  return id;
}

}  // namespace tessera
