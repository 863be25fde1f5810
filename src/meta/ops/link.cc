// link (design 5): a new entry `new_name` in `new_parent` for the existing non-directory `inode`,
// which gains a link. Single-bucket only when the inode and the directory are both in this bucket;
// otherwise the client runs the cross-bucket protocol.
#include <cerrno>

#include "meta/keys.h"
#include "meta/names.h"
#include "meta/ops/ops.h"

namespace tessera::meta {
namespace {

// ENOENT, EPERM or EMLINK when `inode` cannot get another name, else 0.
int check_target(const proto::Inode& inode, std::string& why) {
  // An inode whose last link is gone cannot be named again (Linux: ENOENT without O_TMPFILE).
  if (inode.nlink() == 0) {
    why = fmt::format("inode {:x} has no links left", inode.id());
    return ENOENT;
  }
  // Hard links to directories would make the tree a graph.
  if (inode.type() == proto::FILE_TYPE_DIRECTORY) {
    why = fmt::format("inode {:x} is a directory", inode.id());
    return EPERM;
  }
  return 0;
}

}  // namespace

Result<proto::MetaResult> link(const OpContext& context, const proto::MetaLink& op) {
  InodeId inode_id(op.inode());
  InodeId parent_id(op.new_parent());
  if (!is_local(context, inode_id) || !is_local(context, parent_id)) {
    return cross_bucket(fmt::format("inode {:x} and directory {:x} are not both in bucket {}",
                                    op.inode(), op.new_parent(), context.bucket));
  }
  std::string why;
  if (int bad = check_name(op.new_name(), why); bad != 0) return refuse(bad, why);
  TESS_ASSIGN_OR_RETURN(auto parent, directory_for(context, parent_id, DirectoryUse::kChange));
  if (!parent.ok()) return parent.refusal();
  TESS_ASSIGN_OR_RETURN(auto inode, existing_inode(context, inode_id));
  if (!inode.ok()) return inode.refusal();
  if (int bad = check_target(*inode, why); bad != 0) return refuse(bad, why);
  TESS_ASSIGN_OR_RETURN(auto unlocked, unlocked_entry(context, parent_id, op.new_name()));
  if (!unlocked.ok()) return unlocked.refusal();
  if (*unlocked) return refuse(EEXIST, fmt::format("'{}' exists", op.new_name()));
  if (inode->nlink() >= kMaxLinks) {
    return refuse(EMLINK, fmt::format("inode {:x} has {} links", op.inode(), inode->nlink()));
  }

  inode->set_nlink(inode->nlink() + 1);
  touch(context, *inode, /*modified=*/false);
  store_inode(context, *inode);
  proto::DirEntry entry;
  entry.set_inode(op.inode());
  entry.set_type(inode->type());
  store_entry(context, parent_id, op.new_name(), entry);
  touch(context, *parent, /*modified=*/true);
  store_inode(context, *parent);
  proto::MetaResult result;
  *result.mutable_inode() = std::move(*inode);
  return result;
}

}  // namespace tessera::meta
