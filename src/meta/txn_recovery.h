// Recovery of cross-bucket transactions whose driver went away
// (docs/design/2026-12-05-cross-bucket-transactions.md 3): a bucket's leader lists the intents
// older than the transaction timeout and drives each to its end. A coordinator's PREPARING
// intent is aborted (presumed abort) and its participants told; a COMMITTED one is finished; a
// participant's PREPARED intent asks its coordinator and commits, aborts, or waits.
//
// Every step is a transaction command, idempotent by id, so two recoveries (an old and a new
// leader) or a recovery racing the original driver reach the same end.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "base/strong_id.h"
#include "meta/meta_transport.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::meta {

struct RecoveryCounts {
  uint32_t aborted = 0;   // Coordinator intents aborted, and participants told.
  uint32_t finished = 0;  // Committed transactions finished (as coordinator or participant).
  uint32_t waiting = 0;   // Participant intents whose coordinator is still deciding.
};

// Recovers the intents of `bucket` written before `before_log_ms` (the leader's log clock minus
// the timeout). Stops at the first transport failure (the next round goes on).
Task<Result<RecoveryCounts>> recover_transactions(MetaTransport& transport, BucketId bucket,
                                                  uint64_t before_log_ms, Deadline deadline);

}  // namespace tessera::meta
