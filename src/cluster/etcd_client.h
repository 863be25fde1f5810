// EtcdClient: the etcd v3 API through etcd's JSON gateway (HTTP/1.1), blocking. It knows every
// member's client endpoint and moves to the next one when a member does not answer, so the cluster
// keeps working while a quorum of members lives. When no member can serve, the error says why:
// unreachable, or reachable without a leader (quorum lost).
//
// Every call ends by its deadline: the time left is each HTTP request's timeout. Reads (and
// keep-alive and revoke, which are idempotent) move to the next member after any failure. Writes
// (transactions, lease grants) move on only when the request certainly did not reach the member
// (the connection was refused, or etcd said it has no leader); otherwise they fail with
// outcome-unknown (kDeadlineExceeded, config_store.h), because a replayed compare-and-swap that
// succeeded the first time reports failure, and a replayed grant leaks a lease.
//
// Thread-safe: each call uses its own connection. Used from EtcdConfigStore's thread pool, never
// from an event loop. Error vocabulary: config_store.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/config_store.h"
#include "runtime/deadline.h"

namespace tessera {

class EtcdClient {
 public:
  // `endpoints`: "host:port" of each member's client URL. REQUIRES: at least one.
  explicit EtcdClient(std::vector<std::string> endpoints);

  Result<RangeResult> range(const RangeRequest& request, const Deadline& deadline) const;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<WriteOp>& success,
                        const Deadline& deadline) const;
  Result<LeaseId> grant_lease(std::chrono::seconds ttl, const Deadline& deadline) const;
  // kNotFound once etcd has ended the lease.
  Status keep_alive(LeaseId lease, const Deadline& deadline) const;
  Status revoke_lease(LeaseId lease, const Deadline& deadline) const;

  const std::vector<std::string>& endpoints() const { return endpoints_; }

 private:
  enum class Replay { kAfterAnyFailure, kOnlyIfUnsent };
  // POSTs `body` to `path` on the first member that answers; the response body.
  Result<std::string> post(const std::string& path, const std::string& body, Replay replay,
                           const Deadline& deadline) const;
  Status diagnose(const Status& last, const Deadline& deadline) const;

  std::vector<std::string> endpoints_;
  mutable std::atomic<size_t> preferred_{0};
};

std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

}  // namespace tessera
