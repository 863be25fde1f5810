// ConfigStore: what the control plane needs from etcd, as a small asynchronous interface, so that
// the control plane runs against real etcd (EtcdConfigStore, etcd_config_store.h) or against an
// in-memory store in unit tests and the simulator (FakeConfigStore, fake_config_store.h).
//
// The model is etcd v3's: one store revision, +1 on every change; each key has the revision that
// created it and the revision that last changed it, and may be attached to a lease (it disappears
// when the lease ends). Reads are linearizable and see one revision.
//
// Every call carries a Deadline and ends by it. Failures:
//   kUnavailable       the call certainly had no effect (no member reached, no quorum; the message
//                      says which: "etcd is unreachable" or "etcd has lost quorum"). Retry.
//   kDeadlineExceeded  for a write (txn, grant, revoke, keep-alive): the OUTCOME IS UNKNOWN, it
//                      may have been applied (base/status.h defines the code this way; the
//                      message starts "outcome unknown"). The caller finds out by reading
//                      (outcome_unknown() below). For a read: no answer in time.
//   kNotFound          keep_alive / revoke of a lease that has ended, or a put attached to one.
//   kOutOfRange        a read at a revision that is compacted or in the future.
//   kInvalidArgument   the store refused the request as malformed.
// Implementations say which executor they live on.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/strong_id.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera {

// An etcd lease id; 0 is none.
using LeaseId = StrongId<struct LeaseIdTag, int64_t>;

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  LeaseId lease;
};

struct RangeRequest {
  std::string key;
  bool prefix = false;      // Every key that starts with `key`.
  int64_t at_revision = 0;  // 0: the latest.
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // In key order.
  int64_t revision = 0;       // The store revision the read saw.
};

struct Compare {
  enum class Target { kCreateRevision, kModRevision, kValue };
  enum class Result { kEqual, kNotEqual, kLess, kGreater };
  std::string key;
  Target target = Target::kModRevision;
  Result result = Result::kEqual;
  int64_t revision = 0;  // For the revision targets; a missing key has revisions 0.
  std::string value;     // For kValue; a missing key fails every value comparison.
};

struct WriteOp {
  enum class Kind { kPut, kDelete, kDeletePrefix };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  LeaseId lease;  // For kPut: attach the key to this lease (0: none).
};

struct TxnResult {
  bool succeeded = false;  // Every comparison held and the ops were applied.
  int64_t revision = 0;    // The store revision after the transaction.
};

class ConfigStore {
 public:
  virtual ~ConfigStore() = default;

  virtual Task<Result<RangeResult>> range(RangeRequest request, Deadline deadline) = 0;
  // Applies `success` atomically if every comparison holds; otherwise changes nothing.
  virtual Task<Result<TxnResult>> txn(std::vector<Compare> compares, std::vector<WriteOp> success,
                                      Deadline deadline) = 0;
  // A lease that ends `ttl` after its grant or last keep-alive. REQUIRES: ttl >= 1 s.
  virtual Task<Result<LeaseId>> grant_lease(std::chrono::seconds ttl, Deadline deadline) = 0;
  virtual Task<Status> keep_alive(LeaseId lease, Deadline deadline) = 0;
  // Ends the lease and deletes its keys.
  virtual Task<Status> revoke_lease(LeaseId lease, Deadline deadline) = 0;

  // Conveniences over range() and txn().
  // nullopt if the key does not exist.
  Task<Result<std::optional<KeyValue>>> get(std::string key, Deadline deadline);
  Task<Result<RangeResult>> get_prefix(std::string prefix, Deadline deadline);
  // An unconditional put.
  Task<Status> put(std::string key, std::string value, LeaseId lease, Deadline deadline);
};

// True if `status` says a write may or may not have been applied (see the header comment).
inline bool outcome_unknown(const Status& status) {
  return status.code() == StatusCode::kDeadlineExceeded;
}

// The errors both stores give, so that callers and tests see one vocabulary.
Status lost_quorum_error(size_t answering, size_t members, std::string_view detail);
Status unreachable_error(size_t members, std::string_view detail);
Status outcome_unknown_error(std::string_view detail);

// The end of a prefix range: the prefix with its last byte incremented ("\0" for everything).
std::string prefix_end(std::string prefix);

}  // namespace tessera
