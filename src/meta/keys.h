// The namespace's identifiers and keys in a bucket's state (docs/design/2026-12-05-namespace.md
// 2 and 3). Every key starts with its bucket and kind (bucket/keys.h), then the filesystem id, so a
// filesystem's keys of one kind are one range per bucket.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/strong_id.h"

namespace tessera::meta {

// An inode id: the bucket that holds the inode (top 20 bits), then a sequence in that bucket.
inline constexpr int kInodeSequenceBits = 44;
inline constexpr uint64_t kInodeSequenceMask = (uint64_t{1} << kInodeSequenceBits) - 1;
inline constexpr uint32_t kMaxBucketCount = uint32_t{1} << (64 - kInodeSequenceBits);
// Sequence 1 is a filesystem's root; sequences below kFirstInodeSequence are reserved.
inline constexpr uint64_t kRootInodeSequence = 1;
inline constexpr uint64_t kFirstInodeSequence = 16;

// REQUIRES: bucket < kMaxBucketCount, sequence <= kInodeSequenceMask.
InodeId make_inode_id(BucketId bucket, uint64_t sequence);
inline BucketId bucket_of(InodeId inode) {
  return BucketId(static_cast<uint32_t>(inode.value() >> kInodeSequenceBits));
}
inline uint64_t sequence_of(InodeId inode) { return inode.value() & kInodeSequenceMask; }

// Where a filesystem's root lives: xxh64 of the fs id (seed: "root") mod the bucket count.
// REQUIRES: 0 < bucket_count <= kMaxBucketCount.
BucketId root_bucket(FilesystemId fs, uint32_t bucket_count);
InodeId root_inode(FilesystemId fs, uint32_t bucket_count);

// Where a new directory's inode goes: xxh64 of (fs, parent, name) mod the bucket count, so that
// trees spread over every bucket. REQUIRES: 0 < bucket_count <= kMaxBucketCount.
BucketId directory_bucket(FilesystemId fs, InodeId parent, std::string_view name,
                          uint32_t bucket_count);

// A name's readdir cookie: (xxh64(name) >> 2) + 3, in [kFirstCookie, 2^62 + 3). Cookies 0, 1 and 2
// are the start of a directory, `.` and `..`.
inline constexpr uint64_t kFirstCookie = 3;
uint64_t cookie_of(std::string_view name);

std::string counters_key(BucketId bucket);
// A filesystem's usage counters in `bucket` (docs/design/2026-12-06-filesystem-usage.md), and the
// range holding every filesystem's; usage_fs reads the fs back. REQUIRES: `key` is a usage_key().
std::string usage_key(BucketId bucket, FilesystemId fs);
std::string usages_begin(BucketId bucket);
std::string usages_end(BucketId bucket);
FilesystemId usage_fs(std::string_view key);
std::string inode_key(BucketId bucket, FilesystemId fs, InodeId inode);
// The end of the filesystem's inode keys in `bucket`.
std::string inodes_end(BucketId bucket, FilesystemId fs);
// A directory entry: dir, then the name's cookie, then the name.
std::string entry_key(BucketId bucket, FilesystemId fs, InodeId dir, std::string_view name);
// The first key of `dir`'s entries with a cookie of at least `cookie`, and the end of its entries.
std::string entries_from(BucketId bucket, FilesystemId fs, InodeId dir, uint64_t cookie);
std::string entries_end(BucketId bucket, FilesystemId fs, InodeId dir);
// The cookie and the name of an entry key. REQUIRES: `key` is an entry_key().
uint64_t entry_cookie(std::string_view key);
std::string_view entry_name(std::string_view key);
std::string xattr_key(BucketId bucket, FilesystemId fs, InodeId inode, std::string_view name);
std::string xattrs_begin(BucketId bucket, FilesystemId fs, InodeId inode);
std::string xattrs_end(BucketId bucket, FilesystemId fs, InodeId inode);
// The name of an xattr key. REQUIRES: `key` is an xattr_key().
std::string_view xattr_name(std::string_view key);
std::string orphan_key(BucketId bucket, FilesystemId fs, InodeId inode);

// Cross-bucket transactions (docs/design/2026-12-05-cross-bucket-transactions.md 2). A
// coordinator's intents are keyed by the begin's index, a participant's by (coordinator, index).
std::string coordinator_intent_key(BucketId bucket, uint64_t begin_index);
std::string participant_intent_key(BucketId bucket, BucketId coordinator, uint64_t begin_index);
std::string intents_begin(BucketId bucket);
std::string intents_end(BucketId bucket);
// Locks: on an inode, on one entry of a directory, on every entry of a directory (a prefix of
// the entry locks, for emptiness checks), and the filesystem's rename lock.
std::string inode_lock_key(BucketId bucket, FilesystemId fs, InodeId inode);
std::string entry_lock_key(BucketId bucket, FilesystemId fs, InodeId dir, std::string_view name);
std::string entry_locks_begin(BucketId bucket, FilesystemId fs, InodeId dir);
std::string entry_locks_end(BucketId bucket, FilesystemId fs, InodeId dir);
std::string rename_lock_key(BucketId bucket, FilesystemId fs);

}  // namespace tessera::meta
