#include "meta/permissions.h"

#include <sys/stat.h>

#include <algorithm>

namespace tessera::meta {

bool in_group(const proto::Caller& caller, uint32_t gid) {
  return caller.gid() == gid || std::ranges::find(caller.groups(), gid) != caller.groups().end();
}

bool may_access(const proto::Caller& caller, const proto::Inode& inode, int mask) {
  if (!caller.check_permissions()) return true;
  uint32_t mode = inode.mode();
  if (caller.uid() == 0) {
    if ((mask & kMayExecute) == 0 || inode.type() == proto::FILE_TYPE_DIRECTORY) return true;
    return (mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
  }
  uint32_t granted = 0;
  if (caller.uid() == inode.uid()) {
    granted = (mode >> 6) & 7;
  } else if (in_group(caller, inode.gid())) {
    granted = (mode >> 3) & 7;
  } else {
    granted = mode & 7;
  }
  return (granted & static_cast<uint32_t>(mask)) == static_cast<uint32_t>(mask);
}

bool is_owner_or_root(const proto::Caller& caller, const proto::Inode& inode) {
  return is_root_or_unchecked(caller) || caller.uid() == inode.uid();
}

bool is_root_or_unchecked(const proto::Caller& caller) {
  return !caller.check_permissions() || caller.uid() == 0;
}

bool may_unlink_from(const proto::Caller& caller, const proto::Inode& dir,
                     const proto::Inode& child) {
  if (!caller.check_permissions() || (dir.mode() & S_ISVTX) == 0) return true;
  return caller.uid() == 0 || caller.uid() == dir.uid() || caller.uid() == child.uid();
}

}  // namespace tessera::meta
