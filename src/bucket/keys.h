// The state-machine keys of a bucket in the default column family (design 7): every key starts
// with the bucket id, big-endian, so a bucket's keys are one contiguous range (its snapshot), and
// then a one-byte kind. Integers in keys are big-endian so that they sort.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/strong_id.h"

namespace tessera::bucket {

enum class KeyKind : char {
  kBucketState = 'B',
  kUserKey = 'K',  // 'K' key: this key-value data.
  kSession = 'Y',  // 'Y' session: SessionRecord.
  kResult = 'X',   // 'X' session request: the stored BucketResult.
  // The namespace's kinds (src/meta/keys.h, docs/design/2026-12-05-namespace.md 3).
  kNamespaceCounters = 'C',
  kInode = 'I',
  kDirEntry = 'D',
  kXattr = 'A',
  kOrphan = 'O',
  kOpenHandle = 'H',
  kTxnIntent = 'T',
  kTxnLock = 'L',
  kFilesystemUsage = 'U',
};

// Every key of `bucket` is in [bucket_begin(bucket), bucket_end(bucket)).
std::string bucket_begin(BucketId bucket);
std::string bucket_end(BucketId bucket);

std::string kind_prefix(BucketId bucket, KeyKind kind);
std::string user_key(BucketId bucket, std::string_view key);
std::string session_key(BucketId bucket, uint64_t session);
std::string result_key(BucketId bucket, uint64_t session, uint64_t request);
std::string bucket_state_key(BucketId bucket);

// Big-endian integers appended to a key (so that keys sort numerically).
void append_be32(std::string& out, uint32_t v);
void append_be64(std::string& out, uint64_t v);

// The user key inside a 'K' key. REQUIRES: `full` starts with kind_prefix(bucket, kUserKey).
std::string_view user_key_of(std::string_view full);
// Big-endian integers at `at` of `key`; 0 if the key is too short.
uint64_t key_u64(std::string_view key, size_t at);
uint32_t key_u32(std::string_view key, size_t at);

}  // namespace tessera::bucket
