#include "cluster/fake_config_store.h"

#include <algorithm>

namespace tessera {

// One node's handle: its faults' bookkeeping and the path of every call through them.
class FakeConfigStore::Client final : public ConfigStore {
 public:
  Client(FakeConfigStore* store, std::string name) : store_(store), name_(std::move(name)) {}

  Task<Result<RangeResult>> range(RangeRequest request, Deadline deadline) override {
    TESS_CO_RETURN_IF_ERROR(co_await enter(deadline, /*write=*/false));
    co_return store_->do_range(request);
  }

  Task<Result<TxnResult>> txn(std::vector<Compare> compares, std::vector<WriteOp> success,
                              Deadline deadline) override {
    TESS_CO_RETURN_IF_ERROR(co_await enter(deadline, /*write=*/true));
    Result<TxnResult> done = store_->do_txn(compares, success, name_);
    if (done.ok() && lose_answer()) co_return lost_answer();
    co_return done;
  }

  Task<Result<LeaseId>> grant_lease(std::chrono::seconds ttl, Deadline deadline) override {
    TESS_CO_RETURN_IF_ERROR(co_await enter(deadline, /*write=*/true));
    Result<LeaseId> granted = store_->do_grant(ttl, name_);
    if (granted.ok() && lose_answer()) co_return lost_answer();
    co_return granted;
  }

  Task<Status> keep_alive(LeaseId lease, Deadline deadline) override {
    TESS_CO_RETURN_IF_ERROR(co_await enter(deadline, /*write=*/true));
    Status kept = store_->do_keep_alive(lease);
    if (kept.ok() && lose_answer()) co_return lost_answer();
    co_return kept;
  }

  Task<Status> revoke_lease(LeaseId lease, Deadline deadline) override {
    TESS_CO_RETURN_IF_ERROR(co_await enter(deadline, /*write=*/true));
    Status revoked = store_->do_revoke(lease);
    if (revoked.ok() && lose_answer()) co_return lost_answer();
    co_return revoked;
  }

  int ambiguous_writes = 0;
  Clock::Duration latency{};
  bool latency_reads_only = false;

 private:
  // Latency, then faults, then due lease expiries: what every call goes through first.
  Task<Status> enter(Deadline deadline, bool write) {
    TESS_ASSERT(!deadline.is_never(), "every config store call needs a deadline");
    if (latency > Clock::Duration::zero() && (!write || !latency_reads_only)) {
      Clock::TimePoint ready = store_->clock_.after(latency);
      if (deadline.remaining() < latency) {
        (void)co_await deadline.clock().sleep_until(deadline.at());
        co_return outcome_unknown_error("fake etcd: no answer before the deadline");
      }
      (void)co_await store_->clock_.sleep_until(ready);
    }
    switch (store_->fault_of(name_)) {
      case Fault::kNone:
        break;
      case Fault::kStall:
        (void)co_await deadline.clock().sleep_until(deadline.at());
        co_return outcome_unknown_error("fake etcd: no answer before the deadline");
      case Fault::kFail:
        co_return unreachable_error(3, "fake etcd: connection refused");
      case Fault::kLostQuorum:
        co_return lost_quorum_error(1, 3, "fake etcd: etcdserver: no leader");
    }
    store_->expire_due_leases();
    co_return Status();
  }

  bool lose_answer() {
    if (ambiguous_writes <= 0) return false;
    --ambiguous_writes;
    return true;
  }
  static Status lost_answer() { return outcome_unknown_error("fake etcd: the answer was lost"); }

  FakeConfigStore* store_;
  std::string name_;
};

FakeConfigStore::FakeConfigStore(const Clock& clock) : clock_(clock) {}
FakeConfigStore::~FakeConfigStore() = default;

ConfigStore& FakeConfigStore::client(const std::string& name) {
  auto& slot = clients_[name];
  if (!slot) slot = std::make_unique<Client>(this, name);
  return *slot;
}

void FakeConfigStore::set_fault(const std::string& client, Fault fault) {
  if (client.empty()) {
    set_fault_all(fault);
    return;
  }
  faults_[client] = fault;
}

void FakeConfigStore::set_fault_all(Fault fault) { fault_all_ = fault; }

FakeConfigStore::Fault FakeConfigStore::fault_of(const std::string& client) const {
  auto found = faults_.find(client);
  if (found != faults_.end() && found->second != Fault::kNone) return found->second;
  return fault_all_;
}

void FakeConfigStore::make_writes_ambiguous(const std::string& client, int count) {
  static_cast<Client&>(this->client(client)).ambiguous_writes = count;
}

void FakeConfigStore::set_latency(const std::string& client, Clock::Duration latency,
                                  bool reads_only) {
  auto& handle = static_cast<Client&>(this->client(client));
  handle.latency = latency;
  handle.latency_reads_only = reads_only;
}

bool FakeConfigStore::expire_lease(LeaseId lease) {
  expire_due_leases();
  auto found = leases_.find(lease);
  if (found == leases_.end()) return false;
  end_lease(found, /*expired=*/true);
  return true;
}

size_t FakeConfigStore::expire_leases_of(const std::string& client) {
  expire_due_leases();
  size_t ended = 0;
  for (auto it = leases_.begin(); it != leases_.end();) {
    auto next = std::next(it);
    if (it->second.owner == client) {
      end_lease(it, /*expired=*/true);
      ++ended;
    }
    it = next;
  }
  return ended;
}

void FakeConfigStore::compact(int64_t revision) { compacted_ = std::min(revision, revision_); }

void FakeConfigStore::expire_due_leases() {
  Clock::TimePoint now = clock_.now();
  // Deterministic order: by lease id.
  for (auto it = leases_.begin(); it != leases_.end();) {
    auto next = std::next(it);
    if (it->second.expires_at <= now) end_lease(it, /*expired=*/true);
    it = next;
  }
}

// Deletes the lease's keys in one revision (as etcd's revoke does), then forgets the lease.
void FakeConfigStore::end_lease(std::map<LeaseId, Lease>::iterator lease, bool expired) {
  bool changed = false;
  int64_t revision = revision_ + 1;
  for (auto& [key, versions] : keys_) {
    const Version& last = versions.back();
    if (last.deleted || last.kv.lease != lease->first) continue;
    versions.push_back(Version{revision, true, {}});
    changed = true;
  }
  if (changed) revision_ = revision;
  if (expired) ++expired_[lease->second.owner];
  leases_.erase(lease);
}

const KeyValue* FakeConfigStore::latest(const std::string& key) const {
  auto found = keys_.find(key);
  if (found == keys_.end() || found->second.back().deleted) return nullptr;
  return &found->second.back().kv;
}

std::optional<KeyValue> FakeConfigStore::at_revision(const std::string& key,
                                                     int64_t revision) const {
  auto found = keys_.find(key);
  if (found == keys_.end()) return std::nullopt;
  const Version* seen = nullptr;
  for (const Version& version : found->second) {
    if (version.revision > revision) break;
    seen = &version;
  }
  if (seen == nullptr || seen->deleted) return std::nullopt;
  return seen->kv;
}

Result<RangeResult> FakeConfigStore::do_range(const RangeRequest& request) {
  int64_t revision = request.at_revision == 0 ? revision_ : request.at_revision;
  if (revision > revision_) {
    return error(StatusCode::kOutOfRange, "revision {} is in the future (store at {})", revision,
                 revision_);
  }
  if (revision < compacted_) {
    return error(StatusCode::kOutOfRange, "revision {} has been compacted (at {})", revision,
                 compacted_);
  }
  RangeResult out;
  out.revision = revision_;
  auto first = keys_.lower_bound(request.key);
  std::string end = request.prefix ? prefix_end(request.key) : std::string();
  for (auto it = first; it != keys_.end(); ++it) {
    if (request.prefix ? (end != std::string(1, '\0') && it->first >= end)
                       : it->first != request.key) {
      break;
    }
    if (auto kv = at_revision(it->first, revision)) out.kvs.push_back(std::move(*kv));
  }
  return out;
}

bool FakeConfigStore::holds(const Compare& compare) const {
  const KeyValue* kv = latest(compare.key);
  int order = 0;
  if (compare.target == Compare::Target::kValue) {
    if (kv == nullptr) return false;  // etcd: a value comparison with a missing key fails.
    order = kv->value.compare(compare.value);
  } else {
    int64_t actual = kv == nullptr                                        ? 0
                     : compare.target == Compare::Target::kCreateRevision ? kv->create_revision
                                                                          : kv->mod_revision;
    order = actual < compare.revision ? -1 : actual > compare.revision ? 1 : 0;
  }
  switch (compare.result) {
    case Compare::Result::kEqual:
      return order == 0;
    case Compare::Result::kNotEqual:
      return order != 0;
    case Compare::Result::kLess:
      return order < 0;
    case Compare::Result::kGreater:
      return order > 0;
  }
  return false;
}

bool FakeConfigStore::apply(const WriteOp& op, int64_t revision) {
  if (op.kind == WriteOp::Kind::kPut) {
    const KeyValue* before = latest(op.key);
    KeyValue kv{op.key, op.value, before ? before->create_revision : revision, revision, op.lease};
    keys_[op.key].push_back(Version{revision, false, std::move(kv)});
    return true;
  }
  bool changed = false;
  std::string end = op.kind == WriteOp::Kind::kDeletePrefix ? prefix_end(op.key) : std::string();
  for (auto it = keys_.lower_bound(op.key); it != keys_.end(); ++it) {
    if (op.kind == WriteOp::Kind::kDelete ? it->first != op.key
                                          : (end != std::string(1, '\0') && it->first >= end)) {
      break;
    }
    if (it->second.back().deleted) continue;
    it->second.push_back(Version{revision, true, {}});
    changed = true;
  }
  return changed;
}

void FakeConfigStore::remember(const std::string& client, int64_t revision,
                               const KeyValue& written) {
  if (recorded_prefix_.empty() || !written.key.starts_with(recorded_prefix_)) return;
  WitnessedWrite record{client, revision, written.key, written.value, std::nullopt, {}};
  // The witness as of this revision (after the whole transaction).
  if (const KeyValue* witness = latest(witness_key_)) {
    record.witness = *witness;
    auto owner = lease_owner_history_.find(witness->lease);
    if (owner != lease_owner_history_.end()) record.witness_lease_owner = owner->second;
  }
  witnessed_.push_back(std::move(record));
}

Result<TxnResult> FakeConfigStore::do_txn(const std::vector<Compare>& compares,
                                          const std::vector<WriteOp>& success,
                                          const std::string& client) {
  for (const WriteOp& op : success) {
    if (op.kind == WriteOp::Kind::kPut && op.lease != LeaseId() && !leases_.contains(op.lease)) {
      return error(StatusCode::kNotFound, "etcdserver: requested lease not found ({:x})",
                   op.lease.value());
    }
  }
  for (const Compare& compare : compares) {
    if (!holds(compare)) return TxnResult{false, revision_};
  }
  int64_t revision = revision_ + 1;
  bool changed = false;
  for (const WriteOp& op : success) changed = apply(op, revision) || changed;
  if (changed) revision_ = revision;
  for (const WriteOp& op : success) {
    if (op.kind == WriteOp::Kind::kPut) remember(client, revision, *latest(op.key));
  }
  return TxnResult{true, revision_};
}

Result<LeaseId> FakeConfigStore::do_grant(std::chrono::seconds ttl, const std::string& client) {
  TESS_ASSERT(ttl >= std::chrono::seconds(1), "a lease needs a TTL of at least 1 s");
  LeaseId id(++next_lease_);
  leases_[id] = Lease{client, ttl, clock_.after(ttl)};
  lease_owner_history_[id] = client;
  return id;
}

Status FakeConfigStore::do_keep_alive(LeaseId lease) {
  auto found = leases_.find(lease);
  if (found == leases_.end()) {
    return error(StatusCode::kNotFound, "etcd lease {:x} has expired", lease.value());
  }
  found->second.expires_at = clock_.after(found->second.ttl);
  return Status();
}

Status FakeConfigStore::do_revoke(LeaseId lease) {
  auto found = leases_.find(lease);
  if (found == leases_.end()) {
    return error(StatusCode::kNotFound, "etcd lease {:x} has expired", lease.value());
  }
  end_lease(found, /*expired=*/false);
  return Status();
}

std::optional<KeyValue> FakeConfigStore::peek(const std::string& key) {
  expire_due_leases();
  const KeyValue* kv = latest(key);
  return kv ? std::optional<KeyValue>(*kv) : std::nullopt;
}

std::vector<KeyValue> FakeConfigStore::peek_prefix(const std::string& prefix) {
  expire_due_leases();
  Result<RangeResult> read = do_range(RangeRequest{.key = prefix, .prefix = true});
  TESS_ASSERT(read.ok(), "reading the latest revision cannot fail: {}", read.status());
  return std::move(read->kvs);
}

std::map<LeaseId, std::string> FakeConfigStore::live_leases() {
  expire_due_leases();
  std::map<LeaseId, std::string> out;
  for (const auto& [id, lease] : leases_) out[id] = lease.owner;
  return out;
}

size_t FakeConfigStore::expired_lease_count(const std::string& client) const {
  auto found = expired_.find(client);
  return found == expired_.end() ? 0 : found->second;
}

void FakeConfigStore::record_writes(std::string prefix, std::string witness_key) {
  recorded_prefix_ = std::move(prefix);
  witness_key_ = std::move(witness_key);
}

}  // namespace tessera
