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
#include <vector>

#include "base/status.h"
#include "base/strong_id.h"
#include "meta/context.h"
#include "meta/meta_transport.h"
#include "proto/meta.pb.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::meta {

// A directory move to check again once the rename lock is held: `moved` must not be `dir` or one
// of its ancestors. The plan's own walk ran before the lock, when another move could still
// change the ancestry; under the lock no directory changes parent, so the walk then is final.
struct CycleCheck {
  InodeId moved;
  InodeId dir;
};

struct Plan {
  std::optional<proto::TxnBegin> begin;  // The rename lock's part, if any, is parts(0) or (1).
  proto::MetaResult answer;              // When there is nothing to run.
  std::vector<CycleCheck> cycle_checks;  // For the runner, after the rename lock is prepared.
};

// Whether `moved` is `dir` or one of its ancestors, walking dir's parents through their buckets
// (reads as `caller`). A refusal if a read was refused (locked, ENOENT) or the parents loop.
// Final only under the filesystem's rename lock.
Task<Result<Checked<bool>>> is_ancestor(MetaTransport& transport, const proto::Caller& caller,
                                        FilesystemId fs, InodeId moved, InodeId dir,
                                        Deadline deadline);

// REQUIRES: command.fs() != 0; bucket_count is the cluster's.
Task<Result<Plan>> plan_transaction(MetaTransport& transport, uint32_t bucket_count,
                                    const proto::MetaCommand& command, Deadline deadline);

}  // namespace tessera::meta
