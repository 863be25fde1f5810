#include "cluster/control_plane.h"

#include <set>

#include "base/fault_points.h"
#include "base/log.h"
#include "cluster/parse.h"
#include "runtime/clock.h"

namespace tessera {

// The store as the control plane sees it: once closed (crash, or after stop) every call fails at
// once, so a crashed host's coroutines make no further call while they wind down.
class ControlPlane::GatedStore final : public ConfigStore {
 public:
  explicit GatedStore(ConfigStore* inner) : inner_(inner) {}
  bool closed = false;

  Task<Result<RangeResult>> range(RangeRequest request, Deadline deadline) override {
    if (closed) co_return gone();
    co_return co_await inner_->range(std::move(request), deadline);
  }
  Task<Result<TxnResult>> txn(std::vector<Compare> compares, std::vector<WriteOp> success,
                              Deadline deadline) override {
    if (closed) co_return gone();
    co_return co_await inner_->txn(std::move(compares), std::move(success), deadline);
  }
  Task<Result<LeaseId>> grant_lease(std::chrono::seconds ttl, Deadline deadline) override {
    if (closed) co_return gone();
    co_return co_await inner_->grant_lease(ttl, deadline);
  }
  Task<Status> keep_alive(LeaseId lease, Deadline deadline) override {
    if (closed) co_return gone();
    co_return co_await inner_->keep_alive(lease, deadline);
  }
  Task<Status> revoke_lease(LeaseId lease, Deadline deadline) override {
    if (closed) co_return gone();
    co_return co_await inner_->revoke_lease(lease, deadline);
  }

 private:
  static Status gone() { return Status(StatusCode::kCancelled, "the control plane has stopped"); }
  ConfigStore* inner_;
};

namespace {

constexpr int kMaxIdAttempts = 100;

std::string random_uuid(std::mt19937_64& random) {
  uint64_t high = random();
  uint64_t low = random();
  high = (high & ~0xf000ULL) | 0x4000ULL;      // Version 4.
  low = (low & ~(3ULL << 62)) | (2ULL << 62);  // Variant 1.
  std::string hex = fmt::format("{:016x}{:016x}", high, low);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

Compare create_revision_is(std::string key, int64_t revision) {
  return Compare{
      std::move(key), Compare::Target::kCreateRevision, Compare::Result::kEqual, revision, {}};
}

// One-element vectors, built outside coroutines: GCC 12 rejects braced lists of these inside a
// coroutine body ("array used as initializer").
std::vector<Compare> only(Compare compare) {
  std::vector<Compare> out;
  out.push_back(std::move(compare));
  return out;
}

std::vector<WriteOp> only(WriteOp op) {
  std::vector<WriteOp> out;
  out.push_back(std::move(op));
  return out;
}

// The value stored at `key`, created as `initial` by whoever comes first. A lost answer is
// harmless: the read that follows tells what is stored.
Task<Result<std::string>> get_or_create(ConfigStore* store, std::string key, std::string initial,
                                        Deadline deadline) {
  std::vector<Compare> absent = only(create_revision_is(key, 0));
  std::vector<WriteOp> put = only(WriteOp{WriteOp::Kind::kPut, key, initial, {}});
  Result<TxnResult> created = co_await store->txn(std::move(absent), std::move(put), deadline);
  if (!created.ok() && !outcome_unknown(created.status())) co_return created.status();
  TESS_CO_ASSIGN_OR_RETURN(std::optional<KeyValue> stored, co_await store->get(key, deadline));
  if (!stored) co_return error(StatusCode::kInternal, "etcd lost {}", key);
  co_return stored->value;
}

// Increments the counter at `key` (absent: 0) and returns the new value; with `also_key`, that key
// is created with the value in the same transaction, and kAborted returned if it exists already.
// A lost answer counts as not done: the counter is read again and the next value taken, so an id
// can be skipped but never given twice.
Task<Result<uint32_t>> next_id(ConfigStore* store, std::string key, std::string also_key,
                               Deadline deadline) {
  for (int attempt = 0; attempt < kMaxIdAttempts; ++attempt) {
    TESS_CO_ASSIGN_OR_RETURN(std::optional<KeyValue> current, co_await store->get(key, deadline));
    uint32_t value = 1;
    if (current) {
      TESS_CO_ASSIGN_OR_RETURN(uint32_t last, parse_u32(current->value, key));
      value = last + 1;
    }
    std::vector<Compare> compares = only(current ? Compare{key,
                                                           Compare::Target::kModRevision,
                                                           Compare::Result::kEqual,
                                                           current->mod_revision,
                                                           {}}
                                                 : create_revision_is(key, 0));
    std::vector<WriteOp> ops = only(WriteOp{WriteOp::Kind::kPut, key, std::to_string(value), {}});
    if (!also_key.empty()) {
      compares.push_back(create_revision_is(also_key, 0));
      ops.push_back(WriteOp{WriteOp::Kind::kPut, also_key, std::to_string(value), {}});
    }
    Result<TxnResult> done = co_await store->txn(compares, ops, deadline);
    if (!done.ok() && !outcome_unknown(done.status())) co_return done.status();
    if (done.ok() && done->succeeded) co_return value;
    if (!also_key.empty()) co_return error(StatusCode::kAborted, "{} may exist now", also_key);
  }
  co_return error(StatusCode::kAborted, "could not allocate an id at {}", key);
}

Task<Result<uint32_t>> host_id_of(ConfigStore* store, ClusterKeys keys, std::string name,
                                  Deadline deadline) {
  for (int attempt = 0; attempt < kMaxIdAttempts; ++attempt) {
    TESS_CO_ASSIGN_OR_RETURN(std::optional<KeyValue> known,
                             co_await store->get(keys.host_name(name), deadline));
    if (known) co_return parse_u32(known->value, keys.host_name(name));
    Result<uint32_t> allocated =
        co_await next_id(store, keys.next_host_id(), keys.host_name(name), deadline);
    if (allocated.ok()) co_return *allocated;
    // kAborted: another process took the name, or our own write landed unseen: read it.
    if (allocated.status().code() != StatusCode::kAborted) co_return allocated.status();
  }
  co_return error(StatusCode::kAborted, "could not take a host id for {}", name);
}

}  // namespace

ControlPlane::ControlPlane(ControlPlaneEnv env, ControlPlaneOptions options, std::string uuid,
                           uint32_t host_id, uint64_t incarnation)
    : executor_(env.executor),
      clock_(*env.clock),
      store_(std::make_unique<GatedStore>(env.store)),
      raw_store_(*env.store),
      unix_ms_(env.unix_ms ? std::move(env.unix_ms) : std::function<uint64_t()>(system_unix_ms)),
      options_(std::move(options)),
      keys_(options_.cluster_name),
      uuid_(std::move(uuid)),
      host_id_(host_id),
      incarnation_(incarnation),
      started_unix_ms_(unix_ms_()),
      lease_timer_(executor_),
      round_timer_(executor_),
      ended_timer_(executor_) {}

ControlPlane::~ControlPlane() {
  TESS_ASSERT(running_loops_ == 0,
              "control plane of host {} destroyed while it runs: await stop() or crash() first",
              host_id_);
}

Task<Result<std::unique_ptr<ControlPlane>>> ControlPlane::join(ControlPlaneEnv env,
                                                               ControlPlaneOptions options) {
  TESS_ASSERT(env.clock != nullptr && env.store != nullptr, "a control plane needs a clock, store");
  if (options.failure_domain.empty()) options.failure_domain = options.host_name;
  ClusterKeys keys(options.cluster_name);
  std::mt19937_64 random(env.seed);
  std::string candidate_uuid = random_uuid(random);
  uint64_t incarnation = random();
  if (incarnation == 0) incarnation = 1;  // 0 means "not known" in the map.
  Deadline deadline = Deadline::after(options.store_timeout, *env.clock);
  TESS_CO_ASSIGN_OR_RETURN(
      std::string uuid, co_await get_or_create(env.store, keys.uuid(), candidate_uuid, deadline));
  TESS_CO_ASSIGN_OR_RETURN(uint32_t host_id,
                           co_await host_id_of(env.store, keys, options.host_name, deadline));
  TESS_LOG_INFO("joined cluster '{}' ({}) as host {} ({}), incarnation {:x}", options.cluster_name,
                uuid, host_id, options.host_name, incarnation);
  co_return std::unique_ptr<ControlPlane>(
      new ControlPlane(std::move(env), std::move(options), uuid, host_id, incarnation));
}

Deadline ControlPlane::store_deadline() const {
  return Deadline::after(options_.store_timeout, clock_);
}

uint64_t ControlPlane::now_unix_ms() const { return unix_ms_(); }

std::shared_ptr<const ClusterView> ControlPlane::view() const {
  std::lock_guard lock(view_mutex_);
  return view_;
}

bool ControlPlane::is_leader() const { return view()->leader_host_id == host_id_; }

MapEpoch ControlPlane::map_epoch() const {
  auto current = view();
  return MapEpoch(current->map ? current->map->header.epoch() : 0);
}

void ControlPlane::publish(std::shared_ptr<const ClusterView> view) {
  std::lock_guard lock(view_mutex_);
  view_ = std::move(view);
}

// A failed round keeps what was known and says why.
void ControlPlane::publish_failure(const Status& status) {
  if (last_error_ != status.message()) {
    TESS_LOG_WARN("control plane of host {}: {}", host_id_, status);
    last_error_ = std::string(status.message());
  }
  auto failed = std::make_shared<ClusterView>(*view());
  failed->etcd_status = status;
  publish(std::move(failed));
}

proto::HostRegistration ControlPlane::registration() const {
  proto::HostRegistration out;
  out.set_host_id(host_id_);
  out.set_name(options_.host_name);
  out.set_address(options_.address);
  out.set_rpc_port(options_.rpc_port);
  out.set_http_port(options_.http_port);
  out.set_failure_domain(options_.failure_domain);
  for (const auto& drive : drives_) *out.add_drives() = drive;
  out.set_started_unix_ms(started_unix_ms_);
  out.set_incarnation(incarnation_);
  out.set_bucket_store(bucket_store_);
  return out;
}

Task<Status> ControlPlane::start() {
  TESS_ASSERT(running_loops_ == 0 && !stopping_, "start() called twice or after stop()");
  TESS_CO_ASSIGN_OR_RETURN(
      lease_, co_await store_->grant_lease(std::chrono::seconds(options_.lease_ttl_seconds),
                                           store_deadline()));
  TESS_CO_RETURN_IF_ERROR(co_await register_host());
  // A failing first round is reported in the view, not fatal: a malformed value in etcd must not
  // keep hosts from starting.
  Status first = co_await round();
  if (!first.ok()) publish_failure(first);
  running_loops_ = 2;
  spawn_detached(executor_, keep_lease_loop(), "control plane lease keeper");
  spawn_detached(executor_, round_loop(), "control plane rounds");
  co_return Status();
}

Task<void> ControlPlane::stop(bool revoke_lease) {
  bool first = !stopping_;
  stopping_ = true;
  lease_timer_.cancel();
  round_timer_.cancel();
  while (running_loops_ > 0) co_await clock_.wait(ended_timer_, Clock::TimePoint::max());
  if (first && revoke_lease && !store_->closed && lease_ != LeaseId()) {
    Status revoked = co_await raw_store_.revoke_lease(lease_, store_deadline());
    if (!revoked.ok() && revoked.code() != StatusCode::kNotFound) {
      TESS_LOG_WARN("deregistering: {}", revoked);
    }
  }
  store_->closed = true;
}

Task<void> ControlPlane::crash() {
  store_->closed = true;
  co_await stop(/*revoke_lease=*/false);
}

void ControlPlane::loop_ended() {
  --running_loops_;
  ended_timer_.cancel();
}

Task<void> ControlPlane::pause(boost::asio::steady_timer* timer, bool* wake, Clock::TimePoint at) {
  if (!*wake && !stopping_) co_await clock_.wait(*timer, at);
  *wake = false;
}

// ---- The lease keeper.

Task<void> ControlPlane::keep_lease_loop() {
  auto interval = std::chrono::milliseconds(options_.lease_ttl_seconds * 1000 / 3);
  Clock::TimePoint next_keepalive = clock_.after(interval);
  while (!stopping_) {
    if (clock_.now() >= next_keepalive) {
      Status kept = co_await keep_lease();
      // A failed keep-alive is retried soon: the lease lasts three intervals.
      next_keepalive = clock_.after(kept.ok() ? interval : options_.poll_interval);
      if (!kept.ok() && !stopping_) TESS_LOG_WARN("keeping lease {:x}: {}", lease_.value(), kept);
    }
    if (registration_dirty_ && !stopping_) {
      Status registered = co_await register_host();
      if (!registered.ok()) {
        next_keepalive = std::min(next_keepalive, clock_.after(options_.poll_interval));
      }
    }
    if (stopping_) break;
    co_await pause(&lease_timer_, &lease_wake_, next_keepalive);
  }
  loop_ended();
}

Task<Status> ControlPlane::keep_lease() {
  auto interval = std::chrono::milliseconds(options_.lease_ttl_seconds * 1000 / 3);
  Deadline deadline =
      Deadline::after(std::min<Clock::Duration>(interval, options_.store_timeout), clock_);
  Status alive = co_await store_->keep_alive(lease_, deadline);
  if (alive.code() != StatusCode::kNotFound) co_return alive;
  // Our lease ended (etcd out of reach for longer than the TTL, or ended early): a new one.
  TESS_COVER("cluster.lease_lost_reregistered");
  TESS_LOG_WARN("host {}: lease {:x} has ended; registering again", host_id_, lease_.value());
  TESS_CO_ASSIGN_OR_RETURN(
      lease_, co_await store_->grant_lease(std::chrono::seconds(options_.lease_ttl_seconds),
                                           store_deadline()));
  registration_dirty_ = true;
  co_return Status();
}

Task<Status> ControlPlane::register_host() {
  registration_dirty_ = false;
  std::string key = keys_.host(host_id_);
  std::string value = registration().SerializeAsString();
  Status put = co_await store_->put(std::move(key), std::move(value), lease_, store_deadline());
  if (!put.ok()) registration_dirty_ = true;  // A put is idempotent: the next pass repeats it.
  co_return put;
}

// ---- The rounds.

Task<void> ControlPlane::round_loop() {
  while (!stopping_) {
    // Rare but legal: a round held up for a whole lease TTL (a huge map, a slow etcd). The lease
    // keeper runs on its own schedule, so the lease must survive it.
    if (TESS_BUGGIFY("cluster.round_held_up")) {
      (void)co_await clock_.sleep_for(std::chrono::seconds(options_.lease_ttl_seconds));
    }
    Status status = co_await round();
    if (stopping_) break;
    if (!status.ok()) {
      publish_failure(status);
    } else {
      last_error_.clear();
    }
    co_await pause(&round_timer_, &round_wake_, clock_.after(options_.poll_interval));
  }
  loop_ended();
}

Task<Status> ControlPlane::round() {
  uint32_t leader = 0;
  int64_t election_revision = 0;
  TESS_CO_RETURN_IF_ERROR(co_await campaign(&leader, &election_revision));
  TESS_CO_ASSIGN_OR_RETURN(std::vector<proto::HostRegistration> registrations,
                           co_await load_registrations(store_.get(), keys_, store_deadline()));
  TESS_CO_ASSIGN_OR_RETURN(std::optional<ClusterMap> map, co_await current_map(view()));
  auto next = std::make_shared<ClusterView>();
  next->map = std::move(map);
  next->registrations = std::move(registrations);
  next->leader_host_id = leader;
  next->election_revision = election_revision;
  if (leader != host_id_) {
    down_since_.clear();  // Its observations end with its term.
    reported_failed_.clear();
  }
  if (leader == host_id_ && next->map) {
    TESS_CO_ASSIGN_OR_RETURN(bool changed, co_await lead(next));
    if (changed) {
      TESS_CO_ASSIGN_OR_RETURN(next->map, co_await load_map(store_.get(), keys_, store_deadline()));
    }
  }
  publish(std::move(next));
  co_return Status();
}

// Creates election/mgmt under our lease if nobody holds it. `*leader` is the holder (0: none) and
// `*election_revision` its key's create revision, the leader's term.
Task<Status> ControlPlane::campaign(uint32_t* leader, int64_t* election_revision) {
  *leader = 0;
  *election_revision = 0;
  TESS_CO_ASSIGN_OR_RETURN(std::optional<KeyValue> held,
                           co_await store_->get(keys_.election(), store_deadline()));
  if (!held) {
    std::vector<Compare> absent = only(create_revision_is(keys_.election(), 0));
    std::vector<WriteOp> put =
        only(WriteOp{WriteOp::Kind::kPut, keys_.election(), std::to_string(host_id_), lease_});
    Result<TxnResult> won =
        co_await store_->txn(std::move(absent), std::move(put), store_deadline());
    // Won, lost or unknown: the key tells.
    if (!won.ok() && !outcome_unknown(won.status())) co_return won.status();
    TESS_CO_ASSIGN_OR_RETURN(held, co_await store_->get(keys_.election(), store_deadline()));
    if (!held) co_return Status();
    if (held->lease == lease_) {
      TESS_COVER("cluster.management_leader_elected");
      TESS_LOG_INFO("host {} is now the management leader (term {})", host_id_,
                    held->create_revision);
    }
  }
  TESS_CO_ASSIGN_OR_RETURN(uint32_t holder,
                           parse_u32(held->value, "the management leader's id (election/mgmt)"));
  if (holder == host_id_ && held->lease != lease_) {
    // Our own key under a lease of ours that ended (we registered again), or of our previous
    // process: resign so that the election moves on. Compare-and-delete on the key's create
    // revision, so that a successor's key is never deleted.
    TESS_COVER("cluster.stale_leader_key_resigned");
    std::vector<Compare> ours = only(create_revision_is(keys_.election(), held->create_revision));
    std::vector<WriteOp> remove = only(WriteOp{WriteOp::Kind::kDelete, keys_.election(), {}, {}});
    Result<TxnResult> resigned =
        co_await store_->txn(std::move(ours), std::move(remove), store_deadline());
    if (!resigned.ok() && !outcome_unknown(resigned.status())) co_return resigned.status();
    co_return Status();
  }
  *leader = holder;
  *election_revision = held->create_revision;
  co_return Status();
}

Task<Result<std::optional<ClusterMap>>> ControlPlane::current_map(
    std::shared_ptr<const ClusterView> held) {
  if (held->map) {
    // Read the whole map only when its header changed.
    TESS_CO_ASSIGN_OR_RETURN(std::optional<KeyValue> header,
                             co_await store_->get(keys_.map_header(), store_deadline()));
    if (header && header->mod_revision == held->map->header_mod_revision) co_return held->map;
  }
  co_return co_await load_map(store_.get(), keys_, store_deadline());
}

// The management leader's round: bring the map in line with the registrations. True if it wrote
// a new map.
Task<Result<bool>> ControlPlane::lead(std::shared_ptr<const ClusterView> view) {
  TESS_CO_RETURN_IF_ERROR(co_await map_writer_.acquire(store_deadline()));
  SemaphorePermit permit(&map_writer_);
  const ClusterMap& map = *view->map;
  std::set<HostId> failed = permanently_failed(*view);
  // next_map is a function of the map, the registrations and the permanently failed hosts: inputs
  // that changed nothing last round change nothing now, so the assignment is not run again.
  std::string inputs = std::to_string(map.header_mod_revision);
  for (const auto& registration : view->registrations) inputs += registration.SerializeAsString();
  for (HostId host : failed) inputs += fmt::format("/{}", host);
  if (inputs == unchanged_inputs_) co_return false;
  std::optional<ClusterMap> next = next_map(map, view->registrations, failed);
  if (!next) {
    unchanged_inputs_ = std::move(inputs);
    co_return false;
  }
  MapWrite write = prepare_map_write(keys_, *next, &map, view->election_revision);
  Status written = co_await write_map(std::move(write), view->election_revision);
  // Another change came first (a create or hot-spare change): the next round retries.
  if (written.code() == StatusCode::kAborted) co_return false;
  TESS_CO_RETURN_IF_ERROR(written);
  for (const proto::HostEntry& host : next->header.hosts()) {
    for (const proto::HostEntry& before : map.header.hosts()) {
      if (before.host_id() == host.host_id() && before.up() != host.up()) {
        TESS_LOG_WARN("host {} ({}) is {} (map epoch {})", host.host_id(), host.name(),
                      host.up() ? "up" : "down", next->header.epoch());
      }
    }
  }
  co_return true;
}

// The hosts whose registration has been gone for at least the map's replacement delay, by this
// leader's clock since it first saw each one gone in its current term. A host that registers again
// leaves the set (and keeps whatever replicas it still has in the map).
std::set<HostId> ControlPlane::permanently_failed(const ClusterView& view) {
  if (down_since_term_ != view.election_revision) {
    down_since_.clear();
    down_since_term_ = view.election_revision;
  }
  std::set<uint32_t> live;
  for (const auto& registration : view.registrations) live.insert(registration.host_id());
  Clock::TimePoint now = clock_.now();
  std::map<HostId, Clock::TimePoint> down;
  for (const proto::HostEntry& host : view.map->header.hosts()) {
    if (live.contains(host.host_id())) continue;
    HostId id(host.host_id());
    auto seen = down_since_.find(id);
    down.emplace(id, seen == down_since_.end() ? now : seen->second);
  }
  down_since_ = std::move(down);
  Clock::Duration delay = replica_replacement_delay(view.map->header);
  std::set<HostId> failed;
  for (const auto& [host, since] : down_since_) {
    if (now - since >= delay) failed.insert(host);
  }
  for (HostId host : failed) {
    if (reported_failed_.insert(host).second) {
      TESS_COVER("cluster.host_permanently_failed");
      TESS_LOG_WARN("host {} has been down for {} s: its bucket replicas are replaced", host,
                    std::chrono::duration_cast<std::chrono::seconds>(delay).count());
    }
  }
  std::erase_if(reported_failed_, [&failed](HostId host) { return !failed.contains(host); });
  return failed;
}

// Writes one map change under the leader's term. kFailedPrecondition if the term has ended (a
// successor's key, or none: fenced), kAborted if another change came first.
Task<Status> ControlPlane::write_map(MapWrite write, int64_t election_revision) {
  TESS_CO_ASSIGN_OR_RETURN(bool stored,
                           co_await store_map(store_.get(), std::move(write), store_deadline()));
  if (stored) co_return Status();
  TESS_CO_ASSIGN_OR_RETURN(std::optional<KeyValue> election,
                           co_await store_->get(keys_.election(), store_deadline()));
  if (!election || election->create_revision != election_revision) {
    TESS_COVER("cluster.fenced_map_write_refused");
    co_return error(StatusCode::kFailedPrecondition,
                    "host {} is no longer the management leader: its term {} has ended", host_id_,
                    election_revision);
  }
  co_return error(StatusCode::kAborted, "the map changed meanwhile; try again");
}

// ---- Operations.

Task<Result<uint32_t>> ControlPlane::allocate_drive_id() {
  co_return co_await next_id(store_.get(), keys_.next_drive_id(), "", store_deadline());
}

Task<void> ControlPlane::set_drives(std::vector<proto::DriveInfo> drives) {
  drives_ = std::move(drives);
  registration_dirty_ = true;
  lease_wake_ = true;
  lease_timer_.cancel();
  co_return;
}

void ControlPlane::set_bucket_store(uint64_t store) {
  TESS_ASSERT(running_loops_ == 0, "set_bucket_store() after start()");
  bucket_store_ = store;
}

Task<Status> ControlPlane::create_cluster(CreationRequest request) {
  std::shared_ptr<const ClusterView> held = view();
  if (held->leader_host_id != host_id_) {
    co_return error(StatusCode::kFailedPrecondition, "this host is not the management leader");
  }
  TESS_CO_RETURN_IF_ERROR(co_await map_writer_.acquire(store_deadline()));
  SemaphorePermit permit(&map_writer_);
  TESS_CO_ASSIGN_OR_RETURN(std::optional<ClusterMap> existing,
                           co_await load_map(store_.get(), keys_, store_deadline()));
  if (existing) {
    co_return error(StatusCode::kFailedPrecondition,
                    "the cluster exists already with {}+{}; its protection cannot change",
                    existing->header.protection().data(), existing->header.protection().parity());
  }
  TESS_CO_ASSIGN_OR_RETURN(std::vector<proto::HostRegistration> registrations,
                           co_await load_registrations(store_.get(), keys_, store_deadline()));
  TESS_CO_ASSIGN_OR_RETURN(request, check_creation(request, count_failure_domains(registrations),
                                                   static_cast<uint32_t>(registrations.size())));
  ClusterMap map = initial_map(uuid_, request, registrations, now_unix_ms());
  MapWrite write = prepare_map_write(keys_, map, nullptr, held->election_revision);
  Status written = co_await write_map(std::move(write), held->election_revision);
  if (written.code() == StatusCode::kAborted) {
    co_return error(StatusCode::kFailedPrecondition, "the cluster was created meanwhile");
  }
  TESS_CO_RETURN_IF_ERROR(written);
  TESS_LOG_INFO("cluster created: {}+{}, hot spare {}, {} buckets, {} hosts", request.data,
                request.parity, request.hot_spare, request.bucket_count, registrations.size());
  round_wake_ = true;
  round_timer_.cancel();
  co_return Status();
}

Task<Status> ControlPlane::set_hot_spare(uint32_t hot_spare) {
  std::shared_ptr<const ClusterView> held = view();
  if (held->leader_host_id != host_id_) {
    co_return error(StatusCode::kFailedPrecondition, "this host is not the management leader");
  }
  TESS_CO_RETURN_IF_ERROR(co_await map_writer_.acquire(store_deadline()));
  SemaphorePermit permit(&map_writer_);
  TESS_CO_ASSIGN_OR_RETURN(std::optional<ClusterMap> map,
                           co_await load_map(store_.get(), keys_, store_deadline()));
  if (!map) co_return error(StatusCode::kFailedPrecondition, "the cluster has not been created");
  TESS_CO_RETURN_IF_ERROR(check_hot_spare(hot_spare, count_failure_domains(map->header),
                                          map->header.protection().data(),
                                          map->header.protection().parity()));
  ClusterMap next = *map;
  next.header.set_hot_spare(hot_spare);
  next.header.set_epoch(map->header.epoch() + 1);
  MapWrite write = prepare_map_write(keys_, next, &*map, held->election_revision);
  co_return co_await write_map(std::move(write), held->election_revision);
}

Task<Result<FilesystemTable>> ControlPlane::filesystems() {
  co_return co_await load_filesystems(store_.get(), keys_, store_deadline());
}

Task<Result<proto::FilesystemRecord>> ControlPlane::change_filesystem(FilesystemChange change,
                                                                      FilesystemUsageTable usage) {
  std::shared_ptr<const ClusterView> held = view();
  if (held->leader_host_id != host_id_ || held->election_revision <= 0) {
    co_return error(StatusCode::kFailedPrecondition, "this host is not the management leader");
  }
  Deadline deadline = store_deadline();
  TESS_CO_RETURN_IF_ERROR(co_await filesystem_writer_.acquire(deadline));
  SemaphorePermit permit(&filesystem_writer_);
  co_return co_await tessera::change_filesystem(store_.get(), keys_, std::move(change),
                                                std::move(usage), held->election_revision,
                                                now_unix_ms(), deadline);
}

}  // namespace tessera
