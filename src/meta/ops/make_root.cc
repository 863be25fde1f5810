// MakeRoot: a filesystem's root directory, sequence 1 of this bucket (design 2). Idempotent: the
// control plane may ask again after a failover without knowing whether the first ask landed.
#include <sys/stat.h>

#include "meta/keys.h"
#include "meta/ops/ops.h"

namespace tessera::meta {

Result<proto::MetaResult> make_root(const OpContext& context, const proto::MetaMakeRoot& op) {
  InodeId root = make_inode_id(context.bucket, kRootInodeSequence);
  TESS_ASSIGN_OR_RETURN(auto existing, load_inode(context, root));
  proto::MetaResult result;
  if (existing) {
    *result.mutable_inode() = std::move(*existing);
    return result;
  }
  proto::Inode& inode = *result.mutable_inode();
  inode.set_format_version(1);
  inode.set_fs(context.fs.value());
  inode.set_id(root.value());
  inode.set_type(proto::FILE_TYPE_DIRECTORY);
  inode.set_mode(op.mode() & 07777);
  inode.set_uid(op.uid());
  inode.set_gid(op.gid());
  inode.set_nlink(2);
  inode.set_atime_ns(context.now_ns);
  inode.set_mtime_ns(context.now_ns);
  inode.set_ctime_ns(context.now_ns);
  inode.set_btime_ns(context.now_ns);
  inode.set_parent(root.value());  // The root is its own parent, as `..` of / is /.
  store_inode(context, inode);
  return result;
}

}  // namespace tessera::meta
