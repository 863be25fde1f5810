// The checker's inventory (docs/design/2026-12-05-namespace-check.md 2): a filesystem's inodes in
// this bucket, in id order, a page at a time. Only a caller trusted with the whole filesystem may
// list it (root, or a caller the bucket does not check: the kernel's mount, the operator's tools).
#include <algorithm>
#include <cerrno>
#include <limits>
#include <string>

#include "meta/keys.h"
#include "meta/ops/ops.h"
#include "meta/permissions.h"

namespace tessera::meta {

Result<proto::MetaResult> list_inodes(const OpContext& context, const proto::MetaListInodes& op) {
  constexpr uint32_t kMaxInodesListed = 1000;
  if (!is_root_or_unchecked(context.caller)) {
    return refuse(EPERM, "only root lists a filesystem's inodes");
  }
  uint32_t limit = op.limit() == 0 ? kMaxInodesListed : std::min(op.limit(), kMaxInodesListed);
  proto::MetaResult result;
  if (op.after() == std::numeric_limits<uint64_t>::max()) {
    result.set_end(true);
    return result;
  }
  std::string begin = inode_key(context.bucket, context.fs, InodeId(op.after() + 1));
  TESS_ASSIGN_OR_RETURN(auto rows, context.store.scan(begin, inodes_end(context.bucket, context.fs),
                                                      size_t{limit} + 1));
  result.set_end(rows.size() <= limit);
  if (!result.end()) rows.pop_back();
  for (const auto& [key, value] : rows) {
    proto::Inode& inode = *result.add_inodes();
    if (!inode.ParseFromString(value)) {
      return error(StatusCode::kCorruption, "an inode of filesystem {} in bucket {} unreadable",
                   context.fs, context.bucket);
    }
  }
  return result;
}

}  // namespace tessera::meta
