// The management REST API (JSON over HTTP), served by every tessd: reads are answered from the
// host's own view of the map; changes are made by the management leader, and any other host
// answers them with a 307 redirect to it. Errors are {"error": {"code", "message"}} with an HTTP
// status mapped from the StatusCode in one place (http_status_of). Requests may carry
// "Authorization: Bearer <token>"; tokens and roles are checked in a later version (today every
// request is allowed), so clients already send it.
//
//   GET  /api/v1/status        health, hosts, drives, protection, capacity, buckets, leader
//   GET  /api/v1/hosts | /api/v1/drives
//   GET  /api/v1/buckets       every bucket: the map's placement merged with its replicas' state
//   GET  /api/v1/buckets/N     one bucket (404 if the map has no bucket N, 400 if N is no number)
//   POST /api/v1/cluster       {"data": K, "parity": M, "hot_spare": H?, "buckets": B?}
//   PUT  /api/v1/cluster/hot-spare  {"hot_spare": H}
//   POST /api/v1/drives        {"host": id or name, "path": P}   (forwarded to that host, or
//                              added here when it names this host)
//   POST /api/v1/local/drives  {"path": P}                       (this host adds a drive)
//   GET  /api/v1/local/drives  this host's drives with their current use
//   GET  /api/v1/local/buckets[?bucket=N]  {"replicas": [...]}: the replicas this host holds (all,
//                              or only bucket N's), LocalBuckets::status; 404 with no bucket role
//   GET  /api/v1/local/usage   {"replicas": [...]}: the usage counters of the replicas this host
//                              holds, LocalBuckets::usage (api/filesystem_usage.h); 404 likewise
//   /api/v1/filesystems[/NAME] filesystems: api/filesystem_endpoints.h
//
// Library `api` (src/api/README.md): above `cluster`, which it reaches through ControlPlane.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/filesystem_endpoints.h"
#include "cluster/control_plane.h"
#include "http/http.h"
#include "runtime/blocking_bridge.h"

namespace tessera::api {

// This host's drive role, as the API reaches it (from the API thread).
struct LocalDrives {
  // Opens (formatting if blank) and serves one more drive.
  std::function<Result<proto::DriveInfo>(const std::string& path)> add;
  // Every drive served here with its current use.
  std::function<std::vector<proto::DriveInfo>()> list;
};

// This host's bucket role, as the API reaches it (from the API thread).
struct LocalBuckets {
  // This host's replicas; empty function: this host runs no buckets. A JSON array, one object per
  // replica held here:
  //   {"bucket": uint, "role": "leader"|"follower"|"candidate"|"pre-candidate",
  //    "leader_host": uint (0: unknown), "term", "commit", "applied", "last_index": uint,
  //    "durable": uint (fsynced here), "quorum_durable": uint (leader: fsynced on a majority;
  //    0 elsewhere), "voters": [host ids], "learners": [host ids], "recovering": bool,
  //    "broken": bool}
  std::function<nlohmann::json()> status;
  // The usage counters of this host's replicas (docs/design/2026-12-06-filesystem-usage.md 2): a
  // JSON array, one object per replica whose applied state could be read:
  //   {"bucket": uint, "applied": uint, "filesystems": [{"id", "files", "size_bytes"}]}
  std::function<nlohmann::json()> usage;
};

// What the API reaches besides the control plane. An empty function means this host has no such
// role (no drives, no buckets) or, for filesystem usage, that nothing reports it yet.
struct ApiSources {
  LocalDrives drives;
  LocalBuckets buckets;
  FilesystemSources filesystems;
};

// Runs on the API thread. Changes, and reads from etcd, run on the control plane's executor
// through `control_loop`, a bridge into the loop that runs `control`.
http::Response handle_api_request(ControlPlane& control, BlockingBridge& control_loop,
                                  const ApiSources& sources, const http::Request& request);

// POST /api/v1/drives: adds the drive at body "path" on the host named by body "host" (id or name)
// among `view`'s registrations: through LocalDrives::add when that host is `self`, else by that
// host's POST /api/v1/local/drives. 404 if no such host is up.
http::Response add_drive_to_host(const ClusterView& view, uint32_t self,
                                 const LocalDrives& local_drives, const http::Request& request);

// JSON bodies by host id.
using HostAnswers = std::map<uint32_t, nlohmann::json>;

// Asks every host registered in `view` but `self` for GET `paths[j]`, every (host, path) at once
// (at most 16 calls in flight), with one deadline `timeout` for them all: returns within `timeout`
// plus the time `meanwhile` takes. Element j of the result holds the answers to paths[j] by host
// id; a host is absent from it if it did not answer 200 with a JSON body in time. `meanwhile`,
// if set, runs on the calling thread while the peers are asked (this host's own answer: a host
// never calls its own API, which could hold one of its workers waiting on another). Blocks the
// calling thread (the API's), never a loop.
std::vector<HostAnswers> ask_every_host(const ClusterView& view, uint32_t self,
                                        const std::vector<std::string>& paths,
                                        std::chrono::milliseconds timeout,
                                        const std::function<void()>& meanwhile = {});

// Current used bytes by drive id, asked of every registered host at once (`local` answers for
// `self`): returns within `timeout` overall, and a host that has not answered by then is left out
// (its drives keep the figure the map carries).
using DriveUsage = std::map<uint32_t, uint64_t>;
DriveUsage live_drive_usage(const ClusterView& view, uint32_t self, const LocalDrives& local,
                            std::chrono::milliseconds timeout = std::chrono::seconds(1));

// The replicas every registered host holds: its GET /api/v1/local/buckets body by host id
// (`local` answers for `self`; a host without a bucket role, or that has not answered within
// `timeout` overall, is absent). `only`: ask for that bucket's replicas alone.
HostAnswers live_bucket_replicas(const ClusterView& view, uint32_t self, const LocalBuckets& local,
                                 std::optional<uint32_t> only = std::nullopt,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(1));

// The buckets of `view`'s map (all, or only bucket `only`), in id order, each the map's placement
// merged with what the hosts report of its replicas: `answers` holds each host's GET
// /api/v1/local/buckets body ({"replicas": [...]}, LocalBuckets) by host id. Pure; an empty array
// if the cluster has not been created. Each bucket:
//   {"id", "desired": [host ids], "preferred_leader", "desired_epoch"   (from the map),
//    "leader": host id of the replica reporting role leader with the highest term (0: none),
//    "term": that leader's term (no leader: the highest term any replica reports, 0 if none),
//    "commit": the leader's commit index (no leader: the highest reported),
//    "durable": the leader's quorum_durable (no leader: 0),
//    "quorum": bool, a majority of the voters up (state voter or recovering),
//    "replicas": [{"host", "voter": bool, "state", "lag", "applied"}]}
// Replicas are the leader's voters then learners; with no leader, the union of the
// configurations the replicas report (voter if any reports it as one), sorted by host; with no
// replica reporting at all, the desired hosts as voters. "state" is "down" (host not registered,
// or no well-formed answer), "missing" (the host answered but holds no replica of the bucket),
// "broken", "recovering", else "voter" or "learner". "lag" is the leader's last index minus the
// replica's (at least 0), "applied" the replica's applied index; both null when unknown (no
// leader, or no report from the replica). Answers are checked field by field: a body that is not
// {"replicas": array} counts as no answer, a malformed replica object is skipped (as are replicas
// of buckets the map does not have, and a host's second report of one bucket), and answers of
// hosts not registered in `view` are ignored.
nlohmann::json merge_buckets(const ClusterView& view, const HostAnswers& answers,
                             std::optional<uint32_t> only = std::nullopt);

// The status document (also what `tess status --json` prints). With `bucket_answers` (as for
// merge_buckets), "buckets" also counts from the replicas' state: "without_quorum",
// "under_replicated" (now: fewer voters up than desired replicas, replacing the map's count of
// desired replicas on down hosts), "leaders_max" and "leaders_mean" (actual leaders per host up,
// i.e. registered and answering), and health says so.
nlohmann::json status_json(const ClusterView& view, const DriveUsage& usage = {},
                           const HostAnswers* bucket_answers = nullptr);

}  // namespace tessera::api
