#include "cluster/cluster_map.h"

#include <algorithm>
#include <map>
#include <set>

#include "base/fault_points.h"
#include "base/log.h"
#include "cluster/parse.h"

namespace tessera {

namespace {

proto::BucketEntry to_entry(const DesiredReplicas& bucket) {
  proto::BucketEntry entry;
  for (HostId host : bucket.desired) entry.add_desired(host.value());
  entry.set_preferred_leader(bucket.preferred_leader.value());
  entry.set_desired_epoch(bucket.desired_epoch.value());
  return entry;
}

DesiredReplicas from_entry(const proto::BucketEntry& entry) {
  DesiredReplicas bucket;
  for (uint32_t host : entry.desired()) bucket.desired.emplace_back(host);
  bucket.preferred_leader = HostId(entry.preferred_leader());
  bucket.desired_epoch = MapEpoch(entry.desired_epoch());
  return bucket;
}

// Format 1 (primary-backup) as format 2 sees it: the replicas it had are the desired ones, its
// leader the preferred one. The next assignment fills them up to R.
DesiredReplicas from_v1_entry(const proto::BucketEntryV1& entry, uint64_t shard_epoch) {
  DesiredReplicas bucket;
  if (entry.leader() != 0) bucket.desired.emplace_back(entry.leader());
  for (uint32_t follower : entry.followers()) bucket.desired.emplace_back(follower);
  bucket.preferred_leader = HostId(entry.leader());
  bucket.desired_epoch = MapEpoch(shard_epoch);
  return bucket;
}

std::vector<ProcessSlot> slots_of(const proto::ClusterMapHeader& header,
                                  const std::set<HostId>& permanently_failed) {
  std::vector<ProcessSlot> slots;
  for (const proto::HostEntry& host : header.hosts()) {
    HostId id(host.host_id());
    slots.push_back(ProcessSlot{id, host.failure_domain(), host.up(),
                                !host.up() && permanently_failed.contains(id)});
  }
  return slots;
}

uint32_t next_power_of_two(uint64_t value) {
  uint64_t power = 1;
  while (power < value) power <<= 1;
  return static_cast<uint32_t>(power);
}

}  // namespace

namespace {

// Header fields a reader divides by or sizes memory with: checked before use.
Status check_header(const proto::ClusterMapHeader& header) {
  if (header.format_version() == 0 || header.format_version() > kMapFormatVersion) {
    return error(StatusCode::kCorruption,
                 "cluster map format version {} is not one this tessd reads (1 to {})",
                 header.format_version(), kMapFormatVersion);
  }
  if (header.bucket_shard_size() == 0) {
    return error(StatusCode::kCorruption, "cluster map epoch {} has a bucket shard size of 0",
                 header.epoch());
  }
  if (header.bucket_count() > kMaxBucketCount) {
    return error(StatusCode::kCorruption, "cluster map epoch {} has {} buckets, more than {}",
                 header.epoch(), header.bucket_count(), kMaxBucketCount);
  }
  return Status();
}

Status decode_shards(const std::map<uint32_t, const KeyValue*>& shards, ClusterMap& map) {
  const proto::ClusterMapHeader& header = map.header;
  uint32_t shard_count =
      (header.bucket_count() + header.bucket_shard_size() - 1) / header.bucket_shard_size();
  map.buckets.reserve(header.bucket_count());
  for (uint32_t shard = 0; shard < shard_count; ++shard) {
    auto found = shards.find(shard);
    // Format 1 wrote BucketShardV1 under the same key (same field numbers, other entries).
    bool v1 = header.format_version() == 1;
    proto::BucketShard message;
    proto::BucketShardV1 message_v1;
    bool parsed = found != shards.end() && (v1 ? message_v1.ParseFromString(found->second->value)
                                               : message.ParseFromString(found->second->value));
    uint64_t first = v1 ? message_v1.first_bucket() : message.first_bucket();
    uint64_t epoch = v1 ? message_v1.epoch() : message.epoch();
    if (!parsed || first != map.buckets.size() || epoch > header.epoch()) {
      return error(StatusCode::kCorruption,
                   "bucket shard {} of map epoch {} is missing or malformed", shard,
                   header.epoch());
    }
    if (v1) {
      for (const proto::BucketEntryV1& entry : message_v1.buckets()) {
        map.buckets.push_back(from_v1_entry(entry, epoch));
      }
    } else {
      for (const proto::BucketEntry& entry : message.buckets()) {
        map.buckets.push_back(from_entry(entry));
      }
    }
  }
  if (map.buckets.size() != header.bucket_count()) {
    return error(StatusCode::kCorruption, "map epoch {} holds {} of {} buckets", header.epoch(),
                 map.buckets.size(), header.bucket_count());
  }
  return Status();
}

}  // namespace

Result<std::optional<ClusterMap>> decode_map(const std::vector<KeyValue>& values,
                                             const ClusterKeys& keys) {
  const KeyValue* header_value = nullptr;
  std::map<uint32_t, const KeyValue*> shards;
  std::string shard_prefix = keys.map() + "buckets/";
  for (const KeyValue& kv : values) {
    if (kv.key == keys.map_header()) {
      header_value = &kv;
    } else if (kv.key.starts_with(shard_prefix)) {
      TESS_ASSIGN_OR_RETURN(
          uint32_t shard,
          parse_u32(std::string_view(kv.key).substr(shard_prefix.size()), "bucket shard key"));
      shards[shard] = &kv;
    }
  }
  if (header_value == nullptr) return std::optional<ClusterMap>();
  ClusterMap map;
  if (!map.header.ParseFromString(header_value->value)) {
    return error(StatusCode::kCorruption, "cluster map header in etcd is malformed");
  }
  TESS_RETURN_IF_ERROR(check_header(map.header));
  map.header_mod_revision = header_value->mod_revision;
  TESS_RETURN_IF_ERROR(decode_shards(shards, map));
  return std::optional<ClusterMap>(std::move(map));
}

Task<Result<std::optional<ClusterMap>>> load_map(ConfigStore* store, ClusterKeys keys,
                                                 Deadline deadline) {
  TESS_CO_ASSIGN_OR_RETURN(RangeResult read, co_await store->get_prefix(keys.map(), deadline));
  co_return decode_map(read.kvs, keys);
}

MapWrite prepare_map_write(const ClusterKeys& keys, const ClusterMap& next,
                           const ClusterMap* previous, int64_t election_revision) {
  TESS_ASSERT(election_revision > 0, "a map is written by the management leader of a term");
  TESS_ASSERT(next.header.bucket_shard_size() > 0, "a map without a shard size");
  MapWrite write;
  write.header_key = keys.map_header();
  write.header_value = next.header.SerializeAsString();
  using Target = Compare::Target;
  // The fence: the write lands only while the writer's election key (its term) still exists.
  // The simulator's self-test drops it to prove that a deposed leader's write is then caught.
  if (!TESS_MUTATION("cluster.skip_election_fence")) {
    write.compares.push_back(Compare{
        keys.election(), Target::kCreateRevision, Compare::Result::kEqual, election_revision, {}});
  }
  if (previous == nullptr) {
    write.compares.push_back(
        Compare{keys.map_header(), Target::kCreateRevision, Compare::Result::kEqual, 0, {}});
  } else {
    write.compares.push_back(Compare{keys.map_header(),
                                     Target::kModRevision,
                                     Compare::Result::kEqual,
                                     previous->header_mod_revision,
                                     {}});
  }
  write.ops.push_back(WriteOp{WriteOp::Kind::kPut, keys.map_header(), write.header_value, {}});
  uint32_t shard_size = next.header.bucket_shard_size();
  for (uint32_t first = 0; first < next.buckets.size(); first += shard_size) {
    uint32_t end =
        std::min<uint32_t>(first + shard_size, static_cast<uint32_t>(next.buckets.size()));
    // A format change rewrites every shard: a format-1 shard in a format-2 map is unreadable.
    bool changed = previous == nullptr || previous->buckets.size() != next.buckets.size() ||
                   previous->header.format_version() != next.header.format_version() ||
                   !std::equal(next.buckets.begin() + first, next.buckets.begin() + end,
                               previous->buckets.begin() + first);
    if (!changed) continue;
    proto::BucketShard shard;
    shard.set_epoch(next.header.epoch());
    shard.set_first_bucket(first);
    for (uint32_t b = first; b < end; ++b) *shard.add_buckets() = to_entry(next.buckets[b]);
    write.ops.push_back(WriteOp{
        WriteOp::Kind::kPut, keys.bucket_shard(first / shard_size), shard.SerializeAsString(), {}});
  }
  return write;
}

Task<Result<bool>> store_map(ConfigStore* store, MapWrite write, Deadline deadline) {
  Result<TxnResult> done = co_await store->txn(write.compares, write.ops, deadline);
  if (done.ok()) co_return done->succeeded;
  if (!outcome_unknown(done.status())) co_return done.status();
  // The answer was lost: the header tells whether this very write landed.
  Result<std::optional<KeyValue>> header = co_await store->get(write.header_key, deadline);
  if (!header.ok()) co_return done.status();
  bool landed = header->has_value() && (*header)->value == write.header_value;
  TESS_COVER("cluster.ambiguous_map_write_verified");
  TESS_LOG_WARN("a map write's answer was lost; reading back: it {}",
                landed ? "landed" : "did not land");
  co_return landed;
}

std::vector<proto::HostRegistration> decode_registrations(const std::vector<KeyValue>& values) {
  std::vector<proto::HostRegistration> out;
  for (const KeyValue& kv : values) {
    proto::HostRegistration registration;
    if (registration.ParseFromString(kv.value)) {
      out.push_back(std::move(registration));
    } else {
      TESS_LOG_WARN("skipping a malformed host registration at {}", kv.key);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.host_id() < b.host_id(); });
  return out;
}

Task<Result<std::vector<proto::HostRegistration>>> load_registrations(ConfigStore* store,
                                                                      ClusterKeys keys,
                                                                      Deadline deadline) {
  TESS_CO_ASSIGN_OR_RETURN(RangeResult read, co_await store->get_prefix(keys.hosts(), deadline));
  co_return decode_registrations(read.kvs);
}

uint32_t count_failure_domains(const std::vector<proto::HostRegistration>& registrations) {
  std::set<std::string> domains;
  for (const auto& registration : registrations) domains.insert(registration.failure_domain());
  return static_cast<uint32_t>(domains.size());
}

uint32_t count_failure_domains(const proto::ClusterMapHeader& header) {
  std::set<std::string> domains;
  for (const proto::HostEntry& host : header.hosts()) domains.insert(host.failure_domain());
  return static_cast<uint32_t>(domains.size());
}

uint32_t bucket_replicas_of(const proto::ClusterMapHeader& header) {
  if (header.bucket_replicas() != 0) return header.bucket_replicas();
  return bucket_replica_count(header.protection().parity(), count_failure_domains(header));
}

std::chrono::seconds replica_replacement_delay(const proto::ClusterMapHeader& header) {
  uint32_t seconds = header.replica_replacement_delay_s();
  return std::chrono::seconds(seconds == 0 ? kDefaultReplicaReplacementDelayS : seconds);
}

uint32_t default_hot_spare(uint32_t failure_domains) { return failure_domains <= 6 ? 1 : 2; }

Status check_hot_spare(uint32_t hot_spare, uint32_t failure_domains, uint32_t data,
                       uint32_t parity) {
  if (hot_spare + data + parity > failure_domains) {
    return error(StatusCode::kInvalidArgument,
                 "a hot spare of {} leaves {} failure domains, fewer than the {}+{} stripe needs",
                 hot_spare, failure_domains > hot_spare ? failure_domains - hot_spare : 0, data,
                 parity);
  }
  return Status();
}

Result<CreationRequest> check_creation(CreationRequest request, uint32_t failure_domains,
                                       uint32_t processes) {
  if (request.parity != 2 && request.parity != 4) {
    return error(StatusCode::kInvalidArgument, "--parity must be 2 or 4, not {}", request.parity);
  }
  if (request.data < 3 || request.data > 16) {
    return error(StatusCode::kInvalidArgument, "--data must be 3 to 16, not {}", request.data);
  }
  if (request.data + request.parity > failure_domains) {
    return error(StatusCode::kInvalidArgument, "{}+{} needs {} failure domains; {} are registered",
                 request.data, request.parity, request.data + request.parity, failure_domains);
  }
  uint64_t minimum_buckets = 16ULL * processes;
  if (request.bucket_count == 0) {
    request.bucket_count = std::max<uint32_t>(1024, next_power_of_two(minimum_buckets));
  }
  if ((request.bucket_count & (request.bucket_count - 1)) != 0) {
    return error(StatusCode::kInvalidArgument, "--buckets must be a power of two, not {}",
                 request.bucket_count);
  }
  if (request.bucket_count < minimum_buckets) {
    return error(StatusCode::kInvalidArgument,
                 "--buckets must be at least 16 per compute process: {} for {} processes, not {}",
                 minimum_buckets, processes, request.bucket_count);
  }
  if (request.bucket_count > 65'536) {
    return error(StatusCode::kInvalidArgument, "--buckets is at most 65536, not {}",
                 request.bucket_count);
  }
  if (request.replica_replacement_delay_s < 1 ||
      request.replica_replacement_delay_s > kMaxReplicaReplacementDelayS) {
    return error(StatusCode::kInvalidArgument,
                 "--replica-replacement-delay-s must be 1 to {}, not {}",
                 kMaxReplicaReplacementDelayS, request.replica_replacement_delay_s);
  }
  if (request.hot_spare < 0) {
    // The default gives way to what the stripe leaves: 8 domains at 5+2 get 1, not 2.
    uint32_t spare_domains = failure_domains - request.data - request.parity;
    request.hot_spare =
        static_cast<int32_t>(std::min(default_hot_spare(failure_domains), spare_domains));
  }
  TESS_RETURN_IF_ERROR(check_hot_spare(static_cast<uint32_t>(request.hot_spare), failure_domains,
                                       request.data, request.parity));
  return request;
}

namespace {

// A new incarnation in a live registration: a restart when the map knew an earlier one (a v1
// entry, incarnation 0, just takes it). True if the entry changed.
bool note_incarnation(proto::HostEntry& host, const proto::HostRegistration& registration,
                      uint64_t next_epoch) {
  uint64_t seen = registration.incarnation();
  if (seen == 0 || seen == host.incarnation()) return false;
  if (host.incarnation() != 0) {
    host.set_restarts(host.restarts() + 1);
    host.set_changed_epoch(next_epoch);
    TESS_COVER("cluster.host_restart_seen");
    TESS_LOG_WARN("host {} ({}) restarted: incarnation {:x} -> {:x} (map epoch {})", host.host_id(),
                  host.name(), host.incarnation(), seen, next_epoch);
  }
  host.set_incarnation(seen);
  return true;
}

// Hosts and drives from the registrations, keeping hosts that are gone (down) in the map.
bool update_hosts(proto::ClusterMapHeader& header,
                  const std::vector<proto::HostRegistration>& registrations, uint64_t next_epoch) {
  std::map<uint32_t, const proto::HostRegistration*> live;
  for (const auto& registration : registrations) live[registration.host_id()] = &registration;
  bool changed = false;
  std::set<uint32_t> known;
  for (proto::HostEntry& host : *header.mutable_hosts()) {
    known.insert(host.host_id());
    auto found = live.find(host.host_id());
    bool up = found != live.end();
    if (up) {
      const proto::HostRegistration& registration = *found->second;
      changed = note_incarnation(host, registration, next_epoch) || changed;
      if (host.address() != registration.address() || host.rpc_port() != registration.rpc_port() ||
          host.http_port() != registration.http_port()) {
        host.set_address(registration.address());
        host.set_rpc_port(registration.rpc_port());
        host.set_http_port(registration.http_port());
        changed = true;
      }
    }
    if (host.up() != up) {
      host.set_up(up);
      host.set_changed_epoch(next_epoch);
      changed = true;
    }
  }
  for (const auto& registration : registrations) {
    if (known.contains(registration.host_id())) continue;
    proto::HostEntry* host = header.add_hosts();
    host->set_host_id(registration.host_id());
    host->set_name(registration.name());
    host->set_address(registration.address());
    host->set_rpc_port(registration.rpc_port());
    host->set_http_port(registration.http_port());
    host->set_failure_domain(registration.failure_domain());
    host->set_up(true);
    host->set_changed_epoch(next_epoch);
    host->set_incarnation(registration.incarnation());
    changed = true;
  }
  // Drives: every drive a live host reports is active; drives of gone hosts stay, inactive.
  std::map<uint32_t, proto::DriveEntry> drives;
  for (const proto::DriveEntry& drive : header.drives()) {
    drives[drive.drive_id()] = drive;
    drives[drive.drive_id()].set_active(false);
  }
  for (const auto& registration : registrations) {
    for (const proto::DriveInfo& info : registration.drives()) {
      proto::DriveEntry& drive = drives[info.drive_id()];
      drive.set_drive_id(info.drive_id());
      drive.set_host_id(registration.host_id());
      drive.set_path(info.path());
      drive.set_capacity_bytes(info.capacity_bytes());
      drive.set_used_bytes(info.used_bytes());
      drive.set_active(true);
    }
  }
  google::protobuf::RepeatedPtrField<proto::DriveEntry> next;
  for (auto& [id, drive] : drives) *next.Add() = drive;
  bool drives_changed = next.size() != header.drives().size();
  for (int i = 0; !drives_changed && i < next.size(); ++i) {
    drives_changed = next[i].SerializeAsString() != header.drives(i).SerializeAsString();
  }
  if (drives_changed) {
    *header.mutable_drives() = std::move(next);
    changed = true;
  }
  return changed;
}

}  // namespace

std::optional<ClusterMap> next_map(const ClusterMap& current,
                                   const std::vector<proto::HostRegistration>& registrations,
                                   const std::set<HostId>& permanently_failed) {
  ClusterMap next = current;
  proto::ClusterMapHeader& header = next.header;
  uint64_t epoch = current.header.epoch() + 1;
  bool changed = update_hosts(header, registrations, epoch);
  if (header.format_version() < kMapFormatVersion) {
    // A format-1 map, decoded as format 2 already: written back whole (prepare_map_write).
    TESS_LOG_INFO("rewriting the cluster map (epoch {}) from format {} as format {}",
                  header.epoch(), header.format_version(), kMapFormatVersion);
    header.set_format_version(kMapFormatVersion);
    changed = true;
  }
  if (header.replica_replacement_delay_s() == 0) {
    header.set_replica_replacement_delay_s(kDefaultReplicaReplacementDelayS);
    changed = true;
  }
  // Hosts leave the map only when removed, so R grows as domains join and does not shrink when
  // one fails: the failed domain's buckets stay short of R (reported) until it returns or is
  // removed.
  uint32_t replicas =
      bucket_replica_count(header.protection().parity(), count_failure_domains(header));
  if (header.bucket_replicas() != replicas) {
    header.set_bucket_replicas(replicas);
    changed = true;
  }
  AssignmentOptions options{.replicas = replicas, .epoch = MapEpoch(epoch)};
  std::vector<ProcessSlot> slots = slots_of(header, permanently_failed);
  next.buckets = assign_desired(current.buckets, header.bucket_count(), slots, options);
  changed = changed || next.buckets != current.buckets;
  if (!changed) return std::nullopt;
  header.set_epoch(epoch);
  return next;
}

ClusterMap initial_map(const std::string& uuid, const CreationRequest& request,
                       const std::vector<proto::HostRegistration>& registrations,
                       uint64_t now_unix_ms) {
  ClusterMap map;
  proto::ClusterMapHeader& header = map.header;
  header.set_cluster_uuid(uuid);
  header.set_epoch(1);
  header.set_created_unix_ms(now_unix_ms);
  header.set_format_version(kMapFormatVersion);
  header.mutable_protection()->set_data(request.data);
  header.mutable_protection()->set_parity(request.parity);
  header.set_hot_spare(static_cast<uint32_t>(request.hot_spare));
  header.set_bucket_count(request.bucket_count);
  header.set_bucket_shard_size(kBucketShardSize);
  header.set_replica_replacement_delay_s(request.replica_replacement_delay_s);
  update_hosts(header, registrations, 1);
  // The founders of every bucket, fixed from now on (docs/design/2026-12-04-compute-role.md 2).
  for (const proto::HostRegistration& registration : registrations) {
    if (registration.bucket_store() == 0) continue;
    proto::BucketFounder* founder = header.add_founders();
    founder->set_host_id(registration.host_id());
    founder->set_store(registration.bucket_store());
  }
  uint32_t replicas = bucket_replica_count(request.parity, count_failure_domains(header));
  header.set_bucket_replicas(replicas);
  AssignmentOptions options{.replicas = replicas, .epoch = MapEpoch(1)};
  map.buckets = assign_desired({}, request.bucket_count, slots_of(header, {}), options);
  return map;
}

Capacity capacity_of(const proto::ClusterMapHeader& header) {
  Capacity capacity;
  std::map<uint32_t, std::string> domain_of_host;
  for (const proto::HostEntry& host : header.hosts())
    domain_of_host[host.host_id()] = host.failure_domain();
  std::set<std::string> domains;
  for (const proto::DriveEntry& drive : header.drives()) {
    if (!drive.active()) continue;
    capacity.raw_bytes += drive.capacity_bytes();
    domains.insert(domain_of_host[drive.host_id()]);
  }
  uint64_t k = header.protection().data();
  uint64_t m = header.protection().parity();
  uint64_t fd = domains.size();
  uint64_t hs = header.hot_spare();
  if (fd == 0 || fd <= hs || k == 0) return capacity;
  long double usable = static_cast<long double>(capacity.raw_bytes) *
                       static_cast<long double>(fd - hs) / static_cast<long double>(fd) *
                       static_cast<long double>(k) / static_cast<long double>(k + m) * 0.98L;
  capacity.usable_bytes = static_cast<uint64_t>(usable);
  return capacity;
}

}  // namespace tessera
