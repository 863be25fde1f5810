// rename and renameat2 (design 5): moves the entry `name` of `parent` to `new_name` of
// `new_parent`, replacing what was there (a non-directory loses a link, an empty directory goes),
// or with RENAME_NOREPLACE refusing to, or with RENAME_EXCHANGE swapping the two entries. Single-
// bucket when both directories and both inodes are in this bucket and no directory changes parent:
// a directory move needs the rename lock and its ancestry walk (design 7), so it is cross-bucket
// until those exist.
//
// The order of the checks is Linux's (do_renameat2, then vfs_rename): what the lookups decide
// (ENOENT, EEXIST, EINVAL) first, then a rename onto the same inode succeeds without changing
// anything, then permissions and the sticky bit, then what the replaced entry allows.
#include <cerrno>
#include <optional>

#include "meta/keys.h"
#include "meta/names.h"
#include "meta/ops/ops.h"
#include "meta/permissions.h"

namespace tessera::meta {
namespace {

constexpr uint32_t kNoReplace = 1;  // RENAME_NOREPLACE
constexpr uint32_t kExchange = 2;   // RENAME_EXCHANGE

bool is_directory(const proto::Inode& inode) { return inode.type() == proto::FILE_TYPE_DIRECTORY; }

// What one rename works on. When both names are in one directory, that directory is one Inode
// (`from_dir`), so that the changes of both ends land in one record.
struct Rename {
  const OpContext& context;
  const proto::MetaRename& op;
  InodeId from_dir_id;
  InodeId to_dir_id;
  proto::Inode from_dir;
  proto::Inode other_dir;  // The destination directory when it is not `from_dir`.
  proto::Inode source;
  std::optional<proto::Inode> target;  // What `new_name` holds, if anything.

  bool same_dir() const { return from_dir_id == to_dir_id; }
  proto::Inode& to_dir() { return same_dir() ? from_dir : other_dir; }
  bool exchange() const { return (op.flags() & kExchange) != 0; }
};

// An answer that ends the rename before it changes anything (a refusal, or success when there is
// nothing to do), or nullopt to go on.
using Stop = std::optional<proto::MetaResult>;

// Both directories (search permission: a missing name answers ENOENT before EACCES).
Result<Stop> load_directories(Rename& plan) {
  TESS_ASSIGN_OR_RETURN(auto from,
                        directory_for(plan.context, plan.from_dir_id, DirectoryUse::kSearch));
  if (!from.ok()) return Stop(from.refusal());
  plan.from_dir = std::move(*from);
  if (plan.same_dir()) return Stop();
  TESS_ASSIGN_OR_RETURN(auto to,
                        directory_for(plan.context, plan.to_dir_id, DirectoryUse::kSearch));
  if (!to.ok()) return Stop(to.refusal());
  plan.other_dir = std::move(*to);
  return Stop();
}

// Both entries and their inodes, with the refusals that the entries alone decide.
Result<Stop> load_ends(Rename& plan) {
  const OpContext& context = plan.context;
  const proto::MetaRename& op = plan.op;
  TESS_ASSIGN_OR_RETURN(auto from_unlocked, unlocked_entry(context, plan.from_dir_id, op.name()));
  if (!from_unlocked.ok()) return Stop(from_unlocked.refusal());
  std::optional<proto::DirEntry>& from_entry = *from_unlocked;
  if (!from_entry) return Stop(refuse(ENOENT, fmt::format("no '{}'", op.name())));
  TESS_ASSIGN_OR_RETURN(auto source, entry_inode(context, *from_entry, op.name()));
  if (!source.ok()) return Stop(source.refusal());
  plan.source = std::move(*source);
  TESS_ASSIGN_OR_RETURN(auto to_unlocked, unlocked_entry(context, plan.to_dir_id, op.new_name()));
  if (!to_unlocked.ok()) return Stop(to_unlocked.refusal());
  std::optional<proto::DirEntry>& to_entry = *to_unlocked;
  if (to_entry && (op.flags() & kNoReplace) != 0) {
    return Stop(refuse(EEXIST, fmt::format("'{}' exists", op.new_name())));
  }
  if (!to_entry && plan.exchange()) {
    return Stop(refuse(ENOENT, fmt::format("no '{}' to exchange with", op.new_name())));
  }
  if (!to_entry) return Stop();
  TESS_ASSIGN_OR_RETURN(auto target, entry_inode(context, *to_entry, op.new_name()));
  if (!target.ok()) return Stop(target.refusal());
  plan.target = std::move(*target);
  return Stop();
}

// Moves that would need more than this bucket (directories changing parent), or the tree itself
// (a directory into itself), or nothing at all.
Stop check_move(Rename& plan) {
  if (id_of(plan.source) == plan.to_dir_id) {
    return refuse(EINVAL, fmt::format("'{}' cannot move into itself", plan.op.name()));
  }
  if (plan.target && plan.target->id() == plan.source.id()) {
    // The same entry, or two links of one inode: Linux succeeds and changes nothing.
    proto::MetaResult result;
    *result.mutable_inode() = plan.source;
    return result;
  }
  if (plan.same_dir()) return Stop();
  bool moves_directory =
      is_directory(plan.source) || (plan.exchange() && plan.target && is_directory(*plan.target));
  if (moves_directory) return cross_bucket("a directory changing parent needs the rename lock");
  return Stop();
}

// Write and search on both directories, and the sticky bit on both entries that go.
Stop check_permissions(Rename& plan) {
  const proto::Caller& caller = plan.context.caller;
  if (!may_access(caller, plan.from_dir, kMayWrite | kMayExecute)) {
    return refuse(EACCES, fmt::format("no permission on directory {:x}", plan.op.parent()));
  }
  if (!may_unlink_from(caller, plan.from_dir, plan.source)) {
    return refuse(EPERM, fmt::format("the sticky bit keeps '{}'", plan.op.name()));
  }
  if (!plan.same_dir() && !may_access(caller, plan.to_dir(), kMayWrite | kMayExecute)) {
    return refuse(EACCES, fmt::format("no permission on directory {:x}", plan.op.new_parent()));
  }
  if (plan.target && !may_unlink_from(caller, plan.to_dir(), *plan.target)) {
    return refuse(EPERM, fmt::format("the sticky bit keeps '{}'", plan.op.new_name()));
  }
  return Stop();
}

// What the replaced entry allows: a directory only over an empty directory, a non-directory only
// over a non-directory.
Result<Stop> check_replace(Rename& plan) {
  if (!plan.target || plan.exchange()) return Stop();
  const std::string& name = plan.op.new_name();
  bool over_directory = is_directory(*plan.target);
  if (is_directory(plan.source) && !over_directory) {
    return Stop(refuse(ENOTDIR, fmt::format("'{}' is not a directory", name)));
  }
  if (!is_directory(plan.source) && over_directory) {
    return Stop(refuse(EISDIR, fmt::format("'{}' is a directory", name)));
  }
  if (!over_directory) return Stop();
  TESS_ASSIGN_OR_RETURN(bool empty, directory_is_empty(plan.context, id_of(*plan.target)));
  if (!empty) return Stop(refuse(ENOTEMPTY, fmt::format("directory '{}' is not empty", name)));
  return Stop();
}

proto::DirEntry entry_for(const proto::Inode& inode) {
  proto::DirEntry entry;
  entry.set_inode(inode.id());
  entry.set_type(inode.type());
  return entry;
}

// The replaced inode loses the link `new_name` was: a directory goes, a non-directory may.
Status replace_target(Rename& plan, proto::MetaResult& result) {
  if (!is_directory(*plan.target)) {
    return drop_link(plan.context, std::move(*plan.target), result);
  }
  TESS_ASSIGN_OR_RETURN(*result.mutable_released(), release(plan.context, std::move(*plan.target)));
  proto::Inode& dir = plan.to_dir();
  dir.set_nlink(dir.nlink() - 1);  // The replaced directory's `..` no longer links it.
  return Status::ok_status();
}

// Writes the entries, both directories with their new times, and the moved inode.
Result<proto::MetaResult> commit(Rename& plan) {
  const OpContext& context = plan.context;
  const proto::MetaRename& op = plan.op;
  proto::MetaResult result;
  if (plan.exchange()) {
    store_entry(context, plan.from_dir_id, op.name(), entry_for(*plan.target));
    touch(context, *plan.target, /*modified=*/false);
    store_inode(context, *plan.target);
  } else {
    if (plan.target) TESS_RETURN_IF_ERROR(replace_target(plan, result));
    erase_entry(context, plan.from_dir_id, op.name());
  }
  store_entry(context, plan.to_dir_id, op.new_name(), entry_for(plan.source));
  touch(context, plan.source, /*modified=*/false);
  store_inode(context, plan.source);
  touch(context, plan.from_dir, /*modified=*/true);
  store_inode(context, plan.from_dir);
  if (!plan.same_dir()) {
    touch(context, plan.other_dir, /*modified=*/true);
    store_inode(context, plan.other_dir);
  }
  *result.mutable_inode() = std::move(plan.source);
  return result;
}

}  // namespace

Result<proto::MetaResult> rename(const OpContext& context, const proto::MetaRename& op) {
  if ((op.flags() & ~(kNoReplace | kExchange)) != 0 || op.flags() == (kNoReplace | kExchange)) {
    return refuse(EINVAL, fmt::format("rename flags {:#x}", op.flags()));
  }
  Rename plan{context, op, InodeId(op.parent()), InodeId(op.new_parent())};
  if (!is_local(context, plan.from_dir_id) || !is_local(context, plan.to_dir_id)) {
    return cross_bucket(fmt::format("directories {:x} and {:x} are not both in bucket {}",
                                    op.parent(), op.new_parent(), context.bucket));
  }
  std::string why;
  if (int bad = check_name(op.name(), why); bad != 0) return refuse(bad, why);
  if (int bad = check_name(op.new_name(), why); bad != 0) return refuse(bad, why);
  TESS_ASSIGN_OR_RETURN(Stop stop, load_directories(plan));
  if (stop) return std::move(*stop);
  TESS_ASSIGN_OR_RETURN(stop, load_ends(plan));
  if (stop) return std::move(*stop);
  if (stop = check_move(plan); stop) return std::move(*stop);
  if (stop = check_permissions(plan); stop) return std::move(*stop);
  TESS_ASSIGN_OR_RETURN(stop, check_replace(plan));
  if (stop) return std::move(*stop);
  return commit(plan);
}

}  // namespace tessera::meta
