// libFuzzer target: every decoder of the log store's formats (bucket/log_format.h) must turn any
// bytes into a value or a kCorruption, never crash, hang or read out of bounds. What decodes must
// be canonical: encoding it again gives back the same bytes (so no two byte strings mean the same
// record, and a decoder cannot accept what no encoder writes).
//
// Input: the whole input is offered to each decoder as a value and as a key. An entry is also
// checked against the bucket and index of a key built from the input's first 12 bytes, so that
// the key/value mismatch paths are explored. With the `fuzz` preset this is a libFuzzer binary;
// in every other build bucket_test drives the same entry point over seeded mutations.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/assert.h"
#include "base/status.h"
#include "bucket/log_format.h"

namespace {

using namespace tessera;  // NOLINT(google-build-using-namespace): a fuzz entry point.

template <typename T, typename Encode>
void check_canonical(const Result<T>& decoded, std::string_view input, Encode encode,
                     const char* what) {
  if (!decoded.ok()) {
    TESS_ASSERT(decoded.status().code() == StatusCode::kCorruption, "{} refused with {}", what,
                decoded.status().to_string());
    return;
  }
  TESS_ASSERT(encode(*decoded) == input, "{} decoded from bytes it would not encode", what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  Result<LogEntryHeader> header = check_log_entry(input);
  if (header.ok()) {
    TESS_ASSERT(header->payload_bytes + kEntryHeaderBytes == input.size(), "length not checked");
    Result<raft::Entry> entry = decode_log_entry(input, header->bucket, header->index);
    TESS_ASSERT(entry.ok(), "header checks but entry does not: {}", entry.status().to_string());
    TESS_ASSERT(encode_log_entry(header->bucket, *entry) == input, "entry is not canonical");
  } else {
    TESS_ASSERT(header.status().code() == StatusCode::kCorruption, "entry refused with {}",
                header.status().to_string());
  }
  if (size >= 12) {
    uint32_t bucket = 0;
    uint64_t index = 0;
    std::memcpy(&bucket, data, 4);
    std::memcpy(&index, data + 4, 8);
    Result<raft::Entry> entry =
        decode_log_entry(input, BucketId(bucket % kBucketIdLimit), raft::LogIndex(index));
    if (entry.ok()) {
      TESS_ASSERT(entry->index.value() == index, "index mismatch accepted");
    } else {
      TESS_ASSERT(entry.status().code() == StatusCode::kCorruption, "entry refused with {}",
                  entry.status().to_string());
    }
  }

  Result<RaftKey> key = decode_raft_key(input);
  if (key.ok()) {
    std::string again;
    switch (key->kind) {
      case RaftKey::Kind::kEntry:
        again = log_entry_key(key->bucket, key->index);
        break;
      case RaftKey::Kind::kHardState:
        again = hard_state_key(key->bucket);
        break;
      case RaftKey::Kind::kTruncated:
        again = truncated_key(key->bucket);
        break;
      case RaftKey::Kind::kRecovering:
        again = recovering_key(key->bucket);
        break;
      case RaftKey::Kind::kIdentity:
        again = identity_key();
        break;
      case RaftKey::Kind::kBoot:
        again = boot_key();
        break;
      case RaftKey::Kind::kClean:
        again = clean_key();
        break;
    }
    TESS_ASSERT(again == input, "key is not canonical");
  } else {
    TESS_ASSERT(key.status().code() == StatusCode::kCorruption, "key refused with {}",
                key.status().to_string());
  }

  check_canonical(
      decode_hard_state(input), input,
      [](const raft::HardState& s) { return encode_hard_state(s); }, "hard state");
  check_canonical(
      decode_truncated(input), input, [](const raft::EntryId& p) { return encode_truncated(p); },
      "truncated");
  check_canonical(
      decode_recovering(input), input, [](uint64_t seq) { return encode_recovering(seq); },
      "recovering");
  check_canonical(
      decode_identity(input), input, [](const StoreIdentity& id) { return encode_identity(id); },
      "identity");
  check_canonical(
      decode_boot(input), input, [](const BootRecord& boot) { return encode_boot(boot); }, "boot");
  check_canonical(
      decode_clean(input), input, [](uint64_t seq) { return encode_clean(seq); }, "clean");
  (void)parse_boot_id(input);
  return 0;
}
