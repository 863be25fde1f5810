// A transaction's state at its coordinator, for a participant whose prepared part waits too long
// (design 3): COMMITTED, PREPARING, or no intent (UNSPECIFIED), which means aborted. And the
// list of a bucket's old intents, for its leader's recovery.
#include <algorithm>

#include "meta/keys.h"
#include "meta/ops/ops.h"

namespace tessera::meta {

Result<proto::MetaResult> txn_status(const OpContext& context, const proto::MetaTxnStatus& op) {
  proto::MetaResult result;
  proto::TxnVote& vote = *result.mutable_txn();
  *vote.mutable_id() = op.id();
  if (BucketId(op.id().coordinator()) != context.bucket) {
    return refuse(EINVAL, "a transaction's status asked of a bucket that does not coordinate it");
  }
  TESS_ASSIGN_OR_RETURN(auto recorded, context.store.get(coordinator_intent_key(
                                           context.bucket, op.id().begin_index())));
  if (!recorded) return result;
  proto::TxnIntent intent;
  if (!intent.ParseFromString(*recorded)) {
    return error(StatusCode::kCorruption, "intent in bucket {} unreadable", context.bucket);
  }
  vote.set_state(intent.state());
  return result;
}

Result<proto::MetaResult> list_intents(const OpContext& context, const proto::MetaListIntents& op) {
  constexpr uint32_t kMaxIntentsListed = 1000;
  uint32_t limit = op.limit() == 0 ? kMaxIntentsListed : std::min(op.limit(), kMaxIntentsListed);
  proto::MetaResult result;
  // Intents are few (each lives for milliseconds unless its driver went away); a bucket with
  // more than this many is recovered over several rounds.
  constexpr size_t kMaxIntentsScanned = 10'000;
  TESS_ASSIGN_OR_RETURN(
      auto intents, context.store.scan(intents_begin(context.bucket), intents_end(context.bucket),
                                       kMaxIntentsScanned));
  for (const auto& [key, value] : intents) {
    proto::TxnIntent intent;
    if (!intent.ParseFromString(value)) {
      return error(StatusCode::kCorruption, "intent in bucket {} unreadable", context.bucket);
    }
    if (intent.log_time_ms() >= op.before_log_ms()) continue;
    *result.add_intents() = std::move(intent);
    if (static_cast<uint32_t>(result.intents_size()) >= limit) break;
  }
  return result;
}

}  // namespace tessera::meta
