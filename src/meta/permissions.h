// POSIX permission checks in the bucket (docs/design/2026-12-05-namespace.md 5), for callers the
// kernel does not check for (S3, the library; a FUSE mount without default_permissions). Nothing
// is checked for a caller whose check_permissions is false.
#pragma once

#include <cstdint>

#include "proto/meta.pb.h"

namespace tessera::meta {

// access(2) bits.
inline constexpr int kMayRead = 4;
inline constexpr int kMayWrite = 2;
inline constexpr int kMayExecute = 1;

// Whether the caller may access `inode` for every bit of `mask`. Root may read and write
// anything, and execute what has any execute bit (or is a directory).
bool may_access(const proto::Caller& caller, const proto::Inode& inode, int mask);
// Whether the caller may remove or rename `child`'s entry in `dir` (the sticky bit: only the
// owner of the entry, of the directory, or root). Write and search on `dir` are checked apart.
bool may_unlink_from(const proto::Caller& caller, const proto::Inode& dir,
                     const proto::Inode& child);
bool is_owner_or_root(const proto::Caller& caller, const proto::Inode& inode);
// Root, or a caller whose permissions are not checked here (the kernel checks them).
bool is_root_or_unchecked(const proto::Caller& caller);
bool in_group(const proto::Caller& caller, uint32_t gid);

}  // namespace tessera::meta
