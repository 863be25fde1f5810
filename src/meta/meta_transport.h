// MetaTransport: how the code that plans and runs cross-bucket transactions reaches buckets
// (docs/design/2026-12-05-cross-bucket-transactions.md 3). The client library implements it over
// BucketClient; tests implement it over in-memory buckets.
//
// Failures: a failed Result when the bucket could not be asked or did not answer in time
// (kDeadlineExceeded, kUnavailable; for txn() the command may or may not have been applied: every
// transaction command is idempotent, so asking again is safe), or when it answered with a bucket
// error (a non-OK status_code). A MetaResult is the bucket's answer, refusals included.
#pragma once

#include "base/status.h"
#include "base/strong_id.h"
#include "proto/meta.pb.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::meta {

class MetaTransport {
 public:
  virtual ~MetaTransport() = default;
  virtual Task<Result<proto::MetaResult>> txn(BucketId bucket, proto::MetaTxnCommand command,
                                              Deadline deadline) = 0;
  virtual Task<Result<proto::MetaResult>> read(BucketId bucket, proto::MetaRead read,
                                               Deadline deadline) = 0;
};

}  // namespace tessera::meta
