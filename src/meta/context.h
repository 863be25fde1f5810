// What one namespace operation works with (docs/design/2026-12-05-namespace.md 5): its bucket's
// state, the filesystem, the caller, and the command's time; and the helpers every operation
// shares to read and write inodes, entries and counters, and to answer a refusal.
//
// Refusals (EEXIST, ENOENT, EACCES, ...) are answers: a successful Result whose MetaResult carries
// errno_value. A failed Result is a storage failure and stops the replica (command_handler.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/assert.h"
#include "base/status.h"
#include "base/strong_id.h"
#include "bucket/state_store.h"
#include "proto/meta.pb.h"

namespace tessera::meta {

struct OpContext {
  bucket::StateStore& store;
  BucketId bucket;
  FilesystemId fs;
  const proto::Caller& caller;
  int64_t now_ns = 0;  // Mutations: the command's log time. Reads: unused.
  uint64_t index = 0;  // Mutations: the command's log index. Reads: unused.
};

proto::MetaResult refuse(int errno_value, std::string message);
// The operation needs a bucket other than this one (design 6): EXDEV with cross_bucket set.
proto::MetaResult cross_bucket(std::string message);

// A value, or the refusal an operation answers instead.
template <typename T>
class Checked {
 public:
  Checked(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Checked(proto::MetaResult refusal)              // NOLINT(google-explicit-constructor)
      : state_(std::move(refusal)) {
    TESS_ASSERT(std::get<proto::MetaResult>(state_).errno_value() != 0, "a refusal without errno");
  }
  bool ok() const { return std::holds_alternative<T>(state_); }
  T& operator*() { return std::get<T>(state_); }
  T* operator->() { return &std::get<T>(state_); }
  const proto::MetaResult& refusal() const { return std::get<proto::MetaResult>(state_); }

 private:
  std::variant<T, proto::MetaResult> state_;
};

bool is_local(const OpContext& context, InodeId inode);

// Locks of cross-bucket transactions (docs/design/2026-12-05-cross-bucket-transactions.md 4).
// The transaction that holds `lock_key`, if any.
Result<std::optional<proto::TxnId>> lock_holder(const OpContext& context,
                                                const std::string& lock_key);
// The answer for a key a transaction holds: EAGAIN with `locked`; the client retries shortly.
proto::MetaResult locked(std::string what);
// The entry `name` of `dir` (nullopt: none), or locked() while a transaction holds it.
Result<Checked<std::optional<proto::DirEntry>>> unlocked_entry(const OpContext& context,
                                                               InodeId dir, std::string_view name);
// Whether a transaction holds any entry of `dir` (a pending create, rename or removal in it).
Result<bool> has_locked_entries(const OpContext& context, InodeId dir);

Result<std::optional<proto::Inode>> load_inode(const OpContext& context, InodeId inode);
// Stores an inode that exists already (its size unchanged, or counted by count_resize).
void store_inode(const OpContext& context, const proto::Inode& inode);
// The usage counters (docs/design/2026-12-06-filesystem-usage.md 1): every inode but the root is a
// file of its filesystem in its bucket, and regular files add their size. A counter that would go
// below zero is kCorruption. store_new_inode stores and counts an inode just made (never the
// root); remove_inode erases an inode and everything kept with it (its xattrs) and uncounts it;
// count_resize counts a regular file's size change (the caller stores the inode).
Status store_new_inode(const OpContext& context, const proto::Inode& inode);
Status remove_inode(const OpContext& context, const proto::Inode& inode);
Status count_resize(const OpContext& context, uint64_t old_size, uint64_t new_size);
// This bucket's counters for the filesystem (zeros if none).
Result<proto::FilesystemUsage> load_usage(const OpContext& context);
// Every xattr of `inode`, in bounded batches.
Status erase_xattrs(const OpContext& context, InodeId inode);
// Erases `inode` (whose last link is gone) and its xattrs, and answers it with nlink 0 and this
// operation's ctime, for MetaResult.released. Files open when their last link goes (orphans, the
// 'O' keys) are not tracked yet: until open handles are, the last link erases the inode at once.
Result<proto::Inode> release(const OpContext& context, proto::Inode inode);
// Drops one link of the non-directory `inode`: stored with its new count, or released with its
// last (into result.released).
Status drop_link(const OpContext& context, proto::Inode inode, proto::MetaResult& result);
Result<std::optional<proto::DirEntry>> load_entry(const OpContext& context, InodeId dir,
                                                  std::string_view name);
void store_entry(const OpContext& context, InodeId dir, std::string_view name,
                 const proto::DirEntry& entry);
void erase_entry(const OpContext& context, InodeId dir, std::string_view name);
Result<bool> directory_is_empty(const OpContext& context, InodeId dir);
// The next inode id of this bucket (and the counter moved past it).
Result<InodeId> allocate_inode_id(const OpContext& context);

// An inode that must exist here: ENOENT if it does not; cross_bucket if it lives elsewhere;
// locked() while a transaction holds it.
Result<Checked<proto::Inode>> existing_inode(const OpContext& context, InodeId inode);
// The inode `entry` (named `name`) points to, for an operation that changes it: cross_bucket if
// it lives elsewhere; locked() while a transaction holds it (a link being added elsewhere, say);
// kCorruption if it is missing (an entry never outlives its inode).
Result<Checked<proto::Inode>> entry_inode(const OpContext& context, const proto::DirEntry& entry,
                                          std::string_view name);
// A directory whose entries the caller reads (`search` only) or changes (write and search):
// ENOENT, ENOTDIR, EACCES, cross_bucket.
enum class DirectoryUse { kSearch, kChange };
Result<Checked<proto::Inode>> directory_for(const OpContext& context, InodeId dir,
                                            DirectoryUse use);

InodeId id_of(const proto::Inode& inode);
// Sets ctime (and mtime when `modified`) to the operation's time.
void touch(const OpContext& context, proto::Inode& inode, bool modified);

}  // namespace tessera::meta
