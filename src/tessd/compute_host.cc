#include "tessd/compute_host.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "base/log.h"
#include "bucket/kv_state_machine.h"
#include "meta/keys.h"

namespace tessera {

using nlohmann::json;

std::optional<raft::Config> founding_config(const ClusterMap& map, BucketId bucket) {
  if (bucket.value() >= map.buckets.size()) return std::nullopt;
  const DesiredReplicas& entry = map.buckets[bucket.value()];
  // Only the creation map's desired set: every founder computes the same configuration from the
  // same immutable fields (founders are written once, at epoch 1).
  if (entry.desired_epoch != MapEpoch(1)) return std::nullopt;
  std::map<uint32_t, uint64_t> store_of;
  for (const proto::BucketFounder& founder : map.header.founders()) {
    if (founder.host_id() != 0 && founder.store() != 0) {
      store_of[founder.host_id()] = founder.store();
    }
  }
  raft::Config config;
  for (HostId host : entry.desired) {
    auto found = store_of.find(host.value());
    if (found == store_of.end()) continue;
    config.voters.push_back(raft::ReplicaId{host, raft::StoreId(found->second)});
  }
  if (config.voters.empty()) return std::nullopt;
  std::sort(config.voters.begin(), config.voters.end());
  return config;
}

json replica_status_json(const std::vector<bucket::ReplicaStatus>& replicas) {
  json out = json::array();
  for (const bucket::ReplicaStatus& r : replicas) {
    json voters = json::array();
    json learners = json::array();
    for (const raft::ReplicaId& id : r.config.voters) voters.push_back(id.host.value());
    for (const raft::ReplicaId& id : r.config.learners) learners.push_back(id.host.value());
    out.push_back({{"bucket", r.bucket.value()},
                   {"role", raft::role_name(r.role)},
                   {"leader_host", r.leader.host.value()},
                   {"term", r.term.value()},
                   {"commit", r.commit.value()},
                   {"applied", r.applied.value()},
                   {"last_index", r.last_index.value()},
                   {"durable", r.durable.value()},
                   {"quorum_durable", r.quorum_durable.value()},
                   {"voters", voters},
                   {"learners", learners},
                   {"recovering", r.recovering},
                   {"broken", r.broken},
                   {"hibernated", r.hibernated}});
  }
  return out;
}

json ComputeHost::usage_json() const {
  proto::MetaRead read;
  read.mutable_usage();  // Root, unchecked: the default caller.
  json out = json::array();
  for (const bucket::ReplicaStatus& status : buckets_->status()) {
    // A replica that has applied nothing knows nothing yet; leaving it out keeps it from
    // reporting zeros for a bucket no other replica answers for.
    bucket::Replica* replica = buckets_->replica(status.bucket);
    if (replica == nullptr || status.broken || status.applied.value() == 0) continue;
    Result<proto::BucketResult> answer = replica->local_meta_read(read);
    if (!answer.ok() || answer->status_code() != 0 || answer->meta().errno_value() != 0) continue;
    json filesystems = json::array();
    for (const proto::MetaUsageRow& row : answer->meta().usage()) {
      filesystems.push_back({{"id", row.fs()},
                             {"files", row.usage().files()},
                             {"size_bytes", row.usage().size_bytes()}});
    }
    out.push_back({{"bucket", status.bucket.value()},
                   {"applied", status.applied.value()},
                   {"filesystems", std::move(filesystems)}});
  }
  return out;
}

Task<Status> ComputeHost::make_root(FilesystemId fs, Deadline deadline) {
  std::shared_ptr<const ClusterView> view = control_->view();
  if (!view->map || view->map->buckets.empty()) {
    co_return error(StatusCode::kFailedPrecondition, "the cluster has not been created");
  }
  auto bucket_count = static_cast<uint32_t>(view->map->buckets.size());
  proto::MetaCommand command;
  command.set_fs(fs.value());
  command.mutable_make_root()->set_mode(0755);  // Owned by root (uid and gid 0).
  TESS_CO_ASSIGN_OR_RETURN(
      proto::BucketResult answer,
      co_await client_->meta(meta::root_bucket(fs, bucket_count), std::move(command), deadline));
  TESS_CO_RETURN_IF_ERROR(bucket::status_of(answer));
  if (answer.meta().errno_value() != 0) {
    co_return error(StatusCode::kInternal, "making the root of filesystem {} was refused: {}", fs,
                    answer.meta().message());
  }
  co_return Status();
}

bucket::Placement MapPlacement::placement(BucketId bucket) const {
  std::shared_ptr<const ClusterView> view = control_->view();
  bucket::Placement out;
  if (!view->map || bucket.value() >= view->map->buckets.size()) return out;
  const DesiredReplicas& entry = view->map->buckets[bucket.value()];
  out.desired = entry.desired;
  out.preferred_leader = entry.preferred_leader;
  return out;
}

raft::Config MapPlacement::founding(BucketId bucket) const {
  std::shared_ptr<const ClusterView> view = control_->view();
  if (!view->map) return {};
  return founding_config(*view->map, bucket).value_or(raft::Config{});
}

const proto::HostRegistration* MapPlacement::registration(const ClusterView& view,
                                                          HostId host) const {
  for (const proto::HostRegistration& registration : view.registrations) {
    if (registration.host_id() == host.value()) return &registration;
  }
  return nullptr;
}

bool MapPlacement::alive(HostId host) const {
  std::shared_ptr<const ClusterView> view = control_->view();
  return registration(*view, host) != nullptr;
}

std::optional<raft::StoreId> MapPlacement::store_of(HostId host) const {
  std::shared_ptr<const ClusterView> view = control_->view();
  const proto::HostRegistration* found = registration(*view, host);
  if (found == nullptr || found->bucket_store() == 0) return std::nullopt;
  return raft::StoreId(found->bucket_store());
}

std::vector<HostId> MapBucketDirectory::replicas(BucketId bucket) const {
  bucket::Placement placement = placement_->placement(bucket);
  std::vector<HostId> hosts;
  if (placement.preferred_leader.value() != 0) hosts.push_back(placement.preferred_leader);
  for (HostId host : placement.desired) {
    if (host != placement.preferred_leader) hosts.push_back(host);
  }
  return hosts;
}

ComputeHost::ComputeHost(Executor executor, ComputeHostOptions options, const ControlPlane* control)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      control_(control),
      placement_(control),
      directory_(&placement_, [this](HostId host) { return resolve(host); }),
      follow_timer_(executor_) {}

ComputeHost::~ComputeHost() { TESS_ASSERT(!following_, "compute host destroyed while following"); }

Task<Result<std::unique_ptr<ComputeHost>>> ComputeHost::open(Executor executor,
                                                             ComputeHostOptions options,
                                                             const ControlPlane* control) {
  std::unique_ptr<ComputeHost> self(new ComputeHost(executor, options, control));
  bucket::BucketHostOptions host;
  host.host = options.host;
  host.cluster = options.cluster;
  host.path = options.path;
  host.seed = options.seed;
  host.replica = options.replica;
  host.replica.core.hibernate_after =
      std::chrono::duration_cast<raft::Duration>(options.hibernate_after);
  host.replica.command_handler = &self->namespace_handler_;
  host.placement = &self->placement_;
  TESS_CO_ASSIGN_OR_RETURN(host.store.boot_id, read_boot_id());
  host.store.store_id_seed = options.seed;
  host.store.now_unix_ms = system_unix_ms();
  ComputeHost* raw = self.get();
  auto opened = co_await bucket::BucketHost::open(
      executor, host, [raw](HostId peer) { return raw->resolve(peer); });
  if (!opened.ok()) co_return opened.status().with_context(options.path);
  self->buckets_ = std::move(*opened);
  bucket::BucketClientOptions client;
  // Any non-zero session: transaction commands carry none (each is idempotent by its id).
  client.session = (options.seed | 1) ^ (uint64_t{options.host.value()} << 32);
  self->client_ = std::make_unique<bucket::BucketClient>(executor, self->directory_, client);
  self->transport_ = std::make_unique<meta::BucketTransport>(*self->client_);
  bucket::BucketHost* host_buckets = self->buckets_.get();
  self->recovery_ = std::make_unique<meta::RecoveryLoop>(
      executor, *self->transport_,
      [host_buckets](uint64_t before_log_ms) {
        return meta::buckets_to_recover(*host_buckets, before_log_ms);
      },
      options.recovery);
  co_return std::move(self);
}

std::optional<bucket::PeerAddress> ComputeHost::resolve(HostId host) const {
  std::shared_ptr<const ClusterView> view = control_->view();
  for (const proto::HostRegistration& registration : view->registrations) {
    if (registration.host_id() == host.value()) {
      return bucket::PeerAddress{registration.address(),
                                 static_cast<uint16_t>(registration.rpc_port())};
    }
  }
  // A host whose registration lapsed may still answer at the address the map holds.
  if (view->map) {
    for (const proto::HostEntry& entry : view->map->header.hosts()) {
      if (entry.host_id() == host.value()) {
        return bucket::PeerAddress{entry.address(), static_cast<uint16_t>(entry.rpc_port())};
      }
    }
  }
  return std::nullopt;
}

Task<Status> ComputeHost::start() {
  // Every bucket the store holds, founded here or added by a leader: an empty configuration
  // loads what is there (Replica::open founds nothing without one).
  std::vector<BucketId> held = buckets_->store().buckets_at_open();
  for (BucketId bucket : held) {
    TESS_CO_RETURN_IF_ERROR(co_await buckets_->ensure_replica(bucket, raft::Config{}));
  }
  if (!held.empty()) TESS_LOG_INFO("reopened {} bucket replica(s)", held.size());
  following_ = true;
  spawn_detached(executor_, follow_loop(this), "compute host: follow the map");
  recovery_->start();
  recovery_started_ = true;
  co_return Status();
}

Task<void> ComputeHost::follow_loop(ComputeHost* self) {
  const Clock& clock = RealClock::instance();
  while (!self->stopping_) {
    std::shared_ptr<const ClusterView> view = self->control_->view();
    if (view->map && view->map->header.epoch() != self->followed_epoch_) {
      co_await self->found_buckets(*view->map);
    }
    if (self->stopping_) break;
    co_await clock.wait(self->follow_timer_, clock.now() + self->options_.follow_interval);
  }
  self->following_ = false;
}

struct ComputeHost::FoundingWave {
  explicit FoundingWave(const Executor& executor) : done(executor) {}
  size_t pending = 0;
  Status first_error;
  boost::asio::steady_timer done;  // Cancelled when pending reaches zero.
};

Task<void> ComputeHost::found_one(ComputeHost* self, BucketId bucket, raft::Config config,
                                  FoundingWave* wave) {
  Status status = co_await self->buckets_->ensure_replica(bucket, std::move(config));
  if (!status.ok() && wave->first_error.ok()) wave->first_error = status;
  if (--wave->pending == 0) wave->done.cancel();
}

Task<void> ComputeHost::found_buckets(const ClusterMap& map) {
  // Up to this many foundings at once: each waits for a synced write, and the log store's group
  // commit makes one fsync serve them all (one at a time, 4,096 buckets took seconds per host).
  constexpr size_t kFoundingsAtOnce = 64;
  raft::ReplicaId self = buckets_->self();
  std::vector<std::pair<BucketId, raft::Config>> to_found;
  for (uint32_t b = 0; b < map.buckets.size(); ++b) {
    BucketId bucket(b);
    if (buckets_->replica(bucket) != nullptr) continue;
    std::optional<raft::Config> config = founding_config(map, bucket);
    if (config && config->is_voter(self)) to_found.emplace_back(bucket, std::move(*config));
  }
  const Clock& clock = RealClock::instance();
  size_t founded = 0;
  for (size_t first = 0; first < to_found.size() && !stopping_; first += kFoundingsAtOnce) {
    size_t end = std::min(to_found.size(), first + kFoundingsAtOnce);
    FoundingWave wave(executor_);
    wave.pending = end - first;
    for (size_t i = first; i < end; ++i) {
      spawn_detached(executor_, found_one(this, to_found[i].first, to_found[i].second, &wave),
                     "found bucket");
    }
    while (wave.pending > 0) co_await clock.wait(wave.done, Clock::TimePoint::max());
    if (!wave.first_error.ok()) {
      // Retried at the next turn (the epoch is not marked followed); logged once per failure.
      Status status = wave.first_error;
      if (status.message() != last_error_) TESS_LOG_ERROR("founding buckets: {}", status);
      last_error_ = status.message();
      co_return;
    }
    founded += end - first;
  }
  if (founded > 0)
    TESS_LOG_INFO("founded {} bucket replica(s) at map epoch {}", founded, map.header.epoch());
  followed_epoch_ = map.header.epoch();
}

Task<Status> ComputeHost::shutdown(bool clean) {
  stopping_ = true;
  follow_timer_.cancel();
  while (following_) co_await boost::asio::post(executor_, boost::asio::use_awaitable);
  if (recovery_started_) co_await recovery_->stop();
  client_->close();
  co_return co_await buckets_->shutdown(clean);
}

}  // namespace tessera
