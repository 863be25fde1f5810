// begin (design 3, step 1): the coordinator checks and locks its own part and records the
// transaction PREPARING; the client's request now answers "pending" until the decision. Joining:
// a begin for a request that already has a transaction (or its answer) returns that instead.
#include <cerrno>

#include "base/fault_points.h"
#include "bucket/kv_state_machine.h"
#include "meta/keys.h"
#include "meta/ops/ops.h"
#include "meta/txn_part.h"

namespace tessera::meta {
namespace {

Status answer_request(const OpContext& context, const proto::TxnBegin& op,
                      const proto::MetaResult& answer) {
  proto::BucketResult result;
  *result.mutable_meta() = answer;
  result.set_applied_index(context.index);
  // txn_begin checked that the request's result is stored: it is replaced.
  return bucket::replace_stored_result(context.store, context.bucket, op.session(), op.request(),
                                       result)
      .status();
}

}  // namespace

Result<proto::MetaResult> txn_begin(const OpContext& context, const proto::TxnBegin& op) {
  if (op.parts_size() == 0 || BucketId(op.parts(0).bucket()) != context.bucket) {
    return refuse(EINVAL, "a transaction's first part must be its coordinator's");
  }
  TESS_ASSIGN_OR_RETURN(
      auto first, bucket::stored_result(context.store, context.bucket, op.session(), op.request()));
  if (!first) {
    return refuse(EALREADY, fmt::format("request {}/{} was answered and acknowledged", op.session(),
                                        op.request()));
  }
  if (!first->meta().cross_bucket()) {
    // A transaction for this request exists (pending) or has answered it.
    TESS_COVER("meta.txn_begin_joined");
    return first->meta();
  }
  proto::TxnId id;
  id.set_coordinator(context.bucket.value());
  id.set_begin_index(context.index);
  TESS_ASSIGN_OR_RETURN(auto checked, check_and_lock(context, id, op.parts(0)));
  if (!checked.ok()) {
    TESS_RETURN_IF_ERROR(answer_request(context, op, checked.refusal()));
    return checked.refusal();
  }
  TESS_ASSERT(*checked == 0, "a coordinator part creates an inode");
  proto::TxnIntent intent;
  *intent.mutable_id() = id;
  intent.set_state(proto::TXN_STATE_PREPARING);
  intent.set_fs(context.fs.value());
  intent.set_session(op.session());
  intent.set_request(op.request());
  *intent.mutable_parts() = op.parts();
  *intent.mutable_answer() = op.answer();
  intent.set_log_time_ms(static_cast<uint64_t>(context.now_ns / 1'000'000));
  context.store.put(coordinator_intent_key(context.bucket, context.index),
                    intent.SerializeAsString());
  proto::MetaResult pending;
  *pending.mutable_pending() = id;
  TESS_RETURN_IF_ERROR(answer_request(context, op, pending));
  return pending;
}

}  // namespace tessera::meta
