// Recovery of cross-bucket transactions whose driver went away
// (docs/design/2026-12-05-cross-bucket-transactions.md 3): a bucket's leader lists the intents
// older than the transaction timeout and drives each to its end. A coordinator's PREPARING
// intent is aborted (presumed abort) and its participants told; a COMMITTED one is finished; a
// participant's PREPARED intent asks its coordinator and commits, aborts, or waits.
//
// Every step is a transaction command, idempotent by id, so two recoveries (an old and a new
// leader) or a recovery racing the original driver reach the same end.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <vector>

#include "base/status.h"
#include "base/strong_id.h"
#include "bucket/bucket_host.h"
#include "meta/meta_transport.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::meta {

struct RecoveryCounts {
  uint32_t aborted = 0;   // Coordinator intents aborted, and participants told.
  uint32_t finished = 0;  // Committed transactions finished (as coordinator or participant).
  uint32_t waiting = 0;   // Participant intents whose coordinator is still deciding.
};

// Recovers the intents of `bucket` written before `before_log_ms` (the leader's log clock minus
// the timeout). Stops at the first transport failure (the next round goes on).
Task<Result<RecoveryCounts>> recover_transactions(MetaTransport& transport, BucketId bucket,
                                                  uint64_t before_log_ms, Deadline deadline);

// The buckets whose replica on `host` leads and whose applied state (read locally, so possibly
// stale) holds intents written before `before_log_ms`: the ones a recovery round must ask. Idle
// buckets cost no message, so a hibernated bucket stays asleep unless it has work.
std::vector<BucketId> buckets_to_recover(const bucket::BucketHost& host, uint64_t before_log_ms);

struct RecoveryLoopOptions {
  const Clock* clock = &RealClock::instance();
  // Wall-clock milliseconds since the Unix epoch, the clock of log times
  // (bucket::ReplicaOptions::unix_ms); nullptr: the system clock.
  std::function<uint64_t()> unix_ms;
  // A round every `interval`; an intent older than `txn_timeout` (by log time) is recovered. A
  // driver alive past the timeout finds its transaction aborted (safe: presumed abort), so the
  // timeout is well above a transaction's normal duration.
  Clock::Duration interval = std::chrono::seconds(1);
  Clock::Duration txn_timeout = std::chrono::seconds(5);
  // Each bucket's recovery within one round gets at most this long.
  Clock::Duration bucket_timeout = std::chrono::seconds(2);
};

struct RecoveryLoopStats {
  uint64_t rounds = 0;
  uint64_t failed = 0;  // Buckets whose recovery stopped at a transport failure.
  RecoveryCounts counts;
};

// RecoveryLoop: a process's recovery of abandoned transactions (design 3, "recovery"): every
// interval, recover_transactions for each bucket this process leads, one bucket after another.
// A failure is counted and retried next round; nothing is lost by a round cut short.
//
// Executor: lives on one executor; start(), stop() and stats() are called there, and the transport
// is used there. Lifecycle: construct -> start -> co_await stop -> destroy.
class RecoveryLoop {
 public:
  // The buckets to recover this round, given the log time before which intents are abandoned
  // (tessd: buckets_to_recover on its BucketHost).
  using LedBuckets = std::function<std::vector<BucketId>(uint64_t before_log_ms)>;
  // REQUIRES: `transport` outlives the loop.
  RecoveryLoop(Executor executor, MetaTransport& transport, LedBuckets led_buckets,
               RecoveryLoopOptions options);
  ~RecoveryLoop();
  RecoveryLoop(const RecoveryLoop&) = delete;
  RecoveryLoop& operator=(const RecoveryLoop&) = delete;

  void start();
  // Ends the loop; returns once a round in flight has ended (within bucket_timeout).
  Task<void> stop();
  const RecoveryLoopStats& stats() const { return stats_; }

 private:
  static Task<void> run(RecoveryLoop* self);
  Task<void> round();

  Executor executor_;
  MetaTransport& transport_;
  LedBuckets led_buckets_;
  RecoveryLoopOptions options_;
  RecoveryLoopStats stats_;
  bool running_ = false;
  bool stopping_ = false;
  boost::asio::steady_timer wake_timer_;     // Cancelled by stop() to end a wait.
  boost::asio::steady_timer stopped_timer_;  // Cancelled by run() when it ends.
};

}  // namespace tessera::meta
