// KvStateMachine: what a bucket does with its committed commands (design 7), for this issue's
// key-value API, with client sessions for exactly-once mutations. Deterministic: the result of
// every command depends only on the stored state and the command, so every replica answers alike
// and a replay of the log rebuilds the same state.
//
// Exactly once: a mutation names (session, request, acked_below). A stored result for (session,
// request) is returned without executing again; a request below the session's acked_below was
// answered and forgotten (kFailedPrecondition); otherwise the command runs, its result is stored
// and results below the new acked_below are deleted. Beyond kMaxStoredResults per session a
// request gets kBusy. ExpireSessions drops sessions idle for longer than its timeout, by log time.
//
// Executor: used on its bucket's loop only. Failures of `store` (kIoError, kCorruption) are
// returned as a failed Result: the replica must stop applying rather than diverge.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/strong_id.h"
#include "bucket/command_handler.h"
#include "bucket/state_store.h"
#include "proto/bucket.pb.h"

namespace tessera::bucket {

inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr size_t kMaxValueBytes = size_t{64} * 1024;
inline constexpr uint32_t kMaxStoredResults = 1024;
inline constexpr size_t kMaxRangeLimit = 1000;

class KvStateMachine {
 public:
  // `handler` runs MetaCommands and MetaReads; nullptr: they are refused with kUnimplemented.
  // REQUIRES: `handler` outlives the machine.
  explicit KvStateMachine(BucketId bucket, CommandHandler* handler = nullptr)
      : bucket_(bucket), handler_(handler) {}

  // Applies the command (a serialized BucketCommand) committed at `index`. The BucketResult is
  // the answer to send (its status_code says whether the command succeeded); a failed Result is a
  // storage failure.
  Result<proto::BucketResult> apply(StateStore& store, uint64_t index, std::string_view command);

  // Linearizable reads are served from the applied state (the caller has checked the lease or a
  // ReadIndex round).
  Result<proto::BucketResult> get(StateStore& store, std::string_view key) const;
  // Up to `limit` (<= kMaxRangeLimit) user keys in [start, end), as a serialized list in
  // BucketResult.value: repeated (u32 key bytes, key, u32 value bytes, value), little-endian.
  Result<proto::BucketResult> range(StateStore& store, std::string_view start, std::string_view end,
                                    size_t limit) const;
  // A namespace read, through the handler.
  Result<proto::BucketResult> meta_read(StateStore& store, const proto::MetaRead& read) const;

  // The greatest log time of the commands applied since construction (0 before any).
  uint64_t log_time_ms() const { return log_time_ms_; }

  // Validation shared by the proposer (refuse early) and apply (refuse deterministically).
  static Status validate(const proto::BucketCommand& command);

 private:
  Result<proto::BucketResult> execute(StateStore& store, uint64_t index,
                                      const proto::BucketCommand& command);
  Result<proto::BucketResult> expire_sessions(StateStore& store, uint64_t now_ms,
                                              uint64_t idle_timeout_ms);
  Status forget_results_below(StateStore& store, uint64_t session, uint64_t below,
                              proto::SessionRecord& record);

  BucketId bucket_;
  CommandHandler* handler_;
  uint64_t log_time_ms_ = 0;
};

// Replaces the stored result of (session, request) if one is stored (a result the client has
// acknowledged is gone and stays gone). For a transaction that answers a client's request later
// than the request's own apply. Returns whether one was stored.
Result<bool> replace_stored_result(StateStore& store, BucketId bucket, uint64_t session,
                                   uint64_t request, const proto::BucketResult& result);
// The stored result of (session, request), if any.
Result<std::optional<proto::BucketResult>> stored_result(StateStore& store, BucketId bucket,
                                                         uint64_t session, uint64_t request);

// BucketResult helpers.
proto::BucketResult result_of(const Status& status);
Status status_of(const proto::BucketResult& result);

}  // namespace tessera::bucket
