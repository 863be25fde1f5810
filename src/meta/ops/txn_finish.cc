// finish (design 3, step 4): a participant applies (commit) or drops (abort) its part, releases
// its locks and forgets the transaction; forget: the coordinator drops a committed transaction
// once every participant has finished. Both do nothing when there is nothing left to do.
#include <cerrno>

#include "base/fault_points.h"
#include "meta/keys.h"
#include "meta/ops/ops.h"
#include "meta/txn_part.h"

namespace tessera::meta {
namespace {

Result<std::optional<proto::TxnIntent>> load_intent(const OpContext& context,
                                                    const std::string& key) {
  TESS_ASSIGN_OR_RETURN(auto recorded, context.store.get(key));
  if (!recorded) return std::optional<proto::TxnIntent>();
  proto::TxnIntent intent;
  if (!intent.ParseFromString(*recorded)) {
    return error(StatusCode::kCorruption, "intent in bucket {} unreadable", context.bucket);
  }
  return std::optional<proto::TxnIntent>(std::move(intent));
}

}  // namespace

Result<proto::MetaResult> txn_finish(const OpContext& context, const proto::TxnFinish& op) {
  std::string key = participant_intent_key(context.bucket, BucketId(op.id().coordinator()),
                                           op.id().begin_index());
  TESS_ASSIGN_OR_RETURN(auto intent, load_intent(context, key));
  proto::MetaResult result;
  *result.mutable_txn()->mutable_id() = op.id();
  if (!intent) return result;
  if (op.commit()) {
    TESS_COVER("meta.txn_participant_committed");
    TESS_RETURN_IF_ERROR(apply_and_unlock(context, intent->parts(0), intent->created_inode()));
  } else {
    TESS_COVER("meta.txn_participant_aborted");
    unlock(context, intent->parts(0), intent->created_inode());
  }
  context.store.erase(key);
  return result;
}

Result<proto::MetaResult> txn_forget(const OpContext& context, const proto::TxnForget& op) {
  std::string key = coordinator_intent_key(context.bucket, op.id().begin_index());
  TESS_ASSIGN_OR_RETURN(auto intent, load_intent(context, key));
  proto::MetaResult result;
  *result.mutable_txn()->mutable_id() = op.id();
  if (!intent) return result;
  if (intent->state() != proto::TXN_STATE_COMMITTED) {
    return refuse(EINVAL, "only a committed transaction is forgotten");
  }
  context.store.erase(key);
  return result;
}

}  // namespace tessera::meta
