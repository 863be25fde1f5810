// create, mknod, mkdir and symlink (design 5): a new inode and its entry in `parent`, one write
// batch. A file's inode lives with its entry; a directory's inode lives in the bucket its id was
// hashed to, so a mkdir is single-bucket only when that is the parent's.
#include <sys/stat.h>

#include <cerrno>

#include "base/fault_points.h"
#include "meta/names.h"
#include "meta/ops/ops.h"
#include "meta/permissions.h"

namespace tessera::meta {
namespace {

// EINVAL or ENAMETOOLONG for what `op` asks, or 0.
int check_request(const proto::MetaCreate& op, std::string& why) {
  switch (op.type()) {
    case proto::FILE_TYPE_SYMLINK:
      if (op.symlink_target().empty()) {
        why = "a symlink needs a target";
        return ENOENT;
      }
      if (op.symlink_target().size() > kMaxSymlinkBytes) {
        why = fmt::format("a symlink target of {} bytes exceeds {}", op.symlink_target().size(),
                          kMaxSymlinkBytes);
        return ENAMETOOLONG;
      }
      return 0;
    case proto::FILE_TYPE_REGULAR:
    case proto::FILE_TYPE_DIRECTORY:
    case proto::FILE_TYPE_FIFO:
    case proto::FILE_TYPE_SOCKET:
    case proto::FILE_TYPE_CHAR_DEVICE:
    case proto::FILE_TYPE_BLOCK_DEVICE:
      return 0;
    default:
      why = fmt::format("cannot create a file of type {}", static_cast<int>(op.type()));
      return EINVAL;
  }
}

proto::Inode new_inode(const OpContext& context, const proto::MetaCreate& op,
                       const proto::Inode& parent, InodeId id) {
  proto::Inode inode;
  inode.set_format_version(1);
  inode.set_fs(context.fs.value());
  inode.set_id(id.value());
  inode.set_type(op.type());
  bool directory = op.type() == proto::FILE_TYPE_DIRECTORY;
  uint32_t mode = op.type() == proto::FILE_TYPE_SYMLINK ? 0777 : op.mode() & 07777;
  inode.set_uid(context.caller.uid());
  // A set-group-id directory gives its group to what is created in it, and its bit to new
  // directories (the BSD rule Linux follows).
  if ((parent.mode() & S_ISGID) != 0) {
    inode.set_gid(parent.gid());
    if (directory) mode |= S_ISGID;
  } else {
    inode.set_gid(context.caller.gid());
  }
  inode.set_mode(mode);
  inode.set_nlink(directory ? 2 : 1);
  inode.set_rdev_major(op.rdev_major());
  inode.set_rdev_minor(op.rdev_minor());
  inode.set_atime_ns(context.now_ns);
  inode.set_mtime_ns(context.now_ns);
  inode.set_ctime_ns(context.now_ns);
  inode.set_btime_ns(context.now_ns);
  if (directory) inode.set_parent(parent.id());
  if (op.type() == proto::FILE_TYPE_SYMLINK) {
    inode.set_symlink_target(op.symlink_target());
    inode.set_size(op.symlink_target().size());
  }
  return inode;
}

}  // namespace

Result<proto::MetaResult> create(const OpContext& context, const proto::MetaCreate& op) {
  std::string why;
  if (int bad = check_name(op.name(), why); bad != 0) return refuse(bad, why);
  if (int bad = check_request(op, why); bad != 0) return refuse(bad, why);
  InodeId parent_id(op.parent());
  TESS_ASSIGN_OR_RETURN(auto parent, directory_for(context, parent_id, DirectoryUse::kSearch));
  if (!parent.ok()) return parent.refusal();

  TESS_ASSIGN_OR_RETURN(auto unlocked, unlocked_entry(context, parent_id, op.name()));
  if (!unlocked.ok()) return unlocked.refusal();
  std::optional<proto::DirEntry>& existing = *unlocked;
  if (existing) {
    if (op.type() != proto::FILE_TYPE_REGULAR || op.exclusive()) {
      return refuse(EEXIST, fmt::format("'{}' exists", op.name()));
    }
    // open(O_CREAT) of an existing name opens it: the caller checks the open itself.
    TESS_COVER("meta.create_found_existing");
    TESS_ASSIGN_OR_RETURN(auto inode, existing_inode(context, InodeId(existing->inode())));
    if (!inode.ok()) return inode.refusal();
    if (inode->type() == proto::FILE_TYPE_DIRECTORY) {
      return refuse(EISDIR, fmt::format("'{}' is a directory", op.name()));
    }
    proto::MetaResult result;
    *result.mutable_inode() = std::move(*inode);
    return result;
  }
  if (!may_access(context.caller, *parent, kMayWrite | kMayExecute)) {
    return refuse(EACCES, fmt::format("no permission to create in {:x}", parent->id()));
  }
  bool directory = op.type() == proto::FILE_TYPE_DIRECTORY;
  if (directory && BucketId(op.directory_bucket()) != context.bucket) {
    return cross_bucket(
        fmt::format("the new directory's inode goes to bucket {}", op.directory_bucket()));
  }
  if (directory && parent->nlink() >= kMaxLinks) {
    return refuse(EMLINK,
                  fmt::format("directory {:x} has {} links", parent->id(), parent->nlink()));
  }

  TESS_ASSIGN_OR_RETURN(InodeId id, allocate_inode_id(context));
  proto::MetaResult result;
  *result.mutable_inode() = new_inode(context, op, *parent, id);
  TESS_RETURN_IF_ERROR(store_new_inode(context, result.inode()));
  proto::DirEntry entry;
  entry.set_inode(id.value());
  entry.set_type(op.type());
  store_entry(context, parent_id, op.name(), entry);
  if (directory) parent->set_nlink(parent->nlink() + 1);
  touch(context, *parent, /*modified=*/true);
  store_inode(context, *parent);
  return result;
}

}  // namespace tessera::meta
