// BucketClient: a client's way to the buckets (design 7). It finds a bucket's leader from the
// directory (the cluster map's desired replicas, preferred leader first) and from "not leader, try
// X" answers, retries on leader changes, dead hosts and stale maps within the caller's deadline,
// and makes every mutation exactly-once: each carries (session, request, acked_below), and a retry
// reuses its request id, so the bucket answers it once (KvStateMachine). Reads are linearizable
// (the leader's lease or a ReadIndex round).
//
// Outcomes: a Result holding the BucketResult (whose status_code is the command's own answer,
// e.g. a cas that did not match is OK with found = false); kDeadlineExceeded when the deadline
// passed first (for a mutation: the outcome is unknown); the first non-retryable error otherwise
// (kInvalidArgument: a malformed request).
//
// Lives on one executor; call it only from tasks there. It will move into the client library
// (src/client) with the namespace, whose operations it will carry.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bucket/raft_transport.h"
#include "proto/bucket.pb.h"
#include "rpc/client.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::bucket {

// Where the buckets are: the cluster map as the client sees it.
class BucketDirectory {
 public:
  virtual ~BucketDirectory() = default;
  // The hosts that should hold the bucket's replicas, the preferred leader first.
  virtual std::vector<HostId> replicas(BucketId bucket) const = 0;
  virtual std::optional<PeerAddress> address(HostId host) const = 0;
  // The map may be stale (a host said it holds no replica of a bucket): fetch it again.
  virtual Task<Status> refresh(Deadline deadline) = 0;
};

struct BucketClientOptions {
  const Clock* clock = &RealClock::instance();
  rpc::Network* network = nullptr;  // nullptr: TCP.
  // This client's session: random and non-zero, from the owner's randomness.
  uint64_t session = 0;
  // One attempt's budget (within the caller's deadline): a dead leader costs at most this.
  std::chrono::milliseconds attempt_timeout{1000};
  Clock::Duration min_backoff = std::chrono::milliseconds(5);
  Clock::Duration max_backoff = std::chrono::milliseconds(200);
};

struct BucketClientStats {
  uint64_t attempts = 0;
  uint64_t redirects = 0;  // Followed a "not leader, try X".
  uint64_t retries = 0;    // After a failure, on another replica or after a backoff.
};

class BucketClient {
 public:
  BucketClient(Executor executor, BucketDirectory& directory, BucketClientOptions options);
  ~BucketClient();
  BucketClient(const BucketClient&) = delete;
  BucketClient& operator=(const BucketClient&) = delete;

  Task<Result<proto::BucketResult>> put(BucketId bucket, std::string key, std::string value,
                                        Deadline deadline);
  Task<Result<proto::BucketResult>> remove(BucketId bucket, std::string key, Deadline deadline);
  // Sets `value` if the key holds `expected` (nullopt: if it is absent); found = it did.
  Task<Result<proto::BucketResult>> compare_and_set(BucketId bucket, std::string key,
                                                    std::optional<std::string> expected,
                                                    std::string value, Deadline deadline);
  Task<Result<proto::BucketResult>> get(BucketId bucket, std::string key, Deadline deadline);
  Task<Result<proto::BucketResult>> range(BucketId bucket, std::string start, std::string end,
                                          uint32_t limit, Deadline deadline);
  // A namespace mutation (exactly-once like every mutation) and a linearizable namespace read;
  // the answer is in BucketResult.meta.
  Task<Result<proto::BucketResult>> meta(BucketId bucket, proto::MetaCommand command,
                                         Deadline deadline);
  // The same as meta(), as `request` of a request the caller holds open (open_request): its
  // stored result stays in the bucket until close_request, so that a cross-bucket transaction can
  // answer it later (docs/design/2026-12-05-cross-bucket-transactions.md 3).
  uint64_t open_request();
  void close_request(uint64_t request);
  Task<Result<proto::BucketResult>> meta(BucketId bucket, proto::MetaCommand command,
                                         uint64_t request, Deadline deadline);
  // A transaction command: no session (each is idempotent by transaction id).
  Task<Result<proto::BucketResult>> meta_txn(BucketId bucket, proto::MetaTxnCommand command,
                                             Deadline deadline);
  Task<Result<proto::BucketResult>> meta_read(BucketId bucket, proto::MetaRead read,
                                              Deadline deadline);
  // Waits until the bucket's entries up to `index` (an applied_index a result returned) are
  // durable on a majority.
  Task<Status> sync_to(BucketId bucket, uint64_t index, Deadline deadline);

  const BucketClientStats& stats() const { return stats_; }
  uint64_t session() const { return options_.session; }
  // Closes every connection (outstanding calls fail).
  void close();

 private:
  Task<Result<proto::BucketResult>> mutate(BucketId bucket, proto::BucketCommand command,
                                           Deadline deadline);
  // Sends `command` as it is (its header set, or none) to the bucket's leader.
  Task<Result<proto::BucketResult>> send_mutation(BucketId bucket, proto::BucketCommand command,
                                                  Deadline deadline);
  // A read: `call` without its bucket, which this sets.
  Task<Result<proto::BucketResult>> read(BucketId bucket, proto::BucketCallRequest call,
                                         Deadline deadline);
  // Sends a call to the bucket's leader, following redirects and retrying, until it is answered
  // or `deadline` passes. `reply` receives the answering response's bytes.
  Task<Result<rpc::Reply>> call_leader(BucketId bucket, uint32_t message_type, std::string request,
                                       Deadline deadline);
  rpc::RpcClient* client_of(HostId host);

  Executor executor_;
  BucketDirectory& directory_;
  BucketClientOptions options_;
  std::map<HostId, std::unique_ptr<rpc::RpcClient>> clients_;
  std::map<BucketId, HostId> leaders_;
  uint64_t next_request_ = 1;
  std::set<uint64_t> outstanding_;
  BucketClientStats stats_;
};

}  // namespace tessera::bucket
