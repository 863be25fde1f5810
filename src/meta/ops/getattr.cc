// getattr: an inode's attributes.
#include "meta/ops/ops.h"

namespace tessera::meta {

Result<proto::MetaResult> getattr(const OpContext& context, const proto::MetaGetattr& op) {
  TESS_ASSIGN_OR_RETURN(auto inode, existing_inode(context, InodeId(op.inode())));
  if (!inode.ok()) return inode.refusal();
  proto::MetaResult result;
  *result.mutable_inode() = std::move(*inode);
  return result;
}

}  // namespace tessera::meta
