// Plans of the cross-bucket operations (docs/design/2026-12-05-cross-bucket-transactions.md 1
// and 2): the reads an operation needs from other buckets, the checks that need what they return
// (sticky directories, types, cycles), and the TxnBegin whose parts each bucket checks again under
// its locks. A plan is built after the operation's single-bucket attempt answered cross_bucket,
// so the checks that bucket made (names, the parent's permissions, EEXIST) are not repeated
// unless another bucket's state is needed for them.
//
// Outcome: a TxnBegin to run (session and request left for the caller), or the final answer
// (a refusal, or a rename with nothing to do). A failed Result: a read failed.
#pragma once

#include <optional>

#include "base/status.h"
#include "meta/meta_transport.h"
#include "proto/meta.pb.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::meta {

struct Plan {
  std::optional<proto::TxnBegin> begin;
  proto::MetaResult answer;  // When there is nothing to run.
};

// REQUIRES: command.fs() != 0; bucket_count is the cluster's.
Task<Result<Plan>> plan_transaction(MetaTransport& transport, uint32_t bucket_count,
                                    const proto::MetaCommand& command, Deadline deadline);

}  // namespace tessera::meta
