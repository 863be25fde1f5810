// decide (design 3, step 3): the commit point. Commit applies the coordinator's part, keeps the
// intent COMMITTED until every participant has finished, and makes the operation's answer the
// client request's result; abort drops the part and the intent and answers the refusal. The
// answer comes back with the vote (txn); asked again, it answers the state it left.
#include <cerrno>

#include "base/fault_points.h"
#include "bucket/kv_state_machine.h"
#include "meta/keys.h"
#include "meta/ops/ops.h"
#include "meta/txn_part.h"

namespace tessera::meta {
namespace {

Status answer_request(const OpContext& context, const proto::TxnIntent& intent,
                      const proto::MetaResult& answer) {
  proto::BucketResult result;
  *result.mutable_meta() = answer;
  result.set_applied_index(context.index);
  // The client may have given up and acknowledged the request: then nobody waits for it.
  return bucket::replace_stored_result(context.store, context.bucket, intent.session(),
                                       intent.request(), result)
      .status();
}

// The answer of a committed operation, with the inode it created.
proto::MetaResult committed_answer(const OpContext& context, const proto::TxnIntent& intent,
                                   uint64_t created_inode) {
  proto::MetaResult answer = intent.answer();
  if (created_inode != 0) {
    proto::Inode& inode = *answer.mutable_inode();
    inode.set_id(created_inode);
    inode.set_fs(context.fs.value());
    inode.set_atime_ns(context.now_ns);
    inode.set_mtime_ns(context.now_ns);
    inode.set_ctime_ns(context.now_ns);
    inode.set_btime_ns(context.now_ns);
  }
  return answer;
}

}  // namespace

Result<proto::MetaResult> txn_decide(const OpContext& context, const proto::TxnDecide& op) {
  if (BucketId(op.id().coordinator()) != context.bucket) {
    return refuse(EINVAL, "a decision sent to a bucket that does not coordinate it");
  }
  std::string key = coordinator_intent_key(context.bucket, op.id().begin_index());
  proto::MetaResult result;
  proto::TxnVote& vote = *result.mutable_txn();
  *vote.mutable_id() = op.id();
  TESS_ASSIGN_OR_RETURN(auto recorded, context.store.get(key));
  if (!recorded) {
    // Aborted (by a recovering leader, say), or committed and forgotten: the driver's answer is
    // in the client request's stored result; this one says only that nothing is left.
    return result;
  }
  proto::TxnIntent intent;
  if (!intent.ParseFromString(*recorded)) {
    return error(StatusCode::kCorruption, "intent in bucket {} unreadable", context.bucket);
  }
  if (intent.state() != proto::TXN_STATE_PREPARING) {
    result = intent.answer();
    *result.mutable_txn()->mutable_id() = op.id();
    result.mutable_txn()->set_state(intent.state());
    return result;
  }
  if (!op.commit()) {
    TESS_COVER("meta.txn_aborted");
    unlock(context, intent.parts(0), /*created_inode=*/0);
    context.store.erase(key);
    proto::MetaResult refusal = op.refusal();
    if (refusal.errno_value() == 0) refusal = locked("the transaction");
    TESS_RETURN_IF_ERROR(answer_request(context, intent, refusal));
    *refusal.mutable_txn() = vote;
    return refusal;
  }
  TESS_COVER("meta.txn_committed");
  TESS_RETURN_IF_ERROR(apply_and_unlock(context, intent.parts(0), op.created_inode()));
  *intent.mutable_answer() = committed_answer(context, intent, op.created_inode());
  intent.set_state(proto::TXN_STATE_COMMITTED);
  intent.set_created_inode(op.created_inode());
  context.store.put(key, intent.SerializeAsString());
  TESS_RETURN_IF_ERROR(answer_request(context, intent, intent.answer()));
  result = intent.answer();
  *result.mutable_txn()->mutable_id() = op.id();
  result.mutable_txn()->set_state(proto::TXN_STATE_COMMITTED);
  return result;
}

}  // namespace tessera::meta
