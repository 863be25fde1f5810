#include "cluster/control_plane.h"

#include <random>
#include <set>

#include "base/log.h"

namespace tessera {

namespace {

uint64_t now_unix_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string random_uuid() {
  std::random_device device;
  std::mt19937_64 random((uint64_t{device()} << 32) ^ device() ^ now_unix_ms());
  uint64_t high = random();
  uint64_t low = random();
  high = (high & ~0xf000ULL) | 0x4000ULL;      // Version 4.
  low = (low & ~(3ULL << 62)) | (2ULL << 62);  // Variant 1.
  std::string hex = fmt::format("{:016x}{:016x}", high, low);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

// The value stored at `key`, created as `initial` by whoever comes first.
Result<std::string> get_or_create(const EtcdClient& etcd, const std::string& key,
                                  const std::string& initial) {
  TESS_RETURN_IF_ERROR(etcd.txn({EtcdCompare{key, "CREATE", "EQUAL", 0, {}}},
                                {EtcdOp{EtcdOp::Kind::kPut, key, initial, 0}})
                           .status());
  TESS_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> stored, etcd.get(key));
  if (!stored) return error(StatusCode::kInternal, "etcd lost {}", key);
  return stored->value;
}

// Increments the counter at `key` (absent: 0) and returns the new value; `also` is written in the
// same transaction with `{}` replaced by the value.
Result<uint32_t> next_id(const EtcdClient& etcd, const std::string& key,
                         const std::string& also_key) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    TESS_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> current, etcd.get(key));
    uint32_t value = current ? static_cast<uint32_t>(std::stoul(current->value)) + 1 : 1;
    std::vector<EtcdCompare> compares{
        current ? EtcdCompare{key, "MOD", "EQUAL", current->mod_revision, {}}
                : EtcdCompare{key, "CREATE", "EQUAL", 0, {}}};
    std::vector<EtcdOp> ops{EtcdOp{EtcdOp::Kind::kPut, key, std::to_string(value), 0}};
    if (!also_key.empty()) {
      compares.push_back(EtcdCompare{also_key, "CREATE", "EQUAL", 0, {}});
      ops.push_back(EtcdOp{EtcdOp::Kind::kPut, also_key, std::to_string(value), 0});
    }
    TESS_ASSIGN_OR_RETURN(bool done, etcd.txn(compares, ops));
    if (done) return value;
  }
  return error(StatusCode::kAborted, "could not allocate an id at {}", key);
}

}  // namespace

ControlPlane::ControlPlane(ControlPlaneOptions options, std::string uuid, uint32_t host_id)
    : options_(std::move(options)),
      etcd_(options_.etcd_endpoints),
      keys_(options_.cluster_name),
      uuid_(std::move(uuid)),
      host_id_(host_id),
      started_unix_ms_(now_unix_ms()) {}

ControlPlane::~ControlPlane() { stop(); }

Result<std::unique_ptr<ControlPlane>> ControlPlane::join(ControlPlaneOptions options) {
  if (options.failure_domain.empty()) options.failure_domain = options.host_name;
  EtcdClient etcd(options.etcd_endpoints);
  ClusterKeys keys(options.cluster_name);
  TESS_ASSIGN_OR_RETURN(std::string uuid, get_or_create(etcd, keys.uuid(), random_uuid()));
  uint32_t host_id = 0;
  while (host_id == 0) {
    TESS_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> known,
                          etcd.get(keys.host_name(options.host_name)));
    if (known) {
      host_id = static_cast<uint32_t>(std::stoul(known->value));
      break;
    }
    Result<uint32_t> allocated =
        next_id(etcd, keys.next_host_id(), keys.host_name(options.host_name));
    if (allocated.ok())
      host_id = *allocated;  // Else another process took the name: read it.
    else if (allocated.status().code() != StatusCode::kAborted)
      return allocated.status();
  }
  TESS_LOG_INFO("joined cluster '{}' ({}) as host {} ({})", options.cluster_name, uuid, host_id,
                options.host_name);
  return std::unique_ptr<ControlPlane>(new ControlPlane(std::move(options), uuid, host_id));
}

Result<uint32_t> ControlPlane::allocate_drive_id() {
  return next_id(etcd_, keys_.next_drive_id(), "");
}

void ControlPlane::set_drives(std::vector<proto::DriveInfo> drives) {
  std::lock_guard lock(mutex_);
  drives_ = std::move(drives);
  registration_dirty_ = true;
  wake_.notify_all();
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
  return out;
}

Status ControlPlane::start() {
  TESS_ASSIGN_OR_RETURN(int64_t lease, etcd_.grant_lease(options_.lease_ttl_seconds));
  {
    std::lock_guard lock(mutex_);
    lease_ = lease;
    next_keepalive_ = std::chrono::steady_clock::now();
  }
  TESS_RETURN_IF_ERROR(tick());
  thread_ = std::thread([this] { run(); });
  return Status();
}

void ControlPlane::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !thread_.joinable()) {
      stopping_ = true;
      return;
    }
    stopping_ = true;
    wake_.notify_all();
  }
  thread_.join();
  Status revoked = etcd_.revoke_lease(lease_);
  if (!revoked.ok()) TESS_LOG_WARN("deregistering: {}", revoked);
}

std::shared_ptr<const ClusterView> ControlPlane::view() const {
  std::lock_guard lock(mutex_);
  return view_;
}

bool ControlPlane::is_leader() const { return view()->leader_host_id == host_id_; }

MapEpoch ControlPlane::map_epoch() const {
  auto current = view();
  return MapEpoch(current->map ? current->map->header.epoch() : 0);
}

void ControlPlane::publish(std::shared_ptr<const ClusterView> view) {
  std::lock_guard lock(mutex_);
  view_ = std::move(view);
}

void ControlPlane::run() {
  while (true) {
    Status status = tick();
    if (!status.ok()) {
      auto current = view();
      if (current->etcd_status.message() != status.message())
        TESS_LOG_WARN("control plane: {}", status);
      auto failed = std::make_shared<ClusterView>(*current);
      failed->etcd_status = status;
      publish(failed);
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
    if (stopping_) return;
  }
}

Status ControlPlane::keep_lease() {
  std::unique_lock lock(mutex_);
  bool due = std::chrono::steady_clock::now() >= next_keepalive_;
  int64_t lease = lease_;
  lock.unlock();
  if (due) {
    Status alive = etcd_.keep_alive(lease);
    if (alive.code() == StatusCode::kNotFound) {
      // Our lease ended (etcd was out of reach for longer than the TTL): start a new one.
      TESS_LOG_WARN("lease {:x} expired; registering again", lease);
      TESS_ASSIGN_OR_RETURN(lease, etcd_.grant_lease(options_.lease_ttl_seconds));
      lock.lock();
      lease_ = lease;
      registration_dirty_ = true;
      lock.unlock();
    } else {
      TESS_RETURN_IF_ERROR(alive);
    }
    lock.lock();
    next_keepalive_ = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(options_.lease_ttl_seconds * 1000 / 3);
    lock.unlock();
  }
  lock.lock();
  if (!registration_dirty_) return Status();
  std::string value = registration().SerializeAsString();
  registration_dirty_ = false;
  lock.unlock();
  Status put = etcd_.put(keys_.host(host_id_), value, lease);
  if (!put.ok()) {
    lock.lock();
    registration_dirty_ = true;
  }
  return put;
}

Status ControlPlane::campaign(uint32_t* leader) {
  int64_t lease = 0;
  {
    std::lock_guard lock(mutex_);
    lease = lease_;
  }
  TESS_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> held, etcd_.get(keys_.election()));
  if (!held) {
    TESS_ASSIGN_OR_RETURN(
        bool won,
        etcd_.txn({EtcdCompare{keys_.election(), "CREATE", "EQUAL", 0, {}}},
                  {EtcdOp{EtcdOp::Kind::kPut, keys_.election(), std::to_string(host_id_), lease}}));
    if (won) TESS_LOG_INFO("host {} is now the management leader", host_id_);
    TESS_ASSIGN_OR_RETURN(held, etcd_.get(keys_.election()));
    if (!held) {
      *leader = 0;
      return Status();
    }
  }
  *leader = static_cast<uint32_t>(std::stoul(held->value));
  // Our own key under an old lease (we re-registered): resign so that the election moves on.
  if (*leader == host_id_ && held->lease != lease) {
    TESS_RETURN_IF_ERROR(etcd_.remove(keys_.election()));
    *leader = 0;
  }
  return Status();
}

Result<std::optional<ClusterMap>> ControlPlane::current_map(const ClusterView& held) const {
  if (held.map) {
    // Read the whole map only when its header changed.
    TESS_ASSIGN_OR_RETURN(std::optional<EtcdKeyValue> header, etcd_.get(keys_.map_header()));
    if (header && header->mod_revision == held.map->header_mod_revision) return held.map;
  }
  return load_map(etcd_, keys_);
}

Status ControlPlane::tick() {
  TESS_RETURN_IF_ERROR(keep_lease());
  uint32_t leader = 0;
  TESS_RETURN_IF_ERROR(campaign(&leader));
  TESS_ASSIGN_OR_RETURN(std::vector<proto::HostRegistration> registrations,
                        load_registrations(etcd_, keys_));
  TESS_ASSIGN_OR_RETURN(std::optional<ClusterMap> map, current_map(*view()));
  if (leader == host_id_ && map) {
    TESS_ASSIGN_OR_RETURN(bool changed, lead(*map, registrations));
    if (changed) {
      TESS_ASSIGN_OR_RETURN(map, load_map(etcd_, keys_));
    }
  }
  auto next = std::make_shared<ClusterView>();
  next->map = std::move(map);
  next->registrations = std::move(registrations);
  next->leader_host_id = leader;
  publish(std::move(next));
  return Status();
}

// The management leader's round: bring the map in line with the registrations. True if it wrote
// a new map.
Result<bool> ControlPlane::lead(const ClusterMap& map,
                                const std::vector<proto::HostRegistration>& registrations) {
  std::lock_guard lock(leader_mutex_);
  // next_map is a function of the map and the registrations: inputs that changed nothing last
  // round change nothing now, so the bucket assignment is not run again for them.
  std::string inputs = std::to_string(map.header_mod_revision);
  for (const auto& registration : registrations) inputs += registration.SerializeAsString();
  if (inputs == unchanged_inputs_) return false;
  std::optional<ClusterMap> next = next_map(map, registrations);
  if (!next) {
    unchanged_inputs_ = std::move(inputs);
    return false;
  }
  // False if another change came first (a create or hot-spare change): the next round retries.
  TESS_ASSIGN_OR_RETURN(bool stored, store_map(etcd_, keys_, *next, &map));
  if (!stored) return false;
  for (const proto::HostEntry& host : next->header.hosts()) {
    for (const proto::HostEntry& before : map.header.hosts()) {
      if (before.host_id() == host.host_id() && before.up() != host.up()) {
        TESS_LOG_WARN("host {} ({}) is {} (map epoch {})", host.host_id(), host.name(),
                      host.up() ? "up" : "down", next->header.epoch());
      }
    }
  }
  return true;
}

Status ControlPlane::create_cluster(CreationRequest request) {
  std::lock_guard lock(leader_mutex_);
  if (!is_leader())
    return error(StatusCode::kFailedPrecondition, "this host is not the management leader");
  TESS_ASSIGN_OR_RETURN(std::optional<ClusterMap> existing, load_map(etcd_, keys_));
  if (existing) {
    return error(StatusCode::kFailedPrecondition,
                 "the cluster exists already with {}+{}; its protection cannot change",
                 existing->header.protection().data(), existing->header.protection().parity());
  }
  TESS_ASSIGN_OR_RETURN(std::vector<proto::HostRegistration> registrations,
                        load_registrations(etcd_, keys_));
  TESS_ASSIGN_OR_RETURN(request, check_creation(request, count_failure_domains(registrations),
                                                static_cast<uint32_t>(registrations.size())));
  ClusterMap map = initial_map(uuid_, request, registrations, now_unix_ms());
  TESS_ASSIGN_OR_RETURN(bool stored, store_map(etcd_, keys_, map, nullptr));
  if (!stored) return error(StatusCode::kFailedPrecondition, "the cluster was created meanwhile");
  TESS_LOG_INFO("cluster created: {}+{}, hot spare {}, {} buckets, {} hosts", request.data,
                request.parity, request.hot_spare, request.bucket_count, registrations.size());
  wake_.notify_all();
  return Status();
}

Status ControlPlane::set_hot_spare(uint32_t hot_spare) {
  std::lock_guard lock(leader_mutex_);
  if (!is_leader())
    return error(StatusCode::kFailedPrecondition, "this host is not the management leader");
  TESS_ASSIGN_OR_RETURN(std::optional<ClusterMap> map, load_map(etcd_, keys_));
  if (!map) return error(StatusCode::kFailedPrecondition, "the cluster has not been created");
  uint32_t domains = 0;
  {
    std::set<std::string> names;
    for (const auto& host : map->header.hosts()) names.insert(host.failure_domain());
    domains = static_cast<uint32_t>(names.size());
  }
  TESS_RETURN_IF_ERROR(check_hot_spare(hot_spare, domains, map->header.protection().data(),
                                       map->header.protection().parity()));
  ClusterMap next = *map;
  next.header.set_hot_spare(hot_spare);
  next.header.set_epoch(map->header.epoch() + 1);
  TESS_ASSIGN_OR_RETURN(bool stored, store_map(etcd_, keys_, next, &*map));
  if (!stored) return error(StatusCode::kAborted, "the map changed meanwhile; try again");
  return Status();
}

}  // namespace tessera
