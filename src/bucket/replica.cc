#include "bucket/replica.h"

#include <algorithm>
#include <chrono>

#include "base/endian.h"
#include "base/fault_points.h"
#include "base/log.h"
#include "bucket/keys.h"
#include "runtime/clock.h"

namespace tessera::bucket {
namespace {

using raft::Entry;
using raft::EntryId;
using raft::LogIndex;

proto::ReplicaRef to_proto(raft::ReplicaId r) {
  proto::ReplicaRef out;
  out.set_host(r.host.value());
  out.set_store(r.store.value());
  return out;
}

raft::ReplicaId from_proto(const proto::ReplicaRef& r) {
  return raft::ReplicaId{HostId(r.host()), raft::StoreId(r.store())};
}

std::string encode_bucket_state(LogIndex applied, Term term, const raft::Config& config,
                                uint64_t log_time_ms) {
  proto::BucketState state;
  state.set_format_version(1);
  state.set_applied_index(applied.value());
  state.set_applied_term(term.value());
  for (auto r : config.voters) *state.mutable_config()->add_voters() = to_proto(r);
  for (auto r : config.learners) *state.mutable_config()->add_learners() = to_proto(r);
  state.set_log_time_ms(log_time_ms);
  return state.SerializeAsString();
}

// The state machine's reads during an apply: the batch's own writes first, then the database as
// of the last completed write (every apply of a bucket happens on its loop, one Ready at a time).
class BatchStateStore final : public StateStore {
 public:
  BatchStateStore(LogStore& store, LogWriteBatch& batch) : store_(store), batch_(batch) {}

  Result<std::optional<std::string>> get(std::string_view key) override {
    auto it = overlay_.find(key);
    if (it != overlay_.end()) return it->second;
    return store_.get_state(key);
  }
  void put(std::string_view key, std::string_view value) override {
    overlay_.insert_or_assign(std::string(key), std::optional<std::string>(std::string(value)));
    batch_.put_state(key, value);
  }
  void erase(std::string_view key) override {
    overlay_.insert_or_assign(std::string(key), std::optional<std::string>());
    batch_.delete_state(key);
  }
  Result<std::vector<std::pair<std::string, std::string>>> scan(std::string_view start,
                                                                std::string_view end,
                                                                size_t limit) override {
    // Deleted keys in the overlay may hide stored ones: read enough to fill `limit` anyway.
    size_t hidden = 0;
    for (auto it = overlay_.lower_bound(start); it != overlay_.end() && it->first < end; ++it) {
      ++hidden;
    }
    size_t want = limit > SIZE_MAX - hidden ? SIZE_MAX : limit + hidden;
    TESS_ASSIGN_OR_RETURN(auto stored, store_.scan_state(start, end, want));
    std::map<std::string, std::string, std::less<>> merged;
    for (auto& [k, v] : stored) merged.emplace(std::move(k), std::move(v));
    for (auto it = overlay_.lower_bound(start); it != overlay_.end() && it->first < end; ++it) {
      if (it->second) {
        merged.insert_or_assign(it->first, *it->second);
      } else {
        merged.erase(it->first);
      }
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [k, v] : merged) {
      if (out.size() >= limit) break;
      out.emplace_back(k, v);
    }
    return out;
  }

 private:
  LogStore& store_;
  LogWriteBatch& batch_;
  std::map<std::string, std::optional<std::string>, std::less<>> overlay_;
};

// Read-only: the database as of the last completed write.
class StoredState final : public StateStore {
 public:
  explicit StoredState(LogStore& store) : store_(store) {}
  Result<std::optional<std::string>> get(std::string_view key) override {
    return store_.get_state(key);
  }
  void put(std::string_view, std::string_view) override {
    TESS_ASSERT(false, "a read wrote state");
  }
  void erase(std::string_view) override { TESS_ASSERT(false, "a read erased state"); }
  Result<std::vector<std::pair<std::string, std::string>>> scan(std::string_view start,
                                                                std::string_view end,
                                                                size_t limit) override {
    return store_.scan_state(start, end, limit);
  }

 private:
  LogStore& store_;
};

void append_record(std::string& out, std::string_view key, std::string_view value) {
  std::byte size[4];
  store_le<uint32_t>(size, static_cast<uint32_t>(key.size()));
  out.append(reinterpret_cast<const char*>(size), 4);
  store_le<uint32_t>(size, static_cast<uint32_t>(value.size()));
  out.append(reinterpret_cast<const char*>(size), 4);
  out.append(key);
  out.append(value);
}

}  // namespace

Replica::Replica(Executor executor, const Clock& clock, LogStore& store, BucketId bucket,
                 ReplicaOptions options, RaftOutbox& outbox)
    : executor_(std::move(executor)),
      clock_(clock),
      store_(store),
      bucket_(bucket),
      options_(std::move(options)),
      outbox_(outbox),
      machine_(bucket, options_.command_handler),
      wake_timer_(executor_),
      stopped_timer_(executor_) {
  if (!options_.unix_ms) options_.unix_ms = system_unix_ms;
}

Replica::~Replica() {
  TESS_ASSERT(!running_, "replica of bucket {} destroyed while running", bucket_);
}

Task<Result<std::unique_ptr<Replica>>> Replica::open(Executor executor, const Clock* clock,
                                                     LogStore* store, BucketId bucket,
                                                     raft::Config founding_config,
                                                     ReplicaOptions options, RaftOutbox* outbox) {
  auto opened = load(std::move(executor), *clock, *store, bucket, founding_config,
                     std::move(options), *outbox);
  if (!opened.ok()) co_return opened.status();
  std::unique_ptr<Replica> r = std::move(opened->replica);
  if (opened->found) {
    // Found the bucket: the bootstrap rule's snapshot at index 1, synced before anything else.
    raft::EntryId founding{LogIndex(1), Term(1)};
    LogWriteBatch batch = store->batch();
    batch.set_hard_state(bucket, opened->initial.hard_state);
    batch.reset(*r->log_, founding);
    batch.put_state(bucket_state_key(bucket),
                    encode_bucket_state(founding.index, founding.term, founding_config, 0));
    Status written = co_await store->write(std::move(batch), /*sync=*/true);
    if (!written.ok()) co_return written.with_context(fmt::format("found bucket {}", bucket));
  }
  r->core_ =
      std::make_unique<raft::Core>(r->options_.core, opened->initial, r->log_.get(), clock->now());
  co_return std::move(r);
}

Result<Replica::Loaded> Replica::load(Executor executor, const Clock& clock, LogStore& store,
                                      BucketId bucket, const raft::Config& founding_config,
                                      ReplicaOptions options, RaftOutbox& outbox) {
  options.core.incarnation = store.start_seq();
  std::unique_ptr<Replica> r(
      new Replica(std::move(executor), clock, store, bucket, std::move(options), outbox));
  TESS_ASSIGN_OR_RETURN(LoadedBucket loaded, store.load(bucket));
  r->log_ = std::move(loaded.log);
  raft::InitialState initial{.hard_state = loaded.hard_state, .recovering = loaded.recovering};
  TESS_ASSIGN_OR_RETURN(auto stored_state, store.get_state(bucket_state_key(bucket)));
  if (stored_state) {
    proto::BucketState state;
    if (!state.ParseFromString(*stored_state) || state.format_version() != 1) {
      return error(StatusCode::kCorruption, "bucket {}: state record unreadable", bucket);
    }
    initial.applied = LogIndex(state.applied_index());
    r->applied_term_ = Term(state.applied_term());
    for (const auto& v : state.config().voters()) initial.config.voters.push_back(from_proto(v));
    for (const auto& l : state.config().learners()) {
      initial.config.learners.push_back(from_proto(l));
    }
    std::sort(initial.config.voters.begin(), initial.config.voters.end());
    std::sort(initial.config.learners.begin(), initial.config.learners.end());
    r->log_time_ms_ = state.log_time_ms();
  }
  bool found = !stored_state && !founding_config.voters.empty() &&
               r->log_->last_index() == LogIndex() && initial.hard_state.term == Term();
  if (found) {
    initial.hard_state = raft::HardState{.term = Term(1), .commit = LogIndex(1)};
    initial.config = founding_config;
    initial.applied = LogIndex(1);
    r->applied_term_ = Term(1);
  }
  if (initial.applied > initial.hard_state.commit) initial.hard_state.commit = initial.applied;
  r->applied_config_ = initial.config;
  return Loaded{std::move(r), initial, found};
}

void Replica::start() {
  TESS_ASSERT(!started_, "replica of bucket {} started twice", bucket_);
  started_ = true;
  running_ = true;
  spawn_detached(executor_, run(this), fmt::format("bucket {} replica", bucket_));
}

Task<void> Replica::stop() {
  stopping_ = true;
  wake();
  while (running_) co_await clock_.wait(stopped_timer_, Clock::TimePoint::max());
  fail_all(error(StatusCode::kUnavailable, "bucket {}: replica stopped", bucket_));
}

void Replica::wake() {
  wake_pending_ = true;
  wake_timer_.cancel();
}

void Replica::step(const raft::Message& message) {
  if (broken_ || stopping_) return;
  core_->step(message, clock_.now());
  wake();
}

void Replica::on_durable(EntryId durable) {
  if (broken_ || stopping_) return;
  core_->report_durable(durable);
  release_syncs();
  wake();
}

void Replica::tick() {
  // A hibernated core ignores ticks; skipping it here also spares the run loop a turn.
  if (broken_ || stopping_ || core_->hibernated()) return;
  core_->tick(clock_.now());
  wake();
}

void Replica::wake_hibernated() {
  if (broken_ || stopping_ || !core_->hibernated()) return;
  core_->wake(clock_.now());
  wake();
}

Task<void> Replica::run(Replica* self) {
  Clock::Duration interval = self->options_.tick_interval;
  bool own_ticks = interval > Clock::Duration::zero();
  Clock::TimePoint next_tick = own_ticks ? self->clock_.now() + interval : Clock::TimePoint::max();
  while (!self->stopping_ && !self->broken_) {
    if (self->core_->has_ready()) {
      co_await self->handle_ready();
      continue;
    }
    if (!self->wake_pending_) co_await self->clock_.wait(self->wake_timer_, next_tick);
    self->wake_pending_ = false;
    Clock::TimePoint now = self->clock_.now();
    if (own_ticks && now >= next_tick) {
      self->core_->tick(now);
      next_tick = now + interval;
    }
  }
  self->running_ = false;
  self->stopped_timer_.cancel();
}

void Replica::send(raft::Message message) {
  if (message.type == raft::MessageType::kSnapshot) {
    // The state machine is exactly at the core's applied index here: this Ready's committed
    // entries are applied only after its messages left.
    message.snapshot = core_->snapshot_meta();
    std::string data;
    auto pairs = store_.scan_state(bucket_begin(bucket_), bucket_end(bucket_), SIZE_MAX);
    if (!pairs.ok()) {
      mark_broken(pairs.status().with_context("snapshot"));
      return;
    }
    for (const auto& [k, v] : *pairs) append_record(data, k, v);
    if (data.size() > kMaxInlineSnapshotBytes) {
      TESS_LOG_ERROR("bucket {}: snapshot of {} bytes exceeds the inline limit of {}", bucket_,
                     data.size(), kMaxInlineSnapshotBytes);
      core_->report_snapshot_failed(message.to);
      return;
    }
    message.snapshot_data = std::make_shared<const std::string>(std::move(data));
  }
  outbox_.send(bucket_, std::move(message));
}

Task<void> Replica::handle_ready() {
  raft::Ready rd = core_->ready();
  LogWriteBatch batch = store_.batch();
  if (rd.snapshot) {
    static const std::string kNoData;
    Status installed =
        install_snapshot(batch, *rd.snapshot, rd.snapshot_data ? *rd.snapshot_data : kNoData);
    if (!installed.ok()) {
      mark_broken(installed);
      co_return;
    }
  }
  if (rd.hard_state) batch.set_hard_state(bucket_, *rd.hard_state);
  if (!rd.entries.empty()) batch.append(*log_, rd.entries);
  if (rd.recovered) batch.clear_recovering(bucket_);
  for (raft::Message& m : rd.messages) send(std::move(m));

  std::vector<std::pair<EntryId, proto::BucketResult>> results;
  if (Status applied = apply_committed(batch, rd.committed, results); !applied.ok()) {
    mark_broken(applied);
    co_return;
  }
  bool compact = log_->last_index().value() - log_->snapshot_point().index.value() >
                     options_.compact_above_entries &&
                 core_->applied().value() > options_.keep_entries;
  if (compact) {
    LogIndex through(core_->applied().value() - options_.keep_entries);
    if (through > log_->snapshot_point().index) {
      Status compacted = batch.compact(*log_, through);
      if (!compacted.ok()) {
        mark_broken(compacted);
        co_return;
      }
    }
  }
  Status written = co_await store_.write(std::move(batch), rd.must_sync);
  if (!written.ok()) {
    mark_broken(written.with_context("log store"));
    co_return;
  }
  for (raft::Message& m : rd.after_persist) send(std::move(m));
  for (const raft::ReadState& read : rd.reads) {
    auto it = reads_.find(read.id);
    if (it != reads_.end()) it->second.index = read.index;
  }
  for (raft::ReadId id : rd.failed_reads) {
    auto it = reads_.find(id);
    if (it == reads_.end()) continue;
    finish(it->second.waiter,
           error(StatusCode::kFailedPrecondition, "not leader (leadership lost before the read)"));
    reads_.erase(it);
  }
  core_->advance(rd);
  answer_proposals(results);
  serve_reads();
  release_syncs();
  bool leader = core_->role() == raft::Role::kLeader;
  if (was_leader_ && !leader) on_leadership_lost();
  was_leader_ = leader;
}

Status Replica::install_snapshot(LogWriteBatch& batch, const raft::SnapshotMeta& meta,
                                 const std::string& data) {
  TESS_COVER("bucket.snapshot_installed");
  // Replace the whole key range in the same batch as the log reset: atomic in the WAL.
  batch.delete_state_range(bucket_begin(bucket_), bucket_end(bucket_));
  std::string_view rest = data;
  std::string begin = bucket_begin(bucket_);
  std::string end = bucket_end(bucket_);
  std::string state_key = bucket_state_key(bucket_);
  proto::BucketState sent_state;
  bool saw_state = false;
  while (!rest.empty()) {
    if (rest.size() < 8) return error(StatusCode::kCorruption, "snapshot record cut short");
    auto* p = reinterpret_cast<const std::byte*>(rest.data());
    uint32_t key_bytes = load_le<uint32_t>(p);
    uint32_t value_bytes = load_le<uint32_t>(p + 4);
    if (rest.size() - 8 < uint64_t{key_bytes} + value_bytes) {
      return error(StatusCode::kCorruption, "snapshot record cut short");
    }
    std::string_view key = rest.substr(8, key_bytes);
    std::string_view value = rest.substr(8 + key_bytes, value_bytes);
    if (key < begin || key >= end) {
      return error(StatusCode::kCorruption, "snapshot of bucket {} holds a key of another bucket",
                   bucket_);
    }
    if (key == state_key) {
      saw_state = sent_state.ParseFromArray(value.data(), static_cast<int>(value.size()));
    }
    batch.put_state(key, value);
    rest.remove_prefix(8 + uint64_t{key_bytes} + value_bytes);
  }
  // The leader's state record came with its key range: it must say what the metadata says.
  if (!saw_state || sent_state.applied_index() != meta.index.value() ||
      sent_state.applied_term() != meta.term.value()) {
    return error(StatusCode::kCorruption, "snapshot of bucket {} at {} carries no matching state",
                 bucket_, meta.index);
  }
  log_time_ms_ = std::max(log_time_ms_, sent_state.log_time_ms());
  batch.reset(*log_, EntryId{meta.index, meta.term});
  applied_config_ = meta.config;
  applied_term_ = meta.term;
  return Status();
}

Status Replica::apply_committed(LogWriteBatch& batch, const std::vector<Entry>& committed,
                                std::vector<std::pair<EntryId, proto::BucketResult>>& results) {
  if (committed.empty()) return Status();
  BatchStateStore state(store_, batch);
  for (const Entry& e : committed) {
    if (e.type == raft::EntryType::kCommand) {
      TESS_ASSIGN_OR_RETURN(proto::BucketResult result,
                            machine_.apply(state, e.index.value(), e.payload));
      results.emplace_back(EntryId{e.index, e.term}, std::move(result));
    } else if (e.type == raft::EntryType::kConfChange) {
      // The same rule as the core's, so the stored configuration is the core's after advance.
      auto change = raft::decode_conf_change(e.payload);
      if (change && applied_config_.refusal(*change).empty()) {
        applied_config_ = applied_config_.applied(*change);
      }
    }
    applied_term_ = e.term;
  }
  // A follower that becomes leader stamps no earlier than what it applied.
  log_time_ms_ = std::max(log_time_ms_, machine_.log_time_ms());
  batch.put_state(
      bucket_state_key(bucket_),
      encode_bucket_state(committed.back().index, applied_term_, applied_config_, log_time_ms_));
  return Status();
}

void Replica::answer_proposals(
    const std::vector<std::pair<EntryId, proto::BucketResult>>& results) {
  for (const auto& [id, result] : results) {
    auto it = proposals_.find(id.index);
    if (it == proposals_.end()) continue;
    if (it->second.first == id.term) {
      finish(it->second.second, result);
    } else {
      TESS_COVER("bucket.proposal_overtaken");
      finish(it->second.second,
             error(StatusCode::kAborted, "proposal at {} lost to another leader's entry; retry",
                   id.index));
    }
    proposals_.erase(it);
  }
  // Entries applied without a command (empty, configuration) also settle proposals at them.
  LogIndex applied = core_->applied();
  while (!proposals_.empty() && proposals_.begin()->first <= applied) {
    finish(proposals_.begin()->second.second,
           error(StatusCode::kAborted, "proposal at {} lost to another leader's entry; retry",
                 proposals_.begin()->first));
    proposals_.erase(proposals_.begin());
  }
}

void Replica::serve_reads() {
  LogIndex applied = core_->applied();
  for (auto it = reads_.begin(); it != reads_.end();) {
    PendingRead& read = it->second;
    if (read.index == LogIndex() || read.index > applied) {
      ++it;
      continue;
    }
    auto result = serve(read);
    if (result.ok()) result->set_applied_index(applied.value());
    finish(read.waiter, std::move(result));
    it = reads_.erase(it);
  }
}

Result<proto::BucketResult> Replica::serve(const PendingRead& read) {
  // Served on the loop right after the check that allowed it, with no suspension between: a
  // newer leader's writes cannot come between the lease (or ReadIndex round) and this read.
  if (read.meta) {
    StoredState state(store_);
    return machine_.meta_read(state, *read.meta);
  }
  if (read.limit == 0) {
    TESS_ASSIGN_OR_RETURN(auto value, store_.get_state(user_key(bucket_, read.key)));
    proto::BucketResult result;
    result.set_found(value.has_value());
    if (value) result.set_value(std::move(*value));
    return result;
  }
  StoredState state(store_);
  return machine_.range(state, read.key, read.end, read.limit);
}

void Replica::release_syncs() {
  LogIndex durable = core_->quorum_durable();
  for (auto it = syncs_.begin(); it != syncs_.end();) {
    if (it->first <= durable) {
      finish(it->second, proto::BucketResult());
      it = syncs_.erase(it);
    } else {
      ++it;
    }
  }
}

void Replica::on_leadership_lost() {
  // Proposals may still commit under the next leader: their outcome is unknown, and a retry with
  // the same request id is answered once (the session table).
  for (auto& [index, proposal] : proposals_) {
    finish(proposal.second,
           error(StatusCode::kUnavailable,
                 "leadership lost with the proposal at {} in flight; outcome unknown", index));
  }
  proposals_.clear();
  for (auto& [id, read] : reads_) {
    finish(read.waiter, error(StatusCode::kFailedPrecondition, "not leader (leadership lost)"));
  }
  reads_.clear();
  for (auto& [index, waiter] : syncs_) {
    finish(waiter, error(StatusCode::kFailedPrecondition, "not leader (leadership lost)"));
  }
  syncs_.clear();
}

void Replica::fail_all(const Status& status) {
  for (auto& [index, proposal] : proposals_) finish(proposal.second, status);
  proposals_.clear();
  for (auto& [id, read] : reads_) finish(read.waiter, status);
  reads_.clear();
  for (auto& [index, waiter] : syncs_) finish(waiter, status);
  syncs_.clear();
}

void Replica::mark_broken(const Status& status) {
  TESS_LOG_ERROR("bucket {} replica stops: {}", bucket_, status.to_string());
  broken_ = true;
  fail_all(error(StatusCode::kUnavailable, "bucket {} replica stopped: {}", bucket_,
                 status.to_string()));
}

void Replica::finish(Waiter* waiter, Result<proto::BucketResult> result) {
  waiter->result = std::move(result);
  waiter->timer.cancel();
}

Task<Result<proto::BucketResult>> Replica::wait_for(Waiter& waiter, Deadline deadline) {
  while (!waiter.result) {
    if (deadline.expired()) {
      co_return error(StatusCode::kDeadlineExceeded, "bucket {}: deadline passed", bucket_);
    }
    co_await deadline.wait(waiter.timer);
  }
  co_return std::move(*waiter.result);
}

Task<Result<proto::BucketResult>> Replica::mutate(proto::BucketCommand command, Deadline deadline) {
  if (broken_ || stopping_) {
    co_return error(StatusCode::kUnavailable, "bucket {} replica is stopped", bucket_);
  }
  if (Status valid = KvStateMachine::validate(command); !valid.ok()) co_return valid;
  // The leader's wall clock, but log time never goes back, whatever the wall clock does (session
  // expiry and transaction timeouts rely on it).
  command.set_log_time_ms(std::max(options_.unix_ms(), log_time_ms_));
  log_time_ms_ = command.log_time_ms();
  auto id = core_->propose(command.SerializeAsString(), clock_.now());
  if (!id.ok()) co_return id.status();
  Waiter waiter(executor_);
  proposals_[id->index] = {id->term, &waiter};
  wake();
  auto result = co_await wait_for(waiter, deadline);
  if (!waiter.result) proposals_.erase(id->index);  // Gave up: forget the waiter.
  co_return result;
}

Status Replica::propose_conf_change(const raft::ConfChange& change) {
  if (broken_ || stopping_)
    return error(StatusCode::kUnavailable, "bucket {} replica is stopped", bucket_);
  auto id = core_->propose_conf_change(change, clock_.now());
  if (!id.ok()) return id.status();
  wake();
  return Status();
}

Status Replica::transfer_leadership(raft::ReplicaId target) {
  if (broken_ || stopping_)
    return error(StatusCode::kUnavailable, "bucket {} replica is stopped", bucket_);
  Status started = core_->transfer_leadership(target, clock_.now());
  if (started.ok()) wake();
  return started;
}

Task<Result<proto::BucketResult>> Replica::get(std::string key, Deadline deadline) {
  // A named local, not a braced temporary, as the argument of a coroutine (GCC 12: style.md).
  PendingRead pending;
  pending.key = std::move(key);
  co_return co_await read(std::move(pending), deadline);
}

Task<Result<proto::BucketResult>> Replica::range(std::string start, std::string end, size_t limit,
                                                 Deadline deadline) {
  limit = std::clamp<size_t>(limit, 1, kMaxRangeLimit);
  PendingRead pending;
  pending.key = std::move(start);
  pending.end = std::move(end);
  pending.limit = limit;
  co_return co_await read(std::move(pending), deadline);
}

Task<Result<proto::BucketResult>> Replica::meta_read(proto::MetaRead read, Deadline deadline) {
  PendingRead pending;
  pending.meta = std::move(read);
  co_return co_await this->read(std::move(pending), deadline);
}

Result<proto::BucketResult> Replica::local_meta_read(const proto::MetaRead& read) const {
  if (broken_ || stopping_) {
    return error(StatusCode::kUnavailable, "bucket {} replica is stopped", bucket_);
  }
  StoredState state(store_);
  return machine_.meta_read(state, read);
}

Task<Result<proto::BucketResult>> Replica::read(PendingRead pending, Deadline deadline) {
  if (broken_ || stopping_) {
    co_return error(StatusCode::kUnavailable, "bucket {} replica is stopped", bucket_);
  }
  raft::ReadId id(next_read_id_++);
  TESS_CO_RETURN_IF_ERROR(core_->request_read(id, clock_.now()));
  Waiter waiter(executor_);
  pending.waiter = &waiter;
  reads_.emplace(id, std::move(pending));
  wake();
  auto result = co_await wait_for(waiter, deadline);
  if (!waiter.result) reads_.erase(id);
  co_return result;
}

Task<Status> Replica::sync_to(uint64_t index, Deadline deadline) {
  if (broken_ || stopping_) {
    co_return error(StatusCode::kUnavailable, "bucket {} replica is stopped", bucket_);
  }
  if (core_->role() != raft::Role::kLeader) {
    co_return error(StatusCode::kFailedPrecondition, "not leader");
  }
  if (core_->quorum_durable() >= LogIndex(index)) co_return Status();
  store_.sync_now();
  core_->want_durable(LogIndex(index));
  wake();
  Waiter waiter(executor_);
  auto it = syncs_.emplace(syncs_.end(), LogIndex(index), &waiter);
  auto result = co_await wait_for(waiter, deadline);
  if (!waiter.result) syncs_.erase(it);
  co_return result.status();
}

}  // namespace tessera::bucket
