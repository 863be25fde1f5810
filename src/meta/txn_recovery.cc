#include "meta/txn_recovery.h"

#include <cerrno>

#include "base/fault_points.h"
#include "meta/context.h"
#include "meta/txn_runner.h"

namespace tessera::meta {
namespace {

proto::MetaTxnCommand command_of(const proto::TxnIntent& intent) {
  proto::MetaTxnCommand command;
  command.set_fs(intent.fs());
  return command;
}

Task<Status> recover_coordinator(MetaTransport& transport, const proto::TxnIntent& intent,
                                 RecoveryCounts& counts, Deadline deadline) {
  FilesystemId fs(intent.fs());
  if (intent.state() == proto::TXN_STATE_COMMITTED) {
    TESS_COVER("meta.txn_recovery_finishes");
    ++counts.finished;
    co_return co_await finish_transaction(transport, fs, intent.id(), intent.parts(), true,
                                          deadline);
  }
  TESS_COVER("meta.txn_recovery_aborts");
  proto::MetaTxnCommand decide = command_of(intent);
  *decide.mutable_decide()->mutable_id() = intent.id();
  decide.mutable_decide()->set_commit(false);
  *decide.mutable_decide()->mutable_refusal() = refuse(ETIMEDOUT, "the transaction timed out");
  TESS_CO_ASSIGN_OR_RETURN(auto decided, co_await transport.txn(BucketId(intent.id().coordinator()),
                                                                std::move(decide), deadline));
  bool committed = decided.txn().state() == proto::TXN_STATE_COMMITTED;  // Its driver won.
  if (!committed) ++counts.aborted;
  if (committed) ++counts.finished;
  co_return co_await finish_transaction(transport, fs, intent.id(), intent.parts(), committed,
                                        deadline);
}

Task<Status> recover_participant(MetaTransport& transport, BucketId bucket,
                                 const proto::TxnIntent& intent, RecoveryCounts& counts,
                                 Deadline deadline) {
  proto::MetaRead ask;
  ask.set_fs(intent.fs());
  *ask.mutable_txn_status()->mutable_id() = intent.id();
  TESS_CO_ASSIGN_OR_RETURN(auto status, co_await transport.read(BucketId(intent.id().coordinator()),
                                                                std::move(ask), deadline));
  if (status.errno_value() != 0) {
    co_return error(StatusCode::kUnavailable, "coordinator {} answered {}: {}",
                    intent.id().coordinator(), status.errno_value(), status.message());
  }
  proto::TxnState state = status.txn().state();
  if (state == proto::TXN_STATE_PREPARING) {
    ++counts.waiting;
    co_return Status();
  }
  bool commit = state == proto::TXN_STATE_COMMITTED;
  TESS_COVER("meta.txn_recovery_asked_the_coordinator");
  proto::MetaTxnCommand finish = command_of(intent);
  *finish.mutable_finish()->mutable_id() = intent.id();
  finish.mutable_finish()->set_commit(commit);
  TESS_CO_ASSIGN_OR_RETURN(auto finished,
                           co_await transport.txn(bucket, std::move(finish), deadline));
  (void)finished;
  if (commit) ++counts.finished;
  if (!commit) ++counts.aborted;
  co_return Status();
}

}  // namespace

Task<Result<RecoveryCounts>> recover_transactions(MetaTransport& transport, BucketId bucket,
                                                  uint64_t before_log_ms, Deadline deadline) {
  proto::MetaRead list;
  list.mutable_list_intents()->set_before_log_ms(before_log_ms);
  TESS_CO_ASSIGN_OR_RETURN(auto listed, co_await transport.read(bucket, std::move(list), deadline));
  RecoveryCounts counts;
  for (const proto::TxnIntent& intent : listed.intents()) {
    bool coordinator = BucketId(intent.id().coordinator()) == bucket &&
                       intent.state() != proto::TXN_STATE_PREPARED;
    Status recovered =
        coordinator ? co_await recover_coordinator(transport, intent, counts, deadline)
                    : co_await recover_participant(transport, bucket, intent, counts, deadline);
    if (!recovered.ok()) co_return recovered;
  }
  co_return counts;
}

}  // namespace tessera::meta
