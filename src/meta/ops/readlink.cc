// readlink: a symlink's target. It needs no permission on the link itself (its mode is always
// 0777); reaching it needed search permission along the path, which lookup checked.
#include <cerrno>

#include "meta/ops/ops.h"

namespace tessera::meta {

Result<proto::MetaResult> readlink(const OpContext& context, const proto::MetaReadlink& op) {
  TESS_ASSIGN_OR_RETURN(auto inode, existing_inode(context, InodeId(op.inode())));
  if (!inode.ok()) return inode.refusal();
  if (inode->type() != proto::FILE_TYPE_SYMLINK) {
    return refuse(EINVAL, fmt::format("inode {:x} is not a symlink", op.inode()));
  }
  proto::MetaResult result;
  result.set_value(std::move(*inode->mutable_symlink_target()));
  return result;
}

}  // namespace tessera::meta
