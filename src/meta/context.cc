#include "meta/context.h"

#include <cerrno>

#include "base/fault_points.h"
#include "meta/keys.h"
#include "meta/permissions.h"

namespace tessera::meta {
namespace {

template <typename Message>
Result<std::optional<Message>> load(const OpContext& context, const std::string& key,
                                    std::string_view what) {
  TESS_ASSIGN_OR_RETURN(auto bytes, context.store.get(key));
  if (!bytes) return std::optional<Message>();
  Message message;
  if (!message.ParseFromString(*bytes)) {
    return error(StatusCode::kCorruption, "{} record in bucket {} unreadable", what,
                 context.bucket);
  }
  return std::optional<Message>(std::move(message));
}

}  // namespace

proto::MetaResult refuse(int errno_value, std::string message) {
  TESS_ASSERT(errno_value > 0, "refusal errno {}", errno_value);
  proto::MetaResult result;
  result.set_errno_value(errno_value);
  result.set_message(std::move(message));
  return result;
}

proto::MetaResult cross_bucket(std::string message) {
  TESS_COVER("meta.cross_bucket_refused");
  proto::MetaResult result = refuse(EXDEV, std::move(message));
  result.set_cross_bucket(true);
  return result;
}

bool is_local(const OpContext& context, InodeId inode) {
  return bucket_of(inode) == context.bucket;
}

InodeId id_of(const proto::Inode& inode) { return InodeId(inode.id()); }

Result<std::optional<proto::Inode>> load_inode(const OpContext& context, InodeId inode) {
  return load<proto::Inode>(context, inode_key(context.bucket, context.fs, inode), "inode");
}

void store_inode(const OpContext& context, const proto::Inode& inode) {
  TESS_ASSERT(is_local(context, id_of(inode)), "inode {:x} stored outside its bucket", inode.id());
  context.store.put(inode_key(context.bucket, context.fs, id_of(inode)), inode.SerializeAsString());
}

Result<proto::FilesystemUsage> load_usage(const OpContext& context) {
  TESS_ASSIGN_OR_RETURN(auto usage,
                        load<proto::FilesystemUsage>(context, usage_key(context.bucket, context.fs),
                                                     "usage counters"));
  return usage.value_or(proto::FilesystemUsage());
}

namespace {

uint64_t counted_size(const proto::Inode& inode) {
  return inode.type() == proto::FILE_TYPE_REGULAR ? inode.size() : 0;
}

// Adds `files` and `size_bytes` (either may be negative) to this bucket's counters for the
// filesystem; the key is erased when both reach zero.
Status add_usage(const OpContext& context, int64_t files, int64_t size_bytes) {
  TESS_ASSIGN_OR_RETURN(proto::FilesystemUsage usage, load_usage(context));
  // Operations check their growth first (setattr's EFBIG), so leaving the range means the
  // counters and the inodes disagree.
  auto add = [&context](uint64_t counter, int64_t delta, const char* what) -> Result<uint64_t> {
    uint64_t sum = 0;
    bool out_of_range =
        delta < 0
            ? __builtin_sub_overflow(counter, uint64_t{0} - static_cast<uint64_t>(delta), &sum)
            : __builtin_add_overflow(counter, static_cast<uint64_t>(delta), &sum);
    if (out_of_range) {
      return error(StatusCode::kCorruption,
                   "the {} counter of filesystem {} in bucket {} leaves its range ({} {:+})", what,
                   context.fs, context.bucket, counter, delta);
    }
    return sum;
  };
  TESS_ASSIGN_OR_RETURN(uint64_t new_files, add(usage.files(), files, "files"));
  TESS_ASSIGN_OR_RETURN(uint64_t new_size, add(usage.size_bytes(), size_bytes, "size"));
  usage.set_files(new_files);
  usage.set_size_bytes(new_size);
  std::string key = usage_key(context.bucket, context.fs);
  if (new_files == 0 && new_size == 0) {
    context.store.erase(key);
  } else {
    context.store.put(key, usage.SerializeAsString());
  }
  return Status::ok_status();
}

void erase_inode(const OpContext& context, InodeId inode) {
  context.store.erase(inode_key(context.bucket, context.fs, inode));
}

}  // namespace

Status store_new_inode(const OpContext& context, const proto::Inode& inode) {
  TESS_ASSERT(sequence_of(id_of(inode)) != kRootInodeSequence, "the root counted as a file");
  store_inode(context, inode);
  return add_usage(context, 1, static_cast<int64_t>(counted_size(inode)));
}

Status remove_inode(const OpContext& context, const proto::Inode& inode) {
  erase_inode(context, id_of(inode));
  TESS_RETURN_IF_ERROR(erase_xattrs(context, id_of(inode)));
  return add_usage(context, -1, -static_cast<int64_t>(counted_size(inode)));
}

Status count_resize(const OpContext& context, uint64_t old_size, uint64_t new_size) {
  if (old_size == new_size) return Status::ok_status();
  return add_usage(context, 0, static_cast<int64_t>(new_size) - static_cast<int64_t>(old_size));
}

// Every xattr of `inode`. The store's scan is bounded, so this goes in batches, each resuming
// after the last key erased rather than rescanning what the batch may still show.
Status erase_xattrs(const OpContext& context, InodeId inode) {
  constexpr size_t kBatch = 256;
  std::string from = xattrs_begin(context.bucket, context.fs, inode);
  const std::string end = xattrs_end(context.bucket, context.fs, inode);
  while (true) {
    TESS_ASSIGN_OR_RETURN(auto batch, context.store.scan(from, end, kBatch));
    for (const auto& [key, value] : batch) context.store.erase(key);
    if (batch.size() < kBatch) return Status::ok_status();
    from = batch.back().first;
    from.push_back('\0');  // The first key after the last one erased.
  }
}

// Erases `inode` (whose last link is gone) and its xattrs, and answers it with nlink 0 and this
// operation's ctime for MetaResult.released.
Result<proto::Inode> release(const OpContext& context, proto::Inode inode) {
  inode.set_nlink(0);
  touch(context, inode, /*modified=*/false);
  TESS_RETURN_IF_ERROR(remove_inode(context, inode));
  return inode;
}

// Drops one link of the non-directory `inode`: stored with its new count, or released with its
// last. Files open when their last link goes (orphans, the 'O' keys) are not tracked yet: until
// open handles are, the last unlink erases the inode at once.
Status drop_link(const OpContext& context, proto::Inode inode, proto::MetaResult& result) {
  if (inode.nlink() == 0) {
    return error(StatusCode::kCorruption, "inode {:x} has an entry but no links", inode.id());
  }
  inode.set_nlink(inode.nlink() - 1);
  if (inode.nlink() > 0) {
    touch(context, inode, /*modified=*/false);
    store_inode(context, inode);
    return Status::ok_status();
  }
  TESS_ASSIGN_OR_RETURN(*result.mutable_released(), release(context, std::move(inode)));
  return Status::ok_status();
}

Result<std::optional<proto::DirEntry>> load_entry(const OpContext& context, InodeId dir,
                                                  std::string_view name) {
  return load<proto::DirEntry>(context, entry_key(context.bucket, context.fs, dir, name),
                               "directory entry");
}

void store_entry(const OpContext& context, InodeId dir, std::string_view name,
                 const proto::DirEntry& entry) {
  context.store.put(entry_key(context.bucket, context.fs, dir, name), entry.SerializeAsString());
}

void erase_entry(const OpContext& context, InodeId dir, std::string_view name) {
  context.store.erase(entry_key(context.bucket, context.fs, dir, name));
}

Result<bool> directory_is_empty(const OpContext& context, InodeId dir) {
  TESS_ASSIGN_OR_RETURN(auto first,
                        context.store.scan(entries_from(context.bucket, context.fs, dir, 0),
                                           entries_end(context.bucket, context.fs, dir), 1));
  return first.empty();
}

Result<InodeId> allocate_inode_id(const OpContext& context) {
  std::string key = counters_key(context.bucket);
  TESS_ASSIGN_OR_RETURN(auto counters, load<proto::NamespaceCounters>(context, key, "counters"));
  uint64_t sequence = counters ? counters->next_inode_sequence() : kFirstInodeSequence;
  if (sequence < kFirstInodeSequence || sequence > kInodeSequenceMask) {
    return error(StatusCode::kCorruption, "inode counter {} of bucket {} out of range", sequence,
                 context.bucket);
  }
  proto::NamespaceCounters next;
  if (counters) next = *counters;
  next.set_next_inode_sequence(sequence + 1);
  context.store.put(key, next.SerializeAsString());
  return make_inode_id(context.bucket, sequence);
}

Result<std::optional<proto::TxnId>> lock_holder(const OpContext& context,
                                                const std::string& lock_key) {
  TESS_ASSIGN_OR_RETURN(auto lock, load<proto::TxnLock>(context, lock_key, "lock"));
  if (!lock) return std::optional<proto::TxnId>();
  return std::optional<proto::TxnId>(lock->id());
}

proto::MetaResult locked(std::string what) {
  TESS_COVER("meta.locked_by_transaction");
  proto::MetaResult result = refuse(EAGAIN, fmt::format("{} is locked by a transaction", what));
  result.set_locked(true);
  return result;
}

Result<Checked<std::optional<proto::DirEntry>>> unlocked_entry(const OpContext& context,
                                                               InodeId dir, std::string_view name) {
  using Answer = Checked<std::optional<proto::DirEntry>>;
  TESS_ASSIGN_OR_RETURN(
      auto holder, lock_holder(context, entry_lock_key(context.bucket, context.fs, dir, name)));
  // The mutation: a single-bucket operation goes through a transaction's lock (the simulator's
  // namespace workload must catch it).
  if (holder && !TESS_MUTATION("meta.ignore_entry_locks")) {
    return Answer(locked(fmt::format("entry '{}' of {:x}", name, dir.value())));
  }
  TESS_ASSIGN_OR_RETURN(auto entry, load_entry(context, dir, name));
  return Answer(std::move(entry));
}

Result<bool> has_locked_entries(const OpContext& context, InodeId dir) {
  TESS_ASSIGN_OR_RETURN(auto first,
                        context.store.scan(entry_locks_begin(context.bucket, context.fs, dir),
                                           entry_locks_end(context.bucket, context.fs, dir), 1));
  return !first.empty();
}

Result<Checked<proto::Inode>> existing_inode(const OpContext& context, InodeId inode) {
  if (!is_local(context, inode)) {
    return Checked<proto::Inode>(
        cross_bucket(fmt::format("inode {:x} is in bucket {}", inode.value(), bucket_of(inode))));
  }
  TESS_ASSIGN_OR_RETURN(auto holder,
                        lock_holder(context, inode_lock_key(context.bucket, context.fs, inode)));
  if (holder) return Checked<proto::Inode>(locked(fmt::format("inode {:x}", inode.value())));
  TESS_ASSIGN_OR_RETURN(auto found, load_inode(context, inode));
  if (!found) {
    return Checked<proto::Inode>(refuse(ENOENT, fmt::format("no inode {:x}", inode.value())));
  }
  return Checked<proto::Inode>(std::move(*found));
}

Result<Checked<proto::Inode>> entry_inode(const OpContext& context, const proto::DirEntry& entry,
                                          std::string_view name) {
  InodeId id(entry.inode());
  TESS_ASSIGN_OR_RETURN(auto inode, existing_inode(context, id));
  if (!inode.ok() && !inode.refusal().cross_bucket() && !inode.refusal().locked()) {
    return error(StatusCode::kCorruption, "entry '{}' names missing inode {:x}", name, id.value());
  }
  return inode;
}

Result<Checked<proto::Inode>> directory_for(const OpContext& context, InodeId dir,
                                            DirectoryUse use) {
  TESS_ASSIGN_OR_RETURN(auto found, existing_inode(context, dir));
  if (!found.ok()) return found;
  if (found->type() != proto::FILE_TYPE_DIRECTORY) {
    return Checked<proto::Inode>(
        refuse(ENOTDIR, fmt::format("inode {:x} is not a directory", dir.value())));
  }
  int mask = use == DirectoryUse::kChange ? kMayWrite | kMayExecute : kMayExecute;
  if (!may_access(context.caller, *found, mask)) {
    return Checked<proto::Inode>(
        refuse(EACCES, fmt::format("no permission on directory {:x}", dir.value())));
  }
  return found;
}

void touch(const OpContext& context, proto::Inode& inode, bool modified) {
  inode.set_ctime_ns(context.now_ns);
  if (modified) inode.set_mtime_ns(context.now_ns);
}

}  // namespace tessera::meta
