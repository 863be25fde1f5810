// unlink and rmdir of an entry whose inode is in another bucket: the entry (and, for a
// directory, the parent's link) in the parent's bucket (coordinator); the inode's link count, or
// the empty directory itself, in the inode's bucket. The sticky-bit rule needs the child's owner,
// which only its bucket knows, so it is checked here.
#include <cerrno>

#include "meta/keys.h"
#include "meta/permissions.h"
#include "meta/plans/plans.h"

namespace tessera::meta {

Task<Result<Plan>> plan_remove(PlanContext& context, const proto::MetaUnlink& op) {
  InodeId parent_id(op.parent());
  TESS_CO_ASSIGN_OR_RETURN(auto parent, co_await context.inode(parent_id));
  if (!parent.ok()) co_return final_answer(parent.refusal());
  TESS_CO_ASSIGN_OR_RETURN(auto found, co_await context.entry(parent_id, op.name()));
  if (!found.ok()) co_return final_answer(found.refusal());
  if (!*found) co_return final_answer(refuse(ENOENT, fmt::format("no '{}'", op.name())));
  const proto::MetaDirEntry& entry = **found;
  bool directory = entry.type() == proto::FILE_TYPE_DIRECTORY;
  if (op.directory() && !directory) {
    co_return final_answer(refuse(ENOTDIR, fmt::format("'{}' is not a directory", op.name())));
  }
  if (!op.directory() && directory) {
    co_return final_answer(refuse(EISDIR, fmt::format("'{}' is a directory", op.name())));
  }
  InodeId child_id(entry.inode());
  TESS_CO_ASSIGN_OR_RETURN(auto child, co_await context.inode(child_id));
  if (!child.ok()) co_return final_answer(child.refusal());
  if (!may_access(context.caller(), *parent, kMayWrite | kMayExecute)) {
    co_return final_answer(refuse(EACCES, "no permission to remove from the directory"));
  }
  if (!may_unlink_from(context.caller(), *parent, *child)) {
    co_return final_answer(refuse(EPERM, "the directory is sticky and the entry not the caller's"));
  }

  PartsBuilder parts(bucket_of(parent_id));
  proto::TxnEntryChange& change = parts.entry(parent_id, op.name());
  change.set_expect_inode(child_id.value());
  if (directory) change.set_dir_nlink_delta(-1);
  proto::TxnInodeChange& inode = parts.inode(child_id);
  if (directory) {
    inode.set_remove_directory(true);
  } else {
    inode.set_nlink_delta(-1);
  }
  co_return parts.build(proto::MetaResult());
}

}  // namespace tessera::meta
