// setattr (chmod, chown, truncate, utimensat; design 5): changes the attributes that `valid`
// names. Every requested change is checked before any is made, so a refused setattr changes
// nothing. A new size is only recorded here: freeing or zeroing the data past it is the data
// path's job, which reads the size from the answer.
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <optional>

#include "meta/ops/ops.h"
#include "meta/permissions.h"

namespace tessera::meta {
namespace {

// The bits of MetaSetattr.valid. They match FUSE_SET_ATTR_* of <fuse_lowlevel.h> so that the FUSE
// frontend passes its `to_set` unchanged; the meta library does not include FUSE headers. Bits not
// named here are ignored.
constexpr uint32_t kSetMode = 1u << 0;
constexpr uint32_t kSetUid = 1u << 1;
constexpr uint32_t kSetGid = 1u << 2;
constexpr uint32_t kSetSize = 1u << 3;
constexpr uint32_t kSetAtime = 1u << 4;
constexpr uint32_t kSetMtime = 1u << 5;
constexpr uint32_t kSetAtimeNow = 1u << 7;
constexpr uint32_t kSetMtimeNow = 1u << 8;
constexpr uint32_t kSetCtime = 1u << 10;

using Refusal = std::optional<proto::MetaResult>;

bool asks(const proto::MetaSetattr& op, uint32_t bits) { return (op.valid() & bits) != 0; }

// FUSE sends ATIME together with ATIME_NOW; NOW wins, as the kernel meant "now".
bool asks_explicit_time(const proto::MetaSetattr& op) {
  return (asks(op, kSetAtime) && !asks(op, kSetAtimeNow)) ||
         (asks(op, kSetMtime) && !asks(op, kSetMtimeNow));
}

// truncate(2): the checks of Linux's vfs_truncate(), made before the attribute checks as there.
Refusal check_size(const OpContext& context, const proto::MetaSetattr& op,
                   const proto::Inode& inode) {
  if (!asks(op, kSetSize)) return std::nullopt;
  if (inode.type() == proto::FILE_TYPE_DIRECTORY) {
    return refuse(EISDIR, fmt::format("cannot truncate directory {:x}", inode.id()));
  }
  if (inode.type() != proto::FILE_TYPE_REGULAR) {
    return refuse(EINVAL,
                  fmt::format("cannot truncate inode {:x}, not a regular file", inode.id()));
  }
  // The size becomes an off_t at every frontend: above its range is a negative length.
  if (op.size() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return refuse(EINVAL, fmt::format("size {} exceeds off_t", op.size()));
  }
  if (!may_access(context.caller, inode, kMayWrite)) {
    return refuse(EACCES, fmt::format("no write permission on {:x}", inode.id()));
  }

  return std::nullopt;
}

// chown(2), as Linux's chown_ok() and chgrp_ok(): only root gives a file away; the owner may keep
// its uid, and keep its group or choose one it is in.
Refusal check_owner(const OpContext& context, const proto::MetaSetattr& op,
                    const proto::Inode& inode) {
  const proto::Caller& caller = context.caller;
  if (is_root_or_unchecked(caller)) return std::nullopt;
  bool owner = caller.uid() == inode.uid();
  if (asks(op, kSetUid) && !(owner && op.uid() == inode.uid())) {
    return refuse(EPERM, fmt::format("uid {} may not make {} the owner of {:x}", caller.uid(),
                                     op.uid(), inode.id()));
  }
  if (asks(op, kSetGid) && !(owner && (op.gid() == inode.gid() || in_group(caller, op.gid())))) {
    return refuse(EPERM, fmt::format("uid {} may not give {:x} group {}", caller.uid(), inode.id(),
                                     op.gid()));
  }
  return std::nullopt;
}

Refusal check_mode(const OpContext& context, const proto::MetaSetattr& op,
                   const proto::Inode& inode) {
  if (asks(op, kSetMode) && !is_owner_or_root(context.caller, inode)) {
    return refuse(EPERM, fmt::format("only the owner of {:x} may change its mode", inode.id()));
  }
  return std::nullopt;
}

// utimensat(2): setting a time of one's choice needs ownership; setting "now" is also open to
// whoever may write the file (touch).
Refusal check_times(const OpContext& context, const proto::MetaSetattr& op,
                    const proto::Inode& inode) {
  if (is_owner_or_root(context.caller, inode)) return std::nullopt;
  if (asks_explicit_time(op)) {
    return refuse(EPERM, fmt::format("only the owner of {:x} may set its times", inode.id()));
  }
  if (asks(op, kSetAtimeNow | kSetMtimeNow) && !may_access(context.caller, inode, kMayWrite)) {
    return refuse(EACCES, fmt::format("no write permission to touch {:x}", inode.id()));
  }
  return std::nullopt;
}

Refusal check(const OpContext& context, const proto::MetaSetattr& op, const proto::Inode& inode) {
  for (auto checker : {check_size, check_owner, check_mode, check_times}) {
    if (Refusal refusal = checker(context, op, inode)) return refusal;
  }
  return std::nullopt;
}

// The mode chmod sets. A set-group-id bit is dropped when the caller could not have created a
// file of that group itself (Linux's setattr_prepare(); the group is the new one on chown).
uint32_t new_mode(const OpContext& context, const proto::MetaSetattr& op,
                  const proto::Inode& inode) {
  uint32_t mode = op.mode() & 07777;
  uint32_t gid = asks(op, kSetGid) ? op.gid() : inode.gid();
  if (!is_root_or_unchecked(context.caller) && !in_group(context.caller, gid)) mode &= ~S_ISGID;
  return mode;
}

// A chown of a non-directory drops set-user-id, and set-group-id when it means "group execute"
// rather than mandatory locking, as Linux's chown does, whoever asks: the privilege was granted
// to the old owner or group. Made after chmod, so the bits cannot survive a chown that also
// carries a mode.
void drop_privileges_on_chown(const proto::MetaSetattr& op, proto::Inode& inode) {
  if (!asks(op, kSetUid | kSetGid) || inode.type() == proto::FILE_TYPE_DIRECTORY) return;
  uint32_t mode = inode.mode() & ~static_cast<uint32_t>(S_ISUID);
  if ((mode & S_IXGRP) != 0) mode &= ~static_cast<uint32_t>(S_ISGID);
  inode.set_mode(mode);
}

void set_times(const OpContext& context, const proto::MetaSetattr& op, proto::Inode& inode) {
  if (asks(op, kSetAtimeNow)) {
    inode.set_atime_ns(context.now_ns);
  } else if (asks(op, kSetAtime)) {
    inode.set_atime_ns(op.atime_ns());
  }
  if (asks(op, kSetMtimeNow)) {
    inode.set_mtime_ns(context.now_ns);
  } else if (asks(op, kSetMtime)) {
    inode.set_mtime_ns(op.mtime_ns());
  }
  inode.set_ctime_ns(asks(op, kSetCtime) ? op.ctime_ns() : context.now_ns);
}

void change(const OpContext& context, const proto::MetaSetattr& op, proto::Inode& inode) {
  if (asks(op, kSetMode)) inode.set_mode(new_mode(context, op, inode));
  if (asks(op, kSetUid)) inode.set_uid(op.uid());
  if (asks(op, kSetGid)) inode.set_gid(op.gid());
  drop_privileges_on_chown(op, inode);
  if (asks(op, kSetSize)) {
    inode.set_size(op.size());
    inode.set_mtime_ns(context.now_ns);  // Explicit times below still win (open with O_TRUNC).
  }
  set_times(context, op, inode);
}

}  // namespace

Result<proto::MetaResult> setattr(const OpContext& context, const proto::MetaSetattr& op) {
  TESS_ASSIGN_OR_RETURN(auto inode, existing_inode(context, InodeId(op.inode())));
  if (!inode.ok()) return inode.refusal();
  if (Refusal refusal = check(context, op, *inode)) return std::move(*refusal);
  uint64_t old_size = inode->size();
  if (asks(op, kSetSize) && op.size() > old_size) {
    // The bucket's size counter (docs/design/2026-12-06-filesystem-usage.md) must hold the growth.
    TESS_ASSIGN_OR_RETURN(proto::FilesystemUsage usage, load_usage(context));
    if (std::numeric_limits<uint64_t>::max() - usage.size_bytes() < op.size() - old_size) {
      return refuse(EFBIG, fmt::format("the files of filesystem {} in bucket {} would total more "
                                       "than 2^64 bytes",
                                       context.fs, context.bucket));
    }
  }
  change(context, op, *inode);
  TESS_RETURN_IF_ERROR(count_resize(context, old_size, inode->size()));
  store_inode(context, *inode);
  proto::MetaResult result;
  *result.mutable_inode() = std::move(*inode);
  return result;
}

}  // namespace tessera::meta
