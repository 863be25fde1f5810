#include "meta/keys.h"

#include <xxhash.h>

#include "base/assert.h"
#include "bucket/keys.h"

namespace tessera::meta {
namespace {

using bucket::append_be32;
using bucket::append_be64;
using bucket::KeyKind;

// bucket (4) + kind (1) + fs (4) + inode or dir (8).
constexpr size_t kObjectPrefixBytes = 17;
constexpr size_t kEntryNameAt = kObjectPrefixBytes + 8;  // After the cookie.

std::string object_prefix(BucketId bucket, KeyKind kind, FilesystemId fs, InodeId inode) {
  std::string out = bucket::kind_prefix(bucket, kind);
  append_be32(out, fs.value());
  append_be64(out, inode.value());
  return out;
}

// The first key after every key that starts with `prefix` (none of ours is all 0xff).
std::string prefix_end(std::string prefix) {
  while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xff) prefix.pop_back();
  TESS_ASSERT(!prefix.empty(), "a key prefix of only 0xff bytes");
  prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
  return prefix;
}

}  // namespace

InodeId make_inode_id(BucketId bucket, uint64_t sequence) {
  TESS_ASSERT(bucket.value() < kMaxBucketCount, "bucket {} has no room in an inode id", bucket);
  TESS_ASSERT(sequence <= kInodeSequenceMask, "inode sequence {} overflows", sequence);
  return InodeId((uint64_t{bucket.value()} << kInodeSequenceBits) | sequence);
}

BucketId root_bucket(FilesystemId fs, uint32_t bucket_count) {
  TESS_ASSERT(bucket_count > 0 && bucket_count <= kMaxBucketCount, "bucket count {}", bucket_count);
  static constexpr uint64_t kRootSeed = 0x746f6f72;  // "root"
  uint32_t id = fs.value();
  return BucketId(static_cast<uint32_t>(XXH64(&id, sizeof(id), kRootSeed) % bucket_count));
}

InodeId root_inode(FilesystemId fs, uint32_t bucket_count) {
  return make_inode_id(root_bucket(fs, bucket_count), kRootInodeSequence);
}

BucketId directory_bucket(FilesystemId fs, InodeId parent, std::string_view name,
                          uint32_t bucket_count) {
  TESS_ASSERT(bucket_count > 0 && bucket_count <= kMaxBucketCount, "bucket count {}", bucket_count);
  std::string key;
  bucket::append_be32(key, fs.value());
  bucket::append_be64(key, parent.value());
  key.append(name);
  return BucketId(static_cast<uint32_t>(XXH64(key.data(), key.size(), 0) % bucket_count));
}

uint64_t cookie_of(std::string_view name) {
  return (XXH64(name.data(), name.size(), 0) >> 2) + kFirstCookie;
}

std::string counters_key(BucketId bucket) {
  return bucket::kind_prefix(bucket, KeyKind::kNamespaceCounters);
}

std::string usage_key(BucketId bucket, FilesystemId fs) {
  std::string out = usages_begin(bucket);
  append_be32(out, fs.value());
  return out;
}

std::string usages_begin(BucketId bucket) {
  return bucket::kind_prefix(bucket, KeyKind::kFilesystemUsage);
}

std::string usages_end(BucketId bucket) { return prefix_end(usages_begin(bucket)); }

FilesystemId usage_fs(std::string_view key) {
  constexpr size_t kFsAt = 5;  // bucket (4) + kind (1)
  TESS_ASSERT(key.size() == kFsAt + 4, "not a usage key ({} bytes)", key.size());
  return FilesystemId(bucket::key_u32(key, kFsAt));
}

std::string inode_key(BucketId bucket, FilesystemId fs, InodeId inode) {
  return object_prefix(bucket, KeyKind::kInode, fs, inode);
}

std::string inodes_end(BucketId bucket, FilesystemId fs) {
  std::string out = bucket::kind_prefix(bucket, KeyKind::kInode);
  append_be32(out, fs.value());
  return prefix_end(std::move(out));
}

std::string entry_key(BucketId bucket, FilesystemId fs, InodeId dir, std::string_view name) {
  std::string out = entries_from(bucket, fs, dir, cookie_of(name));
  out.append(name);
  return out;
}

std::string entries_from(BucketId bucket, FilesystemId fs, InodeId dir, uint64_t cookie) {
  std::string out = object_prefix(bucket, KeyKind::kDirEntry, fs, dir);
  append_be64(out, cookie);
  return out;
}

std::string entries_end(BucketId bucket, FilesystemId fs, InodeId dir) {
  return prefix_end(object_prefix(bucket, KeyKind::kDirEntry, fs, dir));
}

uint64_t entry_cookie(std::string_view key) { return bucket::key_u64(key, kObjectPrefixBytes); }

std::string_view entry_name(std::string_view key) {
  TESS_ASSERT(key.size() > kEntryNameAt, "not an entry key");
  return key.substr(kEntryNameAt);
}

std::string xattr_key(BucketId bucket, FilesystemId fs, InodeId inode, std::string_view name) {
  std::string out = xattrs_begin(bucket, fs, inode);
  out.append(name);
  return out;
}

std::string xattrs_begin(BucketId bucket, FilesystemId fs, InodeId inode) {
  return object_prefix(bucket, KeyKind::kXattr, fs, inode);
}

std::string xattrs_end(BucketId bucket, FilesystemId fs, InodeId inode) {
  return prefix_end(xattrs_begin(bucket, fs, inode));
}

std::string_view xattr_name(std::string_view key) {
  TESS_ASSERT(key.size() > kObjectPrefixBytes, "not an xattr key");
  return key.substr(kObjectPrefixBytes);
}

std::string orphan_key(BucketId bucket, FilesystemId fs, InodeId inode) {
  return object_prefix(bucket, KeyKind::kOrphan, fs, inode);
}

std::string coordinator_intent_key(BucketId bucket, uint64_t begin_index) {
  std::string out = intents_begin(bucket);
  out.push_back('C');
  append_be64(out, begin_index);
  return out;
}

std::string participant_intent_key(BucketId bucket, BucketId coordinator, uint64_t begin_index) {
  std::string out = intents_begin(bucket);
  out.push_back('P');
  append_be32(out, coordinator.value());
  append_be64(out, begin_index);
  return out;
}

std::string intents_begin(BucketId bucket) {
  return bucket::kind_prefix(bucket, KeyKind::kTxnIntent);
}

std::string intents_end(BucketId bucket) { return prefix_end(intents_begin(bucket)); }

namespace {

std::string lock_prefix(BucketId bucket, FilesystemId fs, char object) {
  std::string out = bucket::kind_prefix(bucket, KeyKind::kTxnLock);
  append_be32(out, fs.value());
  out.push_back(object);
  return out;
}

}  // namespace

std::string inode_lock_key(BucketId bucket, FilesystemId fs, InodeId inode) {
  std::string out = lock_prefix(bucket, fs, 'I');
  append_be64(out, inode.value());
  return out;
}

std::string entry_lock_key(BucketId bucket, FilesystemId fs, InodeId dir, std::string_view name) {
  std::string out = entry_locks_begin(bucket, fs, dir);
  out.append(name);
  return out;
}

std::string entry_locks_begin(BucketId bucket, FilesystemId fs, InodeId dir) {
  std::string out = lock_prefix(bucket, fs, 'D');
  append_be64(out, dir.value());
  return out;
}

std::string entry_locks_end(BucketId bucket, FilesystemId fs, InodeId dir) {
  return prefix_end(entry_locks_begin(bucket, fs, dir));
}

std::string rename_lock_key(BucketId bucket, FilesystemId fs) {
  return lock_prefix(bucket, fs, 'R');
}

}  // namespace tessera::meta
