// unlink and rmdir (design 5): removes the entry `name` from `parent`. unlink drops one link of a
// non-directory and erases the inode with its last link; rmdir erases an empty directory. Both
// answer the erased inode in `released` so that the data path can purge its chunks. The child's
// inode must be in this bucket; one elsewhere (a directory hashed to another bucket, design 2)
// makes this a cross-bucket operation.
#include <cerrno>

#include "meta/keys.h"
#include "meta/names.h"
#include "meta/ops/ops.h"
#include "meta/permissions.h"

namespace tessera::meta {
namespace {

// ENOTDIR, EISDIR or ENOTEMPTY when `child` is not what `op` may remove, else 0.
Result<int> check_child(const OpContext& context, const proto::MetaUnlink& op,
                        const proto::Inode& child, std::string& why) {
  bool directory = child.type() == proto::FILE_TYPE_DIRECTORY;
  if (op.directory() && !directory) {
    why = fmt::format("'{}' is not a directory", op.name());
    return ENOTDIR;
  }
  if (!op.directory() && directory) {
    why = fmt::format("'{}' is a directory", op.name());
    return EISDIR;
  }
  if (!directory) return 0;
  TESS_ASSIGN_OR_RETURN(bool empty, directory_is_empty(context, id_of(child)));
  if (!empty) {
    why = fmt::format("directory '{}' is not empty", op.name());
    return ENOTEMPTY;
  }
  return 0;
}

}  // namespace

Result<proto::MetaResult> unlink(const OpContext& context, const proto::MetaUnlink& op) {
  std::string why;
  if (int bad = check_name(op.name(), why); bad != 0) return refuse(bad, why);
  InodeId parent_id(op.parent());
  // Search only, so that a missing name answers ENOENT before EACCES, as Linux does.
  TESS_ASSIGN_OR_RETURN(auto parent, directory_for(context, parent_id, DirectoryUse::kSearch));
  if (!parent.ok()) return parent.refusal();
  TESS_ASSIGN_OR_RETURN(auto unlocked, unlocked_entry(context, parent_id, op.name()));
  if (!unlocked.ok()) return unlocked.refusal();
  std::optional<proto::DirEntry>& entry = *unlocked;
  if (!entry) return refuse(ENOENT, fmt::format("no '{}' in {:x}", op.name(), op.parent()));
  if (!may_access(context.caller, *parent, kMayWrite | kMayExecute)) {
    return refuse(EACCES, fmt::format("no permission to remove from {:x}", op.parent()));
  }
  TESS_ASSIGN_OR_RETURN(auto child, entry_inode(context, *entry, op.name()));
  if (!child.ok()) return child.refusal();
  if (!may_unlink_from(context.caller, *parent, *child)) {
    return refuse(EPERM, fmt::format("the sticky bit of {:x} keeps '{}'", op.parent(), op.name()));
  }
  TESS_ASSIGN_OR_RETURN(int bad, check_child(context, op, *child, why));
  if (bad != 0) return refuse(bad, why);

  proto::MetaResult result;
  erase_entry(context, parent_id, op.name());
  if (op.directory()) {
    TESS_ASSIGN_OR_RETURN(*result.mutable_released(), release(context, std::move(*child)));
    parent->set_nlink(parent->nlink() - 1);  // Its `..` no longer links the parent.
  } else {
    TESS_RETURN_IF_ERROR(drop_link(context, std::move(*child), result));
  }
  touch(context, *parent, /*modified=*/true);
  store_inode(context, *parent);
  return result;
}

}  // namespace tessera::meta
