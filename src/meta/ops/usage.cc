// usage: every filesystem's usage counters in this bucket (docs/design/
// 2026-12-06-filesystem-usage.md 2), for the REST API's filesystem figures. Needs no filesystem:
// one read answers for all of them.
#include <cerrno>

#include "meta/keys.h"
#include "meta/ops/ops.h"
#include "meta/permissions.h"

namespace tessera::meta {

Result<proto::MetaResult> usage(const OpContext& context, const proto::MetaUsage& /*op*/) {
  // More rows than the cluster may have filesystems (cluster/filesystems.h kMaxFilesystems).
  constexpr size_t kMaxRows = 4096;
  if (!is_root_or_unchecked(context.caller)) {
    return refuse(EPERM, "only root reads the usage of every filesystem");
  }
  TESS_ASSIGN_OR_RETURN(auto rows, context.store.scan(usages_begin(context.bucket),
                                                      usages_end(context.bucket), kMaxRows + 1));
  if (rows.size() > kMaxRows) {
    return error(StatusCode::kCorruption,
                 "bucket {} holds usage counters of more than {} filesystems", context.bucket,
                 kMaxRows);
  }
  const size_t key_size = usage_key(context.bucket, FilesystemId(0)).size();
  proto::MetaResult result;
  for (const auto& [key, value] : rows) {
    if (key.size() != key_size) {
      return error(StatusCode::kCorruption, "a usage key of bucket {} has {} bytes", context.bucket,
                   key.size());
    }
    proto::MetaUsageRow& row = *result.add_usage();
    row.set_fs(usage_fs(key).value());
    if (!row.mutable_usage()->ParseFromString(value)) {
      return error(StatusCode::kCorruption,
                   "the usage counters of filesystem {} in bucket {} unreadable", row.fs(),
                   context.bucket);
    }
  }
  return result;
}

}  // namespace tessera::meta
