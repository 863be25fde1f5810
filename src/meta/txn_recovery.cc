#include "meta/txn_recovery.h"

#include <cerrno>
#include <chrono>

#include "base/fault_points.h"
#include "meta/context.h"
#include "meta/txn_runner.h"
#include "runtime/clock.h"

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
  // Answered `locked`: a driver still waiting for this request retries it as a new one (nothing
  // happened), instead of failing an operation that only took too long.
  *decide.mutable_decide()->mutable_refusal() = locked("the timed-out transaction");
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
    // Not a conditional expression: GCC 12 destroys the temporaries of a co_await inside ?:
    // twice (a use after free the simulator found).
    Status recovered;
    if (coordinator) {
      recovered = co_await recover_coordinator(transport, intent, counts, deadline);
    } else {
      recovered = co_await recover_participant(transport, bucket, intent, counts, deadline);
    }
    if (!recovered.ok()) co_return recovered;
  }
  co_return counts;
}

std::vector<BucketId> buckets_to_recover(const bucket::BucketHost& host, uint64_t before_log_ms) {
  proto::MetaRead list;
  list.mutable_list_intents()->set_before_log_ms(before_log_ms);
  list.mutable_list_intents()->set_limit(1);
  std::vector<BucketId> buckets;
  for (const bucket::ReplicaStatus& status : host.status()) {
    if (status.role != raft::Role::kLeader) continue;
    const bucket::Replica* replica = host.replica(status.bucket);
    if (replica == nullptr) continue;
    auto listed = replica->local_meta_read(list);
    // A replica that cannot read its own state is asked the linearizable way, which reports why.
    if (!listed.ok() || listed->meta().intents_size() > 0) buckets.push_back(status.bucket);
  }
  return buckets;
}

RecoveryLoop::RecoveryLoop(Executor executor, MetaTransport& transport, LedBuckets led_buckets,
                           RecoveryLoopOptions options)
    : executor_(std::move(executor)),
      transport_(transport),
      led_buckets_(std::move(led_buckets)),
      options_(std::move(options)),
      wake_timer_(executor_),
      stopped_timer_(executor_) {
  if (!options_.unix_ms) options_.unix_ms = system_unix_ms;
}

RecoveryLoop::~RecoveryLoop() { TESS_ASSERT(!running_, "recovery loop destroyed while running"); }

void RecoveryLoop::start() {
  TESS_ASSERT(!running_ && !stopping_, "recovery loop started twice");
  running_ = true;
  spawn_detached(executor_, run(this), "meta: transaction recovery");
}

Task<void> RecoveryLoop::stop() {
  stopping_ = true;
  wake_timer_.cancel();
  const Clock& clock = *options_.clock;
  while (running_) co_await clock.wait(stopped_timer_, Clock::TimePoint::max());
}

Task<void> RecoveryLoop::run(RecoveryLoop* self) {
  const Clock& clock = *self->options_.clock;
  while (!self->stopping_) {
    co_await clock.wait(self->wake_timer_, clock.now() + self->options_.interval);
    if (self->stopping_) break;
    co_await self->round();
  }
  self->running_ = false;
  self->stopped_timer_.cancel();
}

Task<void> RecoveryLoop::round() {
  ++stats_.rounds;
  auto timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options_.txn_timeout);
  uint64_t now_ms = options_.unix_ms();
  uint64_t before_log_ms = now_ms > static_cast<uint64_t>(timeout_ms.count())
                               ? now_ms - static_cast<uint64_t>(timeout_ms.count())
                               : 0;
  for (BucketId bucket : led_buckets_(before_log_ms)) {
    if (stopping_) break;
    Deadline deadline = Deadline::after(options_.bucket_timeout, *options_.clock);
    auto recovered = co_await recover_transactions(transport_, bucket, before_log_ms, deadline);
    if (!recovered.ok()) {
      ++stats_.failed;
      continue;
    }
    stats_.counts.aborted += recovered->aborted;
    stats_.counts.finished += recovered->finished;
    stats_.counts.waiting += recovered->waiting;
  }
}

}  // namespace tessera::meta
