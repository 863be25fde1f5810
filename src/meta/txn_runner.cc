#include "meta/txn_runner.h"

#include <algorithm>
#include <cerrno>

#include "base/fault_points.h"
#include "meta/context.h"
#include "meta/plan.h"

namespace tessera::meta {
namespace {

proto::MetaTxnCommand command_of(FilesystemId fs) {
  proto::MetaTxnCommand command;
  command.set_fs(fs.value());
  return command;
}

Task<Result<proto::MetaResult>> decide(MetaTransport& transport, FilesystemId fs,
                                       const proto::TxnId& id, bool commit, uint64_t created_inode,
                                       proto::MetaResult refusal, Deadline deadline) {
  proto::MetaTxnCommand command = command_of(fs);
  proto::TxnDecide& op = *command.mutable_decide();
  *op.mutable_id() = id;
  op.set_commit(commit);
  op.set_created_inode(created_inode);
  if (!commit) {
    refusal.clear_txn();
    *op.mutable_refusal() = std::move(refusal);
  }
  co_return co_await transport.txn(BucketId(id.coordinator()), std::move(command), deadline);
}

// The refusal that ends a directory move under the rename lock (CycleCheck): EINVAL for a cycle,
// a read's refusal (locked: a move's parent is still being changed), or nullopt to go on.
Task<Result<std::optional<proto::MetaResult>>> refuse_cycles(MetaTransport& transport,
                                                             FilesystemId fs,
                                                             const std::vector<CycleCheck>& checks,
                                                             Deadline deadline) {
  for (const CycleCheck& check : checks) {
    TESS_CO_ASSIGN_OR_RETURN(auto cycle, co_await is_ancestor(transport, proto::Caller(), fs,
                                                              check.moved, check.dir, deadline));
    if (!cycle.ok()) co_return std::optional(cycle.refusal());
    if (*cycle) {
      TESS_COVER("meta.txn_cycle_found_under_lock");
      co_return std::optional(refuse(EINVAL, "a directory cannot move into itself"));
    }
  }
  co_return std::optional<proto::MetaResult>();
}

}  // namespace

Task<Status> finish_transaction(MetaTransport& transport, FilesystemId fs, const proto::TxnId& id,
                                const google::protobuf::RepeatedPtrField<proto::TxnPart>& parts,
                                bool commit, Deadline deadline) {
  // Participants one after another: a transaction has at most three, and each answer is one
  // log round trip of its bucket.
  for (int i = 1; i < parts.size(); ++i) {
    proto::MetaTxnCommand command = command_of(fs);
    *command.mutable_finish()->mutable_id() = id;
    command.mutable_finish()->set_commit(commit);
    auto finished =
        co_await transport.txn(BucketId(parts[i].bucket()), std::move(command), deadline);
    if (!finished.ok()) co_return finished.status();
  }
  if (!commit) co_return Status();
  proto::MetaTxnCommand forget = command_of(fs);
  *forget.mutable_forget()->mutable_id() = id;
  auto forgotten = co_await transport.txn(BucketId(id.coordinator()), std::move(forget), deadline);
  co_return forgotten.status();
}

Task<Result<proto::MetaResult>> run_transaction(MetaTransport& transport, FilesystemId fs,
                                                proto::TxnBegin begin,
                                                std::vector<CycleCheck> cycle_checks,
                                                Deadline deadline) {
  TESS_ASSERT(begin.parts_size() > 0, "a transaction without parts");
  // Where the rename lock is prepared: the coordinator's part or the next one (PartsBuilder).
  int lock_index = -1;
  for (int i = 0; i < std::min(begin.parts_size(), 2); ++i) {
    if (begin.parts(i).rename_lock()) lock_index = i;
  }
  TESS_ASSERT(cycle_checks.empty() || lock_index >= 0, "cycle checks without the rename lock");
  google::protobuf::RepeatedPtrField<proto::TxnPart> parts = begin.parts();
  proto::MetaTxnCommand begin_command = command_of(fs);
  *begin_command.mutable_begin() = std::move(begin);
  TESS_CO_ASSIGN_OR_RETURN(
      auto started,
      co_await transport.txn(BucketId(parts[0].bucket()), std::move(begin_command), deadline));
  // A refusal at the coordinator, or the answer of a transaction this request already ran.
  if (!started.has_pending()) co_return started;
  proto::TxnId id = started.pending();
  // The simulator's dead driver: the process running it stops here, leaving the transaction to
  // the leaders' recovery.
  if (TESS_BUGGIFY("meta.txn_driver_dies_after_begin")) {
    co_return error(StatusCode::kUnavailable, "the driver stopped after begin (simulated)");
  }

  uint64_t created_inode = 0;
  std::optional<proto::MetaResult> no;
  Status failure;
  int prepared = 1;  // parts[1, prepared) voted yes.
  if (!cycle_checks.empty() && lock_index == 0) {
    auto refusal = co_await refuse_cycles(transport, fs, cycle_checks, deadline);
    if (!refusal.ok()) failure = refusal.status();
    if (refusal.ok() && *refusal) no = std::move(**refusal);
  }
  for (; !no && failure.ok() && prepared < parts.size(); ++prepared) {
    proto::MetaTxnCommand command = command_of(fs);
    *command.mutable_prepare()->mutable_id() = id;
    *command.mutable_prepare()->mutable_part() = parts[prepared];
    auto vote =
        co_await transport.txn(BucketId(parts[prepared].bucket()), std::move(command), deadline);
    if (!vote.ok()) {
      failure = vote.status();
      break;
    }
    if (!vote->txn().yes()) {
      no = std::move(*vote);
      break;
    }
    if (vote->txn().created_inode() != 0) created_inode = vote->txn().created_inode();
    if (TESS_BUGGIFY("meta.txn_driver_dies_after_prepare")) {
      co_return error(StatusCode::kUnavailable, "the driver stopped after a prepare (simulated)");
    }
    if (prepared == lock_index && !cycle_checks.empty()) {
      auto refusal = co_await refuse_cycles(transport, fs, cycle_checks, deadline);
      if (!refusal.ok() || *refusal) {
        ++prepared;  // This part voted yes: it is told of the abort.
        if (!refusal.ok()) failure = refusal.status();
        if (refusal.ok()) no = std::move(**refusal);
        break;
      }
    }
  }

  if (no || !failure.ok()) {
    TESS_COVER("meta.txn_runner_aborts");
    // The participant that could not be reached may have prepared: it asks the coordinator
    // later, finds nothing, and aborts. Those that voted yes are told now.
    proto::MetaResult refusal = no ? *no : locked("a participant of the transaction");
    auto decided = co_await decide(transport, fs, id, false, 0, refusal, deadline);
    if (!decided.ok()) co_return decided.status();
    if (decided->txn().state() == proto::TXN_STATE_COMMITTED) {
      // Someone else decided first (a recovering leader found every vote): that stands.
      co_return std::move(*decided);
    }
    google::protobuf::RepeatedPtrField<proto::TxnPart> yes(parts.begin(), parts.begin() + prepared);
    (void)co_await finish_transaction(transport, fs, id, yes, false, deadline);
    if (!failure.ok()) co_return failure;
    refusal.clear_txn();
    co_return refusal;
  }

  proto::MetaResult none;
  auto decided = co_await decide(transport, fs, id, true, created_inode, none, deadline);
  if (!decided.ok()) co_return decided.status();
  if (decided->txn().state() != proto::TXN_STATE_COMMITTED) {
    // Aborted by a recovering leader before this decision: the operation did not happen.
    co_return locked("the transaction (aborted by recovery)");
  }
  if (TESS_BUGGIFY("meta.txn_driver_dies_after_decide")) {
    co_return error(StatusCode::kUnavailable, "the driver stopped after its decision (simulated)");
  }
  Status finished = co_await finish_transaction(transport, fs, id, parts, true, deadline);
  if (!finished.ok()) {
    TESS_COVER("meta.txn_runner_finish_left_to_recovery");
  }
  proto::MetaResult answer = std::move(*decided);
  answer.clear_txn();
  co_return answer;
}

Task<Result<proto::MetaResult>> run_cross_bucket(MetaTransport& transport, uint32_t bucket_count,
                                                 const proto::MetaCommand& command,
                                                 uint64_t session, uint64_t request,
                                                 Deadline deadline) {
  TESS_CO_ASSIGN_OR_RETURN(Plan plan,
                           co_await plan_transaction(transport, bucket_count, command, deadline));
  if (!plan.begin) co_return std::move(plan.answer);
  plan.begin->set_session(session);
  plan.begin->set_request(request);
  co_return co_await run_transaction(transport, FilesystemId(command.fs()), std::move(*plan.begin),
                                     std::move(plan.cycle_checks), deadline);
}

}  // namespace tessera::meta
