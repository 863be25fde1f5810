// prepare (design 3, step 2): a participant checks and locks its part and records it PREPARED,
// voting yes (with the inode id its create allocated), or votes no with the errno. Asked again,
// it answers the vote it recorded; a no leaves nothing behind (presumed abort).
#include <cerrno>

#include "meta/keys.h"
#include "meta/ops/ops.h"
#include "meta/txn_part.h"

namespace tessera::meta {

Result<proto::MetaResult> txn_prepare(const OpContext& context, const proto::TxnPrepare& op) {
  if (BucketId(op.part().bucket()) != context.bucket) {
    return refuse(EINVAL, fmt::format("a part for bucket {} sent to bucket {}", op.part().bucket(),
                                      context.bucket));
  }
  std::string key = participant_intent_key(context.bucket, BucketId(op.id().coordinator()),
                                           op.id().begin_index());
  proto::MetaResult result;
  proto::TxnVote& vote = *result.mutable_txn();
  *vote.mutable_id() = op.id();
  TESS_ASSIGN_OR_RETURN(auto recorded, context.store.get(key));
  if (recorded) {
    proto::TxnIntent intent;
    if (!intent.ParseFromString(*recorded)) {
      return error(StatusCode::kCorruption, "intent in bucket {} unreadable", context.bucket);
    }
    vote.set_yes(true);
    vote.set_created_inode(intent.created_inode());
    return result;
  }
  TESS_ASSIGN_OR_RETURN(auto checked, check_and_lock(context, op.id(), op.part()));
  if (!checked.ok()) {
    proto::MetaResult no = checked.refusal();
    *no.mutable_txn() = vote;
    return no;
  }
  proto::TxnIntent intent;
  *intent.mutable_id() = op.id();
  intent.set_state(proto::TXN_STATE_PREPARED);
  intent.set_fs(context.fs.value());
  *intent.add_parts() = op.part();
  intent.set_created_inode(*checked);
  intent.set_log_time_ms(static_cast<uint64_t>(context.now_ns / 1'000'000));
  context.store.put(key, intent.SerializeAsString());
  vote.set_yes(true);
  vote.set_created_inode(*checked);
  return result;
}

}  // namespace tessera::meta
