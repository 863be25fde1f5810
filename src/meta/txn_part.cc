#include "meta/txn_part.h"

#include <cerrno>
#include <string>
#include <vector>

#include "base/fault_points.h"
#include "meta/keys.h"
#include "meta/names.h"

namespace tessera::meta {
namespace {

// Every key `part` locks, with the inode its create allocated (0: none): until the decision is
// applied here, that id names an inode that does not exist yet, though the coordinator may
// already have answered with it.
std::vector<std::string> lock_keys(const OpContext& context, const proto::TxnPart& part,
                                   uint64_t created_inode) {
  std::vector<std::string> keys;
  for (const proto::TxnEntryChange& change : part.entries()) {
    keys.push_back(
        entry_lock_key(context.bucket, context.fs, InodeId(change.dir()), change.name()));
  }
  for (const proto::TxnInodeChange& change : part.inodes()) {
    keys.push_back(inode_lock_key(context.bucket, context.fs, InodeId(change.inode())));
  }
  if (part.rename_lock()) keys.push_back(rename_lock_key(context.bucket, context.fs));
  if (part.has_create() && created_inode != 0) {
    keys.push_back(inode_lock_key(context.bucket, context.fs, InodeId(created_inode)));
  }
  return keys;
}

// A key this part needs that another transaction holds: locked().
Result<std::optional<proto::MetaResult>> held_elsewhere(const OpContext& context,
                                                        const proto::TxnId& txn,
                                                        const std::string& key,
                                                        std::string_view what) {
  TESS_ASSIGN_OR_RETURN(auto holder, lock_holder(context, key));
  if (holder && !same_txn(*holder, txn)) return std::optional(locked(std::string(what)));
  return std::optional<proto::MetaResult>();
}

// The plan no longer matches the state (it was read before the locks were taken): the client
// plans again.
proto::MetaResult stale(std::string what) {
  TESS_COVER("meta.txn_plan_stale");
  return locked(fmt::format("{} changed since the plan", what));
}

Result<std::optional<proto::MetaResult>> check_entry(const OpContext& context,
                                                     const proto::TxnId& txn,
                                                     const proto::TxnEntryChange& change) {
  using Refusal = std::optional<proto::MetaResult>;
  InodeId dir(change.dir());
  std::string why;
  if (!is_local(context, dir) || check_name(change.name(), why) != 0) {
    return Refusal(refuse(EINVAL, fmt::format("a plan names entry '{}' of {:x} here: {}",
                                              change.name(), change.dir(), why)));
  }
  TESS_ASSIGN_OR_RETURN(
      auto held, held_elsewhere(context, txn, inode_lock_key(context.bucket, context.fs, dir),
                                fmt::format("directory {:x}", change.dir())));
  if (held) return held;
  TESS_ASSIGN_OR_RETURN(
      held,
      held_elsewhere(context, txn, entry_lock_key(context.bucket, context.fs, dir, change.name()),
                     fmt::format("entry '{}'", change.name())));
  if (held) return held;
  TESS_ASSIGN_OR_RETURN(auto directory, load_inode(context, dir));
  if (!directory) return Refusal(refuse(ENOENT, fmt::format("no directory {:x}", change.dir())));
  if (directory->type() != proto::FILE_TYPE_DIRECTORY) {
    return Refusal(refuse(ENOTDIR, fmt::format("{:x} is not a directory", change.dir())));
  }
  if (change.dir_nlink_delta() > 0 &&
      directory->nlink() + static_cast<uint32_t>(change.dir_nlink_delta()) > kMaxLinks) {
    return Refusal(refuse(
        EMLINK, fmt::format("directory {:x} has {} links", change.dir(), directory->nlink())));
  }
  TESS_ASSIGN_OR_RETURN(auto entry, load_entry(context, dir, change.name()));
  uint64_t current = entry ? entry->inode() : 0;
  if (current == change.expect_inode()) return Refusal();
  if (change.observed()) return Refusal(stale(fmt::format("entry '{}'", change.name())));
  if (change.expect_inode() == 0) {
    return Refusal(refuse(EEXIST, fmt::format("'{}' exists", change.name())));
  }
  if (current == 0) return Refusal(refuse(ENOENT, fmt::format("no '{}'", change.name())));
  return Refusal(stale(fmt::format("entry '{}'", change.name())));
}

Result<std::optional<proto::MetaResult>> check_inode(const OpContext& context,
                                                     const proto::TxnId& txn,
                                                     const proto::TxnInodeChange& change) {
  using Refusal = std::optional<proto::MetaResult>;
  InodeId id(change.inode());
  if (!is_local(context, id)) {
    return Refusal(refuse(EINVAL, fmt::format("a plan names inode {:x} here", change.inode())));
  }
  TESS_ASSIGN_OR_RETURN(auto held,
                        held_elsewhere(context, txn, inode_lock_key(context.bucket, context.fs, id),
                                       fmt::format("inode {:x}", change.inode())));
  if (held) return held;
  TESS_ASSIGN_OR_RETURN(auto inode, load_inode(context, id));
  if (!inode) return Refusal(refuse(ENOENT, fmt::format("no inode {:x}", change.inode())));
  bool directory = inode->type() == proto::FILE_TYPE_DIRECTORY;
  if (change.remove_directory()) {
    if (!directory) return Refusal(refuse(ENOTDIR, fmt::format("{:x} is not a directory", id)));
    TESS_ASSIGN_OR_RETURN(bool pending, has_locked_entries(context, id));
    if (pending) return Refusal(locked(fmt::format("an entry of {:x}", change.inode())));
    TESS_ASSIGN_OR_RETURN(bool empty, directory_is_empty(context, id));
    if (!empty) {
      return Refusal(refuse(ENOTEMPTY, fmt::format("directory {:x} is not empty", id)));
    }
    return Refusal();
  }
  if (change.nlink_delta() > 0) {
    if (directory) return Refusal(refuse(EPERM, "a directory cannot have another link"));
    if (inode->nlink() + static_cast<uint32_t>(change.nlink_delta()) > kMaxLinks) {
      return Refusal(refuse(EMLINK, fmt::format("inode {:x} has {} links", id, inode->nlink())));
    }
  }
  if (change.nlink_delta() < 0 && inode->nlink() < static_cast<uint32_t>(-change.nlink_delta())) {
    return Refusal(stale(fmt::format("inode {:x}", change.inode())));
  }
  return Refusal();
}

Status apply_entry(const OpContext& context, const proto::TxnEntryChange& change,
                   uint64_t created_inode) {
  InodeId dir(change.dir());
  uint64_t child = change.new_inode_created() ? created_inode : change.new_inode();
  if (child == 0) {
    erase_entry(context, dir, change.name());
  } else {
    proto::DirEntry entry;
    entry.set_inode(child);
    entry.set_type(change.new_type());
    store_entry(context, dir, change.name(), entry);
  }
  TESS_ASSIGN_OR_RETURN(auto directory, load_inode(context, dir));
  if (!directory) {
    return error(StatusCode::kCorruption, "locked directory {:x} vanished", change.dir());
  }
  directory->set_nlink(
      static_cast<uint32_t>(static_cast<int64_t>(directory->nlink()) + change.dir_nlink_delta()));
  touch(context, *directory, /*modified=*/true);
  store_inode(context, *directory);
  return Status();
}

Status apply_inode(const OpContext& context, const proto::TxnInodeChange& change) {
  InodeId id(change.inode());
  TESS_ASSIGN_OR_RETURN(auto inode, load_inode(context, id));
  if (!inode) return error(StatusCode::kCorruption, "locked inode {:x} vanished", change.inode());
  if (change.remove_directory()) return remove_inode(context, *inode);
  inode->set_nlink(
      static_cast<uint32_t>(static_cast<int64_t>(inode->nlink()) + change.nlink_delta()));
  if (change.set_parent() != 0) inode->set_parent(change.set_parent());
  touch(context, *inode, /*modified=*/false);
  if (inode->nlink() == 0 && inode->type() != proto::FILE_TYPE_DIRECTORY) {
    // Open files' orphans come with open tracking; until then the last link removes the inode.
    return remove_inode(context, *inode);
  }
  store_inode(context, *inode);
  return Status();
}

Status apply_create(const OpContext& context, const proto::TxnPart& part, uint64_t created_inode) {
  TESS_ASSERT(created_inode != 0 && is_local(context, InodeId(created_inode)),
              "a create part without its inode id");
  proto::Inode inode = part.create();
  inode.set_format_version(1);
  inode.set_fs(context.fs.value());
  inode.set_id(created_inode);
  inode.set_atime_ns(context.now_ns);
  inode.set_mtime_ns(context.now_ns);
  inode.set_ctime_ns(context.now_ns);
  inode.set_btime_ns(context.now_ns);
  return store_new_inode(context, inode);
}

}  // namespace

bool same_txn(const proto::TxnId& a, const proto::TxnId& b) {
  return a.coordinator() == b.coordinator() && a.begin_index() == b.begin_index();
}

Result<Checked<uint64_t>> check_and_lock(const OpContext& context, const proto::TxnId& txn,
                                         const proto::TxnPart& part) {
  if (part.rename_lock()) {
    TESS_ASSIGN_OR_RETURN(auto held,
                          held_elsewhere(context, txn, rename_lock_key(context.bucket, context.fs),
                                         "the rename lock"));
    if (held) return Checked<uint64_t>(std::move(*held));
  }
  for (const proto::TxnEntryChange& change : part.entries()) {
    TESS_ASSIGN_OR_RETURN(auto refusal, check_entry(context, txn, change));
    if (refusal) return Checked<uint64_t>(std::move(*refusal));
  }
  for (const proto::TxnInodeChange& change : part.inodes()) {
    TESS_ASSIGN_OR_RETURN(auto refusal, check_inode(context, txn, change));
    if (refusal) return Checked<uint64_t>(std::move(*refusal));
  }
  uint64_t created = 0;
  if (part.has_create()) {
    TESS_ASSIGN_OR_RETURN(InodeId id, allocate_inode_id(context));
    created = id.value();
  }
  proto::TxnLock lock;
  *lock.mutable_id() = txn;
  std::string bytes = lock.SerializeAsString();
  for (const std::string& key : lock_keys(context, part, created)) context.store.put(key, bytes);
  return Checked<uint64_t>(created);
}

Status apply_and_unlock(const OpContext& context, const proto::TxnPart& part,
                        uint64_t created_inode) {
  if (part.has_create()) TESS_RETURN_IF_ERROR(apply_create(context, part, created_inode));
  for (const proto::TxnEntryChange& change : part.entries()) {
    TESS_RETURN_IF_ERROR(apply_entry(context, change, created_inode));
  }
  for (const proto::TxnInodeChange& change : part.inodes()) {
    TESS_RETURN_IF_ERROR(apply_inode(context, change));
  }
  unlock(context, part, created_inode);
  return Status();
}

void unlock(const OpContext& context, const proto::TxnPart& part, uint64_t created_inode) {
  for (const std::string& key : lock_keys(context, part, created_inode)) {
    context.store.erase(key);
  }
}

}  // namespace tessera::meta
