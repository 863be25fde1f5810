#include "bucket/log_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <span>
#include <vector>

#include "base/crc32c.h"
#include "base/endian.h"
#include "testing/testing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace tessera {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::LogIndex;

std::span<const std::byte> span_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Recomputes an entry's CRC after a test changed its header, so that the field itself is what
// the decoder must refuse.
void reseal_entry(std::string& value) {
  uint32_t crc = crc32c(span_of(std::string_view(value).substr(0, 28)));
  crc = crc32c(span_of(std::string_view(value).substr(32)), crc);
  store_le<uint32_t>(reinterpret_cast<std::byte*>(value.data()) + 28, crc);
}

void reseal_record(std::string& value) {
  uint32_t crc = crc32c(span_of(std::string_view(value).substr(8)));
  store_le<uint32_t>(reinterpret_cast<std::byte*>(value.data()) + 4, crc);
}

Entry entry(uint64_t term, uint64_t index, std::string payload,
            EntryType type = EntryType::kCommand) {
  return Entry{Term(term), LogIndex(index), type, std::move(payload)};
}

void expect_corruption(const Status& status, std::string_view words) {
  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status;
  EXPECT_NE(status.message().find(words), std::string_view::npos)
      << "\"" << status.message() << "\" does not say \"" << words << "\"";
}

TEST(LogFormatTest, EntryRoundTrips) {
  std::vector<Entry> entries = {
      entry(1, 1, "put a=1"),
      entry(7, 1ull << 40, ""),
      entry(3, 12, "", EntryType::kEmpty),
      entry(UINT64_MAX, UINT64_MAX, std::string(kMaxEntryPayloadBytes, 'x')),
      entry(2, 5, raft::encode_conf_change(raft::ConfChange{}), EntryType::kConfChange),
  };
  for (const Entry& e : entries) {
    std::string value = encode_log_entry(BucketId(kBucketIdLimit - 1), e);
    EXPECT_EQ(value.size(), kEntryHeaderBytes + e.payload.size());
    EXPECT_EQ(value.size(), e.size_bytes());
    auto decoded = decode_log_entry(value, BucketId(kBucketIdLimit - 1), e.index);
    ASSERT_OK(decoded.status());
    EXPECT_EQ(*decoded, e);
  }
}

TEST(LogFormatTest, EntryLayoutIsTheDesignNotes) {
  std::string value = encode_log_entry(BucketId(0x0a0b0c), entry(0x1122, 0x3344, "xyz"));
  ASSERT_EQ(value.size(), 35u);
  const auto* p = reinterpret_cast<const std::byte*>(value.data());
  EXPECT_EQ(value[0], 1);  // Version.
  EXPECT_EQ(value[1], 1);  // Command.
  EXPECT_EQ(load_le<uint16_t>(p + 2), 0);
  EXPECT_EQ(load_le<uint32_t>(p + 4), 3u);
  EXPECT_EQ(load_le<uint64_t>(p + 8), 0x1122u);
  EXPECT_EQ(load_le<uint64_t>(p + 16), 0x3344u);
  EXPECT_EQ(load_le<uint32_t>(p + 24), 0x0a0b0cu);
  uint32_t crc = crc32c(span_of(std::string_view(value).substr(0, 28)));
  EXPECT_EQ(load_le<uint32_t>(p + 28), crc32c(span_of("xyz"), crc));
  EXPECT_EQ(value.substr(32), "xyz");
}

TEST(LogFormatTest, EveryFlippedBitOfAnEntryIsRefused) {
  BucketId bucket(9);
  std::string good = encode_log_entry(bucket, entry(4, 77, "payload bytes"));
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      EXPECT_EQ(decode_log_entry(bad, bucket, LogIndex(77)).status().code(),
                StatusCode::kCorruption)
          << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(LogFormatTest, EntryRefusalsSayWhy) {
  BucketId bucket(9);
  std::string good = encode_log_entry(bucket, entry(4, 77, "payload"));
  ASSERT_OK(check_log_entry(good, bucket, LogIndex(77)).status());

  expect_corruption(check_log_entry("").status(), "shorter than its header");
  expect_corruption(check_log_entry(good.substr(0, 31)).status(), "shorter than its header");
  expect_corruption(check_log_entry(good.substr(0, good.size() - 1)).status(), "header declares");
  expect_corruption(check_log_entry(good + "x").status(), "header declares");

  std::string crc = good;
  crc.back() = static_cast<char>(crc.back() ^ 1);
  expect_corruption(check_log_entry(crc).status(), "bad CRC");

  std::string version = good;
  version[0] = 2;
  reseal_entry(version);
  expect_corruption(check_log_entry(version).status(), "unknown format version 2");

  std::string type = good;
  type[1] = 4;
  reseal_entry(type);
  expect_corruption(check_log_entry(type).status(), "unknown type 4");

  std::string flags = good;
  flags[2] = 1;
  reseal_entry(flags);
  expect_corruption(check_log_entry(flags).status(), "unknown flags");

  std::string empty_with_payload = good;
  empty_with_payload[1] = static_cast<char>(EntryType::kEmpty);
  reseal_entry(empty_with_payload);
  expect_corruption(check_log_entry(empty_with_payload).status(), "empty log entry carries");

  std::string huge = good;
  store_le<uint32_t>(reinterpret_cast<std::byte*>(huge.data()) + 4, kMaxEntryPayloadBytes + 1);
  expect_corruption(check_log_entry(huge).status(), "above the");

  std::string index_zero = good;
  store_le<uint64_t>(reinterpret_cast<std::byte*>(index_zero.data()) + 16, 0);
  reseal_entry(index_zero);
  expect_corruption(check_log_entry(index_zero).status(), "index 0");

  std::string far_bucket = good;
  store_le<uint32_t>(reinterpret_cast<std::byte*>(far_bucket.data()) + 24, kBucketIdLimit);
  reseal_entry(far_bucket);
  expect_corruption(check_log_entry(far_bucket).status(), "not below 2^20");

  expect_corruption(check_log_entry(good, BucketId(10), LogIndex(77)).status(),
                    "of bucket 9 found under bucket 10");
  expect_corruption(check_log_entry(good, bucket, LogIndex(78)).status(),
                    "entry 77 of bucket 9 found at index 78");
  expect_corruption(decode_log_entry(good, bucket, LogIndex(76)).status(), "found at index 76");
}

TEST(LogFormatTest, KeysSortByBucketThenIndex) {
  std::mt19937_64 random(42);
  struct Keyed {
    uint32_t bucket;
    uint64_t index;
    std::string key;
  };
  std::vector<Keyed> keys;
  for (int i = 0; i < 2000; ++i) {
    uint32_t bucket = static_cast<uint32_t>(random() % (i % 2 ? 4 : kBucketIdLimit));
    uint64_t index = 1 + random() % (i % 3 ? 300 : UINT64_MAX - 1);
    keys.push_back({bucket, index, log_entry_key(BucketId(bucket), LogIndex(index))});
  }
  std::sort(keys.begin(), keys.end(), [](const Keyed& a, const Keyed& b) { return a.key < b.key; });
  for (size_t i = 1; i < keys.size(); ++i) {
    EXPECT_LE(std::pair(keys[i - 1].bucket, keys[i - 1].index),
              std::pair(keys[i].bucket, keys[i].index));
  }
  for (uint32_t b : {0u, 1u, 255u, 256u, kBucketIdLimit - 1}) {
    BucketId bucket(b);
    std::string first = log_entry_key(bucket, LogIndex(1));
    std::string last = log_entry_key(bucket, LogIndex(UINT64_MAX));
    EXPECT_EQ(first.size(), kEntryKeyBytes);
    EXPECT_TRUE(first.starts_with(bucket_prefix(bucket)));
    EXPECT_LT(last, log_entries_end(bucket));
    EXPECT_LT(hard_state_key(bucket), first);  // 'A' < 'H' < 'L' < 'M' < 'T'.
    EXPECT_LT(recovering_key(bucket), hard_state_key(bucket));
    EXPECT_LT(log_entries_end(bucket), truncated_key(bucket));
    if (b + 1 < kBucketIdLimit) {
      EXPECT_LT(truncated_key(bucket), bucket_prefix(BucketId(b + 1)));
    }
    // The store's records sort after every bucket's.
    EXPECT_LT(truncated_key(bucket), identity_key());
  }
}

TEST(LogFormatTest, KeysDecode) {
  auto key = decode_raft_key(log_entry_key(BucketId(5), LogIndex(300)));
  ASSERT_OK(key.status());
  EXPECT_EQ(*key, (RaftKey{RaftKey::Kind::kEntry, BucketId(5), LogIndex(300)}));
  EXPECT_EQ(decode_raft_key(hard_state_key(BucketId(6)))->kind, RaftKey::Kind::kHardState);
  EXPECT_EQ(decode_raft_key(truncated_key(BucketId(6)))->kind, RaftKey::Kind::kTruncated);
  EXPECT_EQ(decode_raft_key(recovering_key(BucketId(6)))->bucket, BucketId(6));
  EXPECT_EQ(decode_raft_key(identity_key())->kind, RaftKey::Kind::kIdentity);
  EXPECT_EQ(decode_raft_key(boot_key())->kind, RaftKey::Kind::kBoot);
  EXPECT_EQ(decode_raft_key(clean_key())->kind, RaftKey::Kind::kClean);

  expect_corruption(decode_raft_key("abc").status(), "too short");
  expect_corruption(decode_raft_key(log_entry_key(BucketId(5), LogIndex(1)) + "x").status(),
                    "expected 13");
  expect_corruption(decode_raft_key(hard_state_key(BucketId(5)) + "x").status(), "expected 5");
  std::string kind = hard_state_key(BucketId(5));
  kind[4] = 'Z';
  expect_corruption(decode_raft_key(kind).status(), "unknown record kind 0x5a");
  expect_corruption(decode_raft_key(std::string("\x00\x10\x00\x00H", 5)).status(),
                    "not below 2^20");
  expect_corruption(decode_raft_key(std::string("\xff\xff\xff\xffidentity2")).status(),
                    "unknown store record");
}

TEST(LogFormatTest, RecordsRoundTrip) {
  raft::HardState hs{Term(9), raft::ReplicaId{HostId(3), raft::StoreId(0xfeedface12345678)},
                     LogIndex(1234)};
  std::string value = encode_hard_state(hs);
  EXPECT_EQ(value.size(), 40u);
  EXPECT_EQ(*decode_hard_state(value), hs);

  raft::EntryId point{LogIndex(1000), Term(4)};
  EXPECT_EQ(encode_truncated(point).size(), 24u);
  EXPECT_EQ(*decode_truncated(encode_truncated(point)), point);
  EXPECT_EQ(*decode_truncated(encode_truncated(raft::EntryId{})), raft::EntryId{});

  EXPECT_EQ(*decode_recovering(encode_recovering(17)), 17u);
  EXPECT_EQ(*decode_clean(encode_clean(18)), 18u);

  StoreIdentity identity{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                         HostId(77),
                         raft::StoreId(0x0123456789abcdef),
                         1'764'000'000'000};
  EXPECT_EQ(encode_identity(identity).size(), 44u);
  EXPECT_EQ(*decode_identity(encode_identity(identity)), identity);

  BootRecord boot{{0xde, 0xad, 0xbe, 0xef}, 41};
  EXPECT_EQ(encode_boot(boot).size(), 32u);
  EXPECT_EQ(*decode_boot(encode_boot(boot)), boot);
}

TEST(LogFormatTest, EveryRecordCorruptionIsRefused) {
  std::vector<std::pair<std::string, std::function<Status(std::string_view)>>> records = {
      {encode_hard_state(raft::HardState{Term(2), {}, LogIndex(3)}),
       [](std::string_view v) { return decode_hard_state(v).status(); }},
      {encode_truncated(raft::EntryId{LogIndex(3), Term(2)}),
       [](std::string_view v) { return decode_truncated(v).status(); }},
      {encode_recovering(5), [](std::string_view v) { return decode_recovering(v).status(); }},
      {encode_identity(StoreIdentity{}),
       [](std::string_view v) { return decode_identity(v).status(); }},
      {encode_boot(BootRecord{}), [](std::string_view v) { return decode_boot(v).status(); }},
      {encode_clean(5), [](std::string_view v) { return decode_clean(v).status(); }},
  };
  for (const auto& [good, decode] : records) {
    SCOPED_TRACE(good.size());
    ASSERT_OK(decode(good));
    for (size_t byte = 0; byte < good.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string bad = good;
        bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
        EXPECT_EQ(decode(bad).code(), StatusCode::kCorruption) << byte << "." << bit;
      }
    }
    expect_corruption(decode(good.substr(0, good.size() - 1)), "expected");
    expect_corruption(decode(good + '\0'), "expected");
    expect_corruption(decode(""), "expected");
    std::string version = good;
    version[0] = 2;
    expect_corruption(decode(version), "unknown format version 2");
    std::string reserved = good;
    reserved[2] = 1;
    expect_corruption(decode(reserved), "nonzero reserved");
    std::string crc = good;
    crc.back() = static_cast<char>(crc.back() ^ 0x80);
    expect_corruption(decode(crc), "bad CRC");
  }
  // The hard state's padding must be zero even under a good CRC.
  std::string padded = encode_hard_state(raft::HardState{});
  padded[8 + 12] = 1;
  reseal_record(padded);
  expect_corruption(decode_hard_state(padded).status(), "nonzero padding");
}

TEST(LogFormatTest, ParsesBootIds) {
  auto id = parse_boot_id("0f2e4c1a-9b3d-4e5f-8a7b-6c5d4e3f2a1b\n");
  ASSERT_OK(id.status());
  EXPECT_EQ(to_hex(*id), "0f2e4c1a9b3d4e5f8a7b6c5d4e3f2a1b");
  EXPECT_OK(parse_boot_id("0F2E4C1A-9B3D-4E5F-8A7B-6C5D4E3F2A1B").status());
  for (std::string_view bad :
       {"", "0f2e4c1a9b3d4e5f8a7b6c5d4e3f2a1b", "0f2e4c1a-9b3d-4e5f-8a7b-6c5d4e3f2a1", "x",
        "0f2e4c1a-9b3d-4e5f-8a7b-6c5d4e3f2a1g", "0f2e4c1a-9b3d-4e5f-8a7b-6c5d4e3f2a1b0",
        "0f2e4c1a_9b3d-4e5f-8a7b-6c5d4e3f2a1b"}) {
    EXPECT_EQ(parse_boot_id(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// The fuzz target's entry point over mutations of valid encodings: every decoder either refuses
// with kCorruption or returns something that encodes back to the same bytes (asserted inside).
TEST(LogFormatTest, FuzzEntryPointSurvivesMutations) {
  std::vector<std::string> seeds = {
      encode_log_entry(BucketId(3), entry(2, 9, "seed")),
      encode_log_entry(BucketId(0), entry(1, 1, "", EntryType::kEmpty)),
      encode_hard_state(raft::HardState{Term(2), {}, LogIndex(3)}),
      encode_truncated(raft::EntryId{LogIndex(3), Term(2)}),
      encode_recovering(5),
      encode_identity(StoreIdentity{}),
      encode_boot(BootRecord{}),
      encode_clean(5),
      log_entry_key(BucketId(3), LogIndex(9)),
      hard_state_key(BucketId(3)),
      identity_key(),
      "0f2e4c1a-9b3d-4e5f-8a7b-6c5d4e3f2a1b",
  };
  uint64_t seed = 20261125;
  std::mt19937_64 random(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int round = 0; round < 20000; ++round) {
    std::string input = seeds[random() % seeds.size()];
    int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (random() % 4) {
        case 0:
          if (!input.empty()) input[random() % input.size()] = static_cast<char>(random());
          break;
        case 1:
          input.resize(random() % (input.size() + 8));
          break;
        case 2:
          input.insert(input.begin() + static_cast<ptrdiff_t>(random() % (input.size() + 1)),
                       static_cast<char>(random()));
          break;
        default:
          // A valid value with a header edited and resealed explores the checks behind the CRC.
          if (input.size() >= 32 && input[0] == 1) {
            input[random() % 28] = static_cast<char>(random());
            reseal_entry(input);
          }
          break;
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  for (const std::string& s : seeds) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
}

}  // namespace
}  // namespace tessera
