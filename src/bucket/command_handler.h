// CommandHandler: the seam through which a bucket's state machine runs the commands of a layer
// above it (today the namespace, src/meta; docs/design/2026-12-05-namespace.md 1). KvStateMachine
// keeps the frame common to every mutation (session, request id, stored result) and hands the
// body of a MetaCommand to the handler, so namespace operations are exactly-once with no code of
// their own; reads of the namespace go to the handler as they are.
//
// Contract: deterministic. execute() and read() may use only the store, the context and the
// command: every replica must compute the same result and the same writes. A refusal (EEXIST,
// ENOTEMPTY, ...) is a successful Result carrying the refusal; a failed Result is a storage
// failure (kIoError, kCorruption) and stops the replica rather than let it diverge.
//
// Executor: called on the bucket's loop only. The handler is shared by every bucket of a process
// and keeps no state between calls.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "base/strong_id.h"
#include "bucket/state_store.h"
#include "proto/bucket.pb.h"

namespace tessera::bucket {

// What a deterministic apply may know besides the store and the command.
struct ApplyContext {
  BucketId bucket;
  uint64_t index = 0;        // The command's log index.
  uint64_t log_time_ms = 0;  // The leader's clock at proposal, never decreasing in a bucket.
  // The client request a mutation answers (zero for transaction commands, which have none).
  uint64_t session = 0;
  uint64_t request = 0;
};

class CommandHandler {
 public:
  virtual ~CommandHandler() = default;
  // The body of a mutation; its answer goes in BucketResult.meta.
  virtual Result<proto::MetaResult> execute(StateStore& store, const ApplyContext& context,
                                            const proto::MetaCommand& command) = 0;
  // A cross-bucket transaction command (no session: idempotent by transaction id). It may
  // replace the stored result of the client request the transaction answers
  // (replace_stored_result in kv_state_machine.h).
  virtual Result<proto::MetaResult> execute_txn(StateStore& store, const ApplyContext& context,
                                                const proto::MetaTxnCommand& command) = 0;
  // A linearizable read, served from the applied state.
  virtual Result<proto::MetaResult> read(StateStore& store, BucketId bucket,
                                         const proto::MetaRead& read) = 0;
};

}  // namespace tessera::bucket
