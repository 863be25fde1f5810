// The cluster map as held in memory, its storage in etcd, and the views derived from it (status,
// capacity). Layout in etcd: docs/architecture.md 2.2.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/bucket_assignment.h"
#include "cluster/config_store.h"
#include "proto/cluster.pb.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera {

// Keys of one cluster under /tessera/<name>/.
struct ClusterKeys {
  std::string root;  // "/tessera/<name>/"
  explicit ClusterKeys(const std::string& name) : root("/tessera/" + name + "/") {}
  std::string uuid() const { return root + "uuid"; }
  std::string host_name(const std::string& name) const { return root + "ids/host-name/" + name; }
  std::string next_host_id() const { return root + "ids/next-host"; }
  std::string next_drive_id() const { return root + "ids/next-drive"; }
  std::string next_filesystem_id() const { return root + "ids/next-filesystem"; }
  std::string hosts() const { return root + "hosts/"; }
  std::string host(uint32_t id) const { return hosts() + std::to_string(id); }
  std::string election() const { return root + "election/mgmt"; }
  std::string map() const { return root + "map/"; }
  std::string map_header() const { return map() + "header"; }
  std::string bucket_shard(uint32_t shard) const {
    return map() + "buckets/" + std::to_string(shard);
  }
  // Filesystems (docs/design/2026-12-05-filesystems.md 2): the version and every record are one
  // range under filesystems().
  std::string filesystems() const { return root + "filesystems/"; }
  std::string filesystems_version() const { return filesystems() + "version"; }
  std::string filesystem_records() const { return filesystems() + "records/"; }
  std::string filesystem(uint32_t id) const { return filesystem_records() + std::to_string(id); }
};

// 1024 buckets per shard: 64 shards at 65,536 buckets, within etcd's 128 operations per
// transaction and 1.5 MiB per request.
inline constexpr uint32_t kBucketShardSize = 1024;
// Format 2: buckets are Raft groups; the map holds each bucket's desired replicas and preferred
// leader (docs/design/2026-11-25-raft-buckets.md 6). A format-1 map (primary-backup: leader,
// followers, term) is still read, converted as it is decoded, and written as format 2 by the
// management leader at its next round.
inline constexpr uint32_t kMapFormatVersion = 2;
// The most buckets a cluster may have (docs/architecture.md 2.1).
inline constexpr uint32_t kMaxBucketCount = 65'536;
// How long a host may be down before its replicas are replaced: the default, and the most a
// cluster may be created with (a day).
inline constexpr uint32_t kDefaultReplicaReplacementDelayS = 30;
inline constexpr uint32_t kMaxReplicaReplacementDelayS = 86'400;

struct ClusterMap {
  proto::ClusterMapHeader header;
  std::vector<DesiredReplicas> buckets;
  int64_t header_mod_revision = 0;  // For compare-and-swap of the next change.
};

// Decodes the keys under map/ read at one revision. nullopt if the cluster was not created yet;
// kCorruption (never a crash) if the header is malformed, of an unknown format version (above
// kMapFormatVersion), has a shard size of 0 or too many buckets, or if header and shards disagree.
// A format-1 map comes back converted: each bucket's desired = leader + followers, preferred
// leader = leader, desired epoch = its shard's epoch; the header keeps format_version 1 (and no
// bucket_replicas) until the management leader rewrites it (next_map).
Result<std::optional<ClusterMap>> decode_map(const std::vector<KeyValue>& values,
                                             const ClusterKeys& keys);
// Reads the map at one store revision (header and every shard in one range) and decodes it.
Task<Result<std::optional<ClusterMap>>> load_map(ConfigStore* store, ClusterKeys keys,
                                                 Deadline deadline);

// One map change as a transaction: the header is still the one `previous` was read at (previous
// == nullptr: none stored yet) and the writer still holds the management election it won at
// `election_revision` (the create revision of election/mgmt: a deposed leader is fenced off);
// then the header (epoch already bumped in `next`) and the shards that changed are written.
struct MapWrite {
  std::vector<Compare> compares;
  std::vector<WriteOp> ops;
  std::string header_key;
  std::string header_value;
};
MapWrite prepare_map_write(const ClusterKeys& keys, const ClusterMap& next,
                           const ClusterMap* previous, int64_t election_revision);
// Writes it. True if written; false if a comparison failed (another change came first, or the
// writer no longer leads). When the answer is lost (outcome unknown) it reads the header back:
// true if exactly this header is stored, false if not; the outcome-unknown error only if that read
// fails too.
Task<Result<bool>> store_map(ConfigStore* store, MapWrite write, Deadline deadline);

// Host registrations currently in the store (hosts whose lease is alive), by host id. Malformed
// registrations are skipped (and logged).
std::vector<proto::HostRegistration> decode_registrations(const std::vector<KeyValue>& values);
Task<Result<std::vector<proto::HostRegistration>>> load_registrations(ConfigStore* store,
                                                                      ClusterKeys keys,
                                                                      Deadline deadline);

// Creation rules (docs/architecture.md 2.1). `failure_domains` and `processes` count what is
// registered now. bucket_count 0 and hot_spare < 0 ask for the defaults. Returns the settled
// values or kInvalidArgument naming the rule broken.
struct CreationRequest {
  uint32_t data = 0;
  uint32_t parity = 0;
  int32_t hot_spare = -1;
  uint32_t bucket_count = 0;
  uint32_t replica_replacement_delay_s = kDefaultReplicaReplacementDelayS;  // 1 to a day.
};
Result<CreationRequest> check_creation(CreationRequest request, uint32_t failure_domains,
                                       uint32_t processes);
uint32_t default_hot_spare(uint32_t failure_domains);
uint32_t count_failure_domains(const std::vector<proto::HostRegistration>& registrations);
Status check_hot_spare(uint32_t hot_spare, uint32_t failure_domains, uint32_t data,
                       uint32_t parity);

// The next map given live registrations: host up/down, restarts (a new incarnation), drives,
// R (bucket_replicas, from the failure domains of the map's hosts), desired replicas and preferred
// leaders (assign_desired). `permanently_failed`: hosts down for at least the replacement delay,
// as the management leader has seen them on its own clock (ignored for hosts that are up); their
// replicas are replaced, other down hosts keep theirs. A format-1 map is rewritten as format 2
// (every shard written). Returns nullopt if nothing changed.
std::optional<ClusterMap> next_map(const ClusterMap& current,
                                   const std::vector<proto::HostRegistration>& registrations,
                                   const std::set<HostId>& permanently_failed = {});
// The first map of a cluster (format 2): R from the registered failure domains, the replacement
// delay of the request, and every bucket's desired replicas and preferred leader, which each host
// reads from this one map when it creates its replicas.
ClusterMap initial_map(const std::string& uuid, const CreationRequest& request,
                       const std::vector<proto::HostRegistration>& registrations,
                       uint64_t now_unix_ms);

struct Capacity {
  uint64_t raw_bytes = 0;
  uint64_t usable_bytes = 0;
};
// The failure domains of the map's hosts, up or down (hosts leave the map only when removed).
uint32_t count_failure_domains(const proto::ClusterMapHeader& header);
// R of the map: bucket_replicas, or for a format-1 map not rewritten yet, what it will be.
uint32_t bucket_replicas_of(const proto::ClusterMapHeader& header);
// How long a host may be down before its replicas are replaced (a format-1 map: the default).
std::chrono::seconds replica_replacement_delay(const proto::ClusterMapHeader& header);

// raw = sum of active drives; usable = raw x (FD - H) / FD x K / (K + M) x (1 - 2% overhead),
// FD = failure domains with an active drive.
Capacity capacity_of(const proto::ClusterMapHeader& header);

}  // namespace tessera
