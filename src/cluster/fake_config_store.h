// FakeConfigStore: an in-memory etcd for unit tests and the simulator (docs/architecture.md 2.5).
// Revisions, create and mod revisions, reads at a past revision, transactions with comparisons,
// and leases that end on a Clock, with etcd's semantics (config_store.h); no watches.
//
// Each node talks to the store through its own handle, client(name), so that a fault can hit one
// node or all of them. Faults are chosen by the caller (the simulator passes its seeded choices):
//   kStall       every call waits until its deadline and fails with kDeadlineExceeded (a write
//                is then NOT applied; its caller still cannot know that);
//   kFail        every call fails at once with kUnavailable ("etcd is unreachable");
//   kLostQuorum  every call fails at once with the real client's "etcd has lost quorum" error;
//   ambiguous writes: the next N writes are applied but their answer is lost (the caller sees
//                outcome-unknown, kDeadlineExceeded);
//   early lease expiry: etcd can end a lease that was just renewed (etcd issues #15247, #12528).
// An optional latency delays each call (before it takes effect) on the store's clock.
//
// Deterministic: no threads, no real time; leases end when the store's clock passes their expiry,
// checked at every call (so an expiry is seen by the next call, as with etcd). Lives on one
// executor: every call, fault control and inspection is made from it. The store must outlive its
// handles' users.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/config_store.h"
#include "runtime/clock.h"

namespace tessera {

class FakeConfigStore {
 public:
  enum class Fault { kNone, kStall, kFail, kLostQuorum };

  // A write to a recorded key (record_writes()) and the state of the witness key when it
  // committed: what an invariant checker needs ("every map write was made under the election key
  // of its writer").
  struct WitnessedWrite {
    std::string client;    // The handle that wrote.
    int64_t revision = 0;  // The store revision of the write.
    std::string key;
    std::string value;
    std::optional<KeyValue> witness;  // The witness key at that revision (nullopt: absent).
    std::string witness_lease_owner;  // The client that was granted the witness's lease.
  };

  // Leases end on `clock` (the simulator's undrifted time). REQUIRES: `clock` outlives the store.
  explicit FakeConfigStore(const Clock& clock);
  ~FakeConfigStore();
  FakeConfigStore(const FakeConfigStore&) = delete;
  FakeConfigStore& operator=(const FakeConfigStore&) = delete;

  // The handle of node `name`, made on first use; the reference stays valid as long as the store.
  ConfigStore& client(const std::string& name);

  // Faults. An empty name means every client (present and future); a client's own setting wins
  // over the all-clients setting while it is not kNone.
  void set_fault(const std::string& client, Fault fault);
  void set_fault_all(Fault fault);
  // The next `count` writes (txn, grant, keep-alive, revoke) of `client` are applied but answered
  // with outcome-unknown.
  void make_writes_ambiguous(const std::string& client, int count);
  // Every call of `client` first waits `latency` on the store's clock. Reads only, or all calls.
  void set_latency(const std::string& client, Clock::Duration latency, bool reads_only);
  // Ends `lease` now, deleting its keys, as if its TTL had passed. False if it had ended already.
  bool expire_lease(LeaseId lease);
  // Ends every lease granted to `client`. Returns how many ended.
  size_t expire_leases_of(const std::string& client);
  // Forgets history before `revision`: reads at older revisions fail with kOutOfRange.
  void compact(int64_t revision);

  // Inspection (no faults, no latency).
  int64_t revision() const { return revision_; }
  std::optional<KeyValue> peek(const std::string& key);
  std::vector<KeyValue> peek_prefix(const std::string& prefix);
  // The leases alive now, with the client that was granted each.
  std::map<LeaseId, std::string> live_leases();
  // How many leases ended by expiry (TTL passed or expire_lease) so far, by client.
  size_t expired_lease_count(const std::string& client) const;
  // Records every successful write of a key starting with `prefix`, with the state of
  // `witness_key` at that revision.
  void record_writes(std::string prefix, std::string witness_key);
  const std::vector<WitnessedWrite>& witnessed_writes() const { return witnessed_; }

 private:
  class Client;
  struct Version {
    int64_t revision = 0;
    bool deleted = false;
    KeyValue kv;  // Meaningful unless deleted.
  };
  struct Lease {
    std::string owner;
    Clock::Duration ttl{};
    Clock::TimePoint expires_at;
  };
  friend class Client;

  Fault fault_of(const std::string& client) const;
  // Ends leases whose time has passed. Called at the start of every call.
  void expire_due_leases();
  void end_lease(std::map<LeaseId, Lease>::iterator lease, bool expired);
  const KeyValue* latest(const std::string& key) const;
  std::optional<KeyValue> at_revision(const std::string& key, int64_t revision) const;
  bool holds(const Compare& compare) const;
  // Applies one op at revision_ + 1; true if it changed anything.
  bool apply(const WriteOp& op, int64_t revision);
  void remember(const std::string& client, int64_t revision, const KeyValue& written);

  Result<RangeResult> do_range(const RangeRequest& request);
  Result<TxnResult> do_txn(const std::vector<Compare>& compares,
                           const std::vector<WriteOp>& success, const std::string& client);
  Result<LeaseId> do_grant(std::chrono::seconds ttl, const std::string& client);
  Status do_keep_alive(LeaseId lease);
  Status do_revoke(LeaseId lease);

  const Clock& clock_;
  int64_t revision_ = 1;  // etcd's revision of an empty store.
  int64_t compacted_ = 0;
  int64_t next_lease_ = 0x7e57000;
  std::map<std::string, std::vector<Version>> keys_;  // Versions oldest first.
  std::map<LeaseId, Lease> leases_;
  std::map<std::string, std::unique_ptr<Client>> clients_;
  std::map<std::string, Fault> faults_;
  Fault fault_all_ = Fault::kNone;
  std::map<std::string, size_t> expired_;
  std::string recorded_prefix_;
  std::string witness_key_;
  std::vector<WitnessedWrite> witnessed_;
  std::map<LeaseId, std::string> lease_owner_history_;  // Every lease ever granted.
};

}  // namespace tessera
