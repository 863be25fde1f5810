#include "bucket/keys.h"

namespace tessera::bucket {

void append_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void append_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

std::string bucket_begin(BucketId bucket) {
  std::string out;
  append_be32(out, bucket.value());
  return out;
}

std::string bucket_end(BucketId bucket) {
  // Bucket ids are below 2^20, so bucket + 1 never wraps.
  return bucket_begin(BucketId(bucket.value() + 1));
}

std::string kind_prefix(BucketId bucket, KeyKind kind) {
  std::string out = bucket_begin(bucket);
  out.push_back(static_cast<char>(kind));
  return out;
}

std::string user_key(BucketId bucket, std::string_view key) {
  std::string out = kind_prefix(bucket, KeyKind::kUserKey);
  out.append(key);
  return out;
}

std::string session_key(BucketId bucket, uint64_t session) {
  std::string out = kind_prefix(bucket, KeyKind::kSession);
  append_be64(out, session);
  return out;
}

std::string result_key(BucketId bucket, uint64_t session, uint64_t request) {
  std::string out = kind_prefix(bucket, KeyKind::kResult);
  append_be64(out, session);
  append_be64(out, request);
  return out;
}

std::string bucket_state_key(BucketId bucket) { return kind_prefix(bucket, KeyKind::kBucketState); }

std::string_view user_key_of(std::string_view full) { return full.substr(5); }

namespace {

uint64_t key_be(std::string_view key, size_t at, size_t bytes) {
  if (key.size() < at + bytes) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(key[at + i]);
  return v;
}

}  // namespace

uint64_t key_u64(std::string_view key, size_t at) { return key_be(key, at, 8); }

uint32_t key_u32(std::string_view key, size_t at) {
  return static_cast<uint32_t>(key_be(key, at, 4));
}

}  // namespace tessera::bucket
