// setxattr, removexattr, getxattr and listxattr (design 3 to 5): one key per xattr under its
// inode (`'A' fs inode name`, the value's raw bytes), so listxattr and the per-inode size limit
// are one range scan. Names, limits and permissions follow Linux (fs/xattr.c): a namespace prefix
// is required, and each namespace has its own rule for who may read and write it. set and remove
// change the inode's ctime.
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meta/keys.h"
#include "meta/names.h"
#include "meta/ops/ops.h"
#include "meta/permissions.h"

namespace tessera::meta {
namespace {

// setxattr flags, as <sys/xattr.h> numbers them.
constexpr uint32_t kXattrCreate = 1;
constexpr uint32_t kXattrReplace = 2;

enum class XattrNamespace { kUser, kTrusted, kSecurity, kSystem };

struct Prefix {
  std::string_view text;
  XattrNamespace space;
};
constexpr Prefix kPrefixes[] = {{"user.", XattrNamespace::kUser},
                                {"trusted.", XattrNamespace::kTrusted},
                                {"security.", XattrNamespace::kSecurity},
                                {"system.", XattrNamespace::kSystem}};

using Refusal = std::optional<proto::MetaResult>;
enum class Access { kRead, kWrite };

// The namespace of a name every xattr operation accepts: 1 to 255 bytes (ERANGE, as Linux
// answers for a name it cannot copy), a known prefix (EOPNOTSUPP) and something after it
// (EINVAL). NUL is refused too: listxattr's answer is NUL-separated at the frontends.
Checked<XattrNamespace> namespace_of(std::string_view name) {
  if (name.empty() || name.size() > kMaxXattrNameBytes) {
    return refuse(ERANGE, fmt::format("an xattr name of {} bytes is not within 1 to {}",
                                      name.size(), kMaxXattrNameBytes));
  }
  if (name.find('\0') != std::string_view::npos) {
    return refuse(EINVAL, "an xattr name cannot contain NUL");
  }
  for (const Prefix& prefix : kPrefixes) {
    if (!name.starts_with(prefix.text)) continue;
    if (name.size() == prefix.text.size()) {
      return refuse(EINVAL, fmt::format("xattr name '{}' has nothing after its prefix", name));
    }
    return prefix.space;
  }
  return refuse(EOPNOTSUPP, fmt::format("xattr name '{}' has no known namespace", name));
}

// Linux's xattr_permission(). Where a reader may not see an xattr Linux answers ENODATA, as if
// it were absent, rather than tell it exists.
Refusal check_access(const OpContext& context, const proto::Inode& inode, XattrNamespace space,
                     Access access) {
  const proto::Caller& caller = context.caller;
  bool write = access == Access::kWrite;
  switch (space) {
    case XattrNamespace::kTrusted:
      if (is_root_or_unchecked(caller)) return std::nullopt;
      return refuse(write ? EPERM : ENODATA, "trusted xattrs are for root");
    case XattrNamespace::kSecurity:
    case XattrNamespace::kSystem:
      if (!write || is_owner_or_root(caller, inode)) return std::nullopt;
      return refuse(EPERM, fmt::format("only the owner of {:x} may change it", inode.id()));
    case XattrNamespace::kUser:
      break;
  }
  // Other types' permission bits do not govern their contents (a device's, a symlink's), so
  // they carry no user xattrs, for root neither.
  if (inode.type() != proto::FILE_TYPE_REGULAR && inode.type() != proto::FILE_TYPE_DIRECTORY) {
    return refuse(write ? EPERM : ENODATA, "user xattrs are for files and directories only");
  }
  // A sticky directory (/tmp) is shared: only its owner may label it.
  if (write && inode.type() == proto::FILE_TYPE_DIRECTORY && (inode.mode() & S_ISVTX) != 0 &&
      !is_owner_or_root(caller, inode)) {
    return refuse(EPERM, fmt::format("only the owner of sticky {:x} may change it", inode.id()));
  }
  if (!may_access(caller, inode, write ? kMayWrite : kMayRead)) {
    return refuse(EACCES, fmt::format("no permission on {:x}", inode.id()));
  }
  return std::nullopt;
}

// The inode whose xattr `name` the caller reads or changes, and the key of that xattr.
struct Target {
  proto::Inode inode;
  std::string key;
};

Result<Checked<Target>> target_of(const OpContext& context, uint64_t inode_id,
                                  std::string_view name, Access access) {
  Checked<XattrNamespace> space = namespace_of(name);
  if (!space.ok()) return Checked<Target>(space.refusal());
  TESS_ASSIGN_OR_RETURN(auto inode, existing_inode(context, InodeId(inode_id)));
  if (!inode.ok()) return Checked<Target>(inode.refusal());
  if (Refusal refusal = check_access(context, *inode, *space, access)) {
    return Checked<Target>(std::move(*refusal));
  }
  std::string key = xattr_key(context.bucket, context.fs, InodeId(inode_id), name);
  return Checked<Target>(Target{std::move(*inode), std::move(key)});
}

// Every xattr of `inode` in key order. Each takes at least one byte of the per-inode limit, which
// bounds the scan.
Result<std::vector<std::pair<std::string, std::string>>> all_xattrs(const OpContext& context,
                                                                    InodeId inode) {
  return context.store.scan(xattrs_begin(context.bucket, context.fs, inode),
                            xattrs_end(context.bucket, context.fs, inode), kMaxXattrBytesPerInode);
}

// The bytes of names and values of `inode`'s xattrs other than `name` (which a set replaces).
Result<size_t> bytes_besides(const OpContext& context, InodeId inode, std::string_view name) {
  TESS_ASSIGN_OR_RETURN(auto xattrs, all_xattrs(context, inode));
  size_t total = 0;
  for (const auto& [key, value] : xattrs) {
    std::string_view other = xattr_name(key);
    if (other != name) total += other.size() + value.size();
  }
  return total;
}

int check_flags(uint32_t flags) {
  if ((flags & ~(kXattrCreate | kXattrReplace)) != 0) return EINVAL;
  if (flags == (kXattrCreate | kXattrReplace)) return EINVAL;
  return 0;
}

// The inode, its ctime moved, as set and remove answer it.
proto::MetaResult touched(const OpContext& context, proto::Inode& inode) {
  touch(context, inode, /*modified=*/false);
  store_inode(context, inode);
  proto::MetaResult result;
  *result.mutable_inode() = inode;
  return result;
}

}  // namespace

Result<proto::MetaResult> setxattr(const OpContext& context, const proto::MetaSetxattr& op) {
  if (check_flags(op.flags()) != 0) {
    return refuse(EINVAL,
                  fmt::format("setxattr flags {:#x} are not CREATE or REPLACE", op.flags()));
  }
  if (op.value().size() > kMaxXattrValueBytes) {
    return refuse(E2BIG, fmt::format("an xattr value of {} bytes exceeds {}", op.value().size(),
                                     kMaxXattrValueBytes));
  }
  TESS_ASSIGN_OR_RETURN(auto target, target_of(context, op.inode(), op.name(), Access::kWrite));
  if (!target.ok()) return target.refusal();
  TESS_ASSIGN_OR_RETURN(auto existing, context.store.get(target->key));
  if (existing && (op.flags() & kXattrCreate) != 0) {
    return refuse(EEXIST, fmt::format("xattr '{}' exists", op.name()));
  }
  if (!existing && (op.flags() & kXattrReplace) != 0) {
    return refuse(ENODATA, fmt::format("no xattr '{}' to replace", op.name()));
  }
  InodeId inode(op.inode());
  TESS_ASSIGN_OR_RETURN(size_t others, bytes_besides(context, inode, op.name()));
  size_t total = others + op.name().size() + op.value().size();
  if (total > kMaxXattrBytesPerInode) {
    return refuse(ENOSPC, fmt::format("xattrs of {:x} would take {} bytes, above {}", op.inode(),
                                      total, kMaxXattrBytesPerInode));
  }
  context.store.put(target->key, op.value());
  return touched(context, target->inode);
}

Result<proto::MetaResult> removexattr(const OpContext& context, const proto::MetaRemovexattr& op) {
  TESS_ASSIGN_OR_RETURN(auto target, target_of(context, op.inode(), op.name(), Access::kWrite));
  if (!target.ok()) return target.refusal();
  TESS_ASSIGN_OR_RETURN(auto existing, context.store.get(target->key));
  if (!existing) return refuse(ENODATA, fmt::format("no xattr '{}'", op.name()));
  context.store.erase(target->key);
  return touched(context, target->inode);
}

Result<proto::MetaResult> getxattr(const OpContext& context, const proto::MetaGetxattr& op) {
  TESS_ASSIGN_OR_RETURN(auto target, target_of(context, op.inode(), op.name(), Access::kRead));
  if (!target.ok()) return target.refusal();
  TESS_ASSIGN_OR_RETURN(auto value, context.store.get(target->key));
  if (!value) return refuse(ENODATA, fmt::format("no xattr '{}'", op.name()));
  proto::MetaResult result;
  result.set_value(std::move(*value));
  return result;
}

// Needs no permission on the inode, as on Linux; trusted names are left out for a caller that
// could not read them (Linux lists them only to CAP_SYS_ADMIN).
Result<proto::MetaResult> listxattr(const OpContext& context, const proto::MetaListxattr& op) {
  InodeId inode(op.inode());
  TESS_ASSIGN_OR_RETURN(auto found, existing_inode(context, inode));
  if (!found.ok()) return found.refusal();
  TESS_ASSIGN_OR_RETURN(auto xattrs, all_xattrs(context, inode));
  bool sees_trusted = is_root_or_unchecked(context.caller);
  proto::MetaResult result;
  for (const auto& [key, value] : xattrs) {
    std::string_view name = xattr_name(key);
    if (!sees_trusted && name.starts_with("trusted.")) continue;
    result.add_names(std::string(name));
  }
  return result;
}

}  // namespace tessera::meta
