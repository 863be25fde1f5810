#include "api/rest_api.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "api/filesystem_endpoints.h"
#include "api/filesystem_usage.h"
#include "api/response.h"

namespace tessera::api {

using nlohmann::json;

namespace {

Result<int64_t> integer_field(const json& body, const char* name, int64_t fallback, bool required) {
  if (!body.contains(name)) {
    if (required) return error(StatusCode::kInvalidArgument, "\"{}\" is required", name);
    return fallback;
  }
  if (!body[name].is_number_integer()) {
    return error(StatusCode::kInvalidArgument, "\"{}\" must be an integer", name);
  }
  return body[name].get<int64_t>();
}

json hosts_json(const ClusterView& view) {
  json hosts = json::array();
  if (view.map) {
    for (const proto::HostEntry& host : view.map->header.hosts()) {
      hosts.push_back({{"id", host.host_id()},
                       {"name", host.name()},
                       {"address", fmt::format("{}:{}", host.address(), host.rpc_port())},
                       {"http_port", host.http_port()},
                       {"failure_domain", host.failure_domain()},
                       {"state", host.up() ? "up" : "down"}});
    }
  } else {
    for (const proto::HostRegistration& host : view.registrations) {
      hosts.push_back({{"id", host.host_id()},
                       {"name", host.name()},
                       {"address", fmt::format("{}:{}", host.address(), host.rpc_port())},
                       {"http_port", host.http_port()},
                       {"failure_domain", host.failure_domain()},
                       {"state", "up"}});
    }
  }
  return hosts;
}

json drives_json(const ClusterView& view, const DriveUsage& usage) {
  json drives = json::array();
  auto add = [&drives, &usage](uint32_t id, uint32_t host, const std::string& path,
                               uint64_t capacity, uint64_t used, bool active) {
    if (auto live = usage.find(id); live != usage.end()) used = live->second;
    drives.push_back({{"id", id},
                      {"host", host},
                      {"path", path},
                      {"capacity_bytes", capacity},
                      {"used_bytes", used},
                      {"free_bytes", capacity - std::min(capacity, used)},
                      {"state", active ? "active" : "inactive"}});
  };
  if (view.map) {
    for (const proto::DriveEntry& d : view.map->header.drives()) {
      add(d.drive_id(), d.host_id(), d.path(), d.capacity_bytes(), d.used_bytes(), d.active());
    }
  } else {
    for (const proto::HostRegistration& host : view.registrations) {
      for (const proto::DriveInfo& d : host.drives()) {
        add(d.drive_id(), host.host_id(), d.path(), d.capacity_bytes(), d.used_bytes(), true);
      }
    }
  }
  return drives;
}

// What the map alone tells of the buckets: their desired replicas against the hosts up. Leaders,
// terms and actual configurations live in the buckets (Raft) and are not in the map.
struct BucketHealth {
  uint32_t replicas = 0;               // R.
  uint64_t under_replicated = 0;       // Fewer than R desired replicas on up hosts.
  uint64_t desired_majority_down = 0;  // At most half of the desired replicas on up hosts.
};

BucketHealth bucket_health(const ClusterMap& map) {
  std::set<HostId> up;
  for (const proto::HostEntry& host : map.header.hosts()) {
    if (host.up()) up.emplace(host.host_id());
  }
  BucketHealth health;
  health.replicas = bucket_replicas_of(map.header);
  for (const DesiredReplicas& bucket : map.buckets) {
    size_t live = 0;
    for (HostId host : bucket.desired) live += up.contains(host) ? 1 : 0;
    if (live < health.replicas) ++health.under_replicated;
    if (live * 2 <= bucket.desired.size()) ++health.desired_majority_down;
  }
  return health;
}

http::Response create(ControlPlane& control, BlockingBridge& control_loop,
                      const http::Request& request) {
  auto body = parse_body(request);
  if (!body.ok()) return error_response(body.status());
  CreationRequest creation;
  auto data = integer_field(*body, "data", 0, true);
  auto parity = integer_field(*body, "parity", 0, true);
  auto spare = integer_field(*body, "hot_spare", -1, false);
  auto buckets = integer_field(*body, "buckets", 0, false);
  auto delay =
      integer_field(*body, "replica_replacement_delay_s", kDefaultReplicaReplacementDelayS, false);
  for (const Status& status :
       {data.status(), parity.status(), spare.status(), buckets.status(), delay.status()}) {
    if (!status.ok()) return error_response(status);
  }
  if (*data < 0 || *data > 64 || *parity < 0 || *parity > 64 || *spare < -1 || *spare > 1024 ||
      *buckets < 0 || *buckets > (1LL << 31) || *delay < 0 || *delay > (1LL << 31)) {
    return error_response(error(StatusCode::kInvalidArgument, "a value is out of range"));
  }
  creation.data = static_cast<uint32_t>(*data);
  creation.parity = static_cast<uint32_t>(*parity);
  creation.hot_spare = static_cast<int32_t>(*spare);
  creation.bucket_count = static_cast<uint32_t>(*buckets);
  creation.replica_replacement_delay_s = static_cast<uint32_t>(*delay);  // Checked by the leader.
  Status created = control_loop.run(control.create_cluster(creation));
  if (!created.ok()) return error_response(created);
  return json_response(201, json{{"created", true}});
}

http::Response hot_spare(ControlPlane& control, BlockingBridge& control_loop,
                         const http::Request& request) {
  auto body = parse_body(request);
  if (!body.ok()) return error_response(body.status());
  auto spare = integer_field(*body, "hot_spare", 0, true);
  if (!spare.ok()) return error_response(spare.status());
  if (*spare < 0 || *spare > 1024) {
    return error_response(error(StatusCode::kInvalidArgument, "hot spare {} out of range", *spare));
  }
  Status set = control_loop.run(control.set_hot_spare(static_cast<uint32_t>(*spare)));
  if (!set.ok()) return error_response(set);
  return json_response(200, json{{"hot_spare", *spare}});
}

// POST /api/v1/local/drives: this host opens and serves the drive.
http::Response add_local_drive(const LocalDrives& local_drives, const std::string& path) {
  if (!local_drives.add) return error_response(error(StatusCode::kUnimplemented, "no drive role"));
  // Handlers run concurrently; additions go one at a time, since each publishes the host's whole
  // drive list afterwards and two interleaved ones could leave the older list published. Guards
  // nothing else; held while one drive is opened.
  static std::mutex adding;
  std::lock_guard<std::mutex> one_at_a_time(adding);
  auto added = local_drives.add(path);
  if (!added.ok()) return error_response(added.status());
  return json_response(201, json{{"id", added->drive_id()},
                                 {"path", added->path()},
                                 {"capacity_bytes", added->capacity_bytes()}});
}

Result<std::string> path_field(const http::Request& request, json* body_out) {
  auto body = parse_body(request);
  if (!body.ok()) return body.status();
  if (!body->contains("path") || !(*body)["path"].is_string()) {
    return error(StatusCode::kInvalidArgument, "\"path\" is required");
  }
  std::string path = (*body)["path"].get<std::string>();
  *body_out = std::move(*body);
  return path;
}

}  // namespace

http::Response add_drive_to_host(const ClusterView& view, uint32_t self,
                                 const LocalDrives& local_drives, const http::Request& request) {
  json body;
  auto path = path_field(request, &body);
  if (!path.ok()) return error_response(path.status());
  if (!body.contains("host"))
    return error_response(error(StatusCode::kInvalidArgument, "\"host\" is required"));
  const json& wanted = body["host"];
  for (const proto::HostRegistration& host : view.registrations) {
    bool match =
        wanted.is_number_integer()
            ? wanted.get<int64_t>() == host.host_id()
            : wanted.is_string() && (wanted.get<std::string>() == host.name() ||
                                     wanted.get<std::string>() == std::to_string(host.host_id()));
    if (!match) continue;
    // This host: add it here. Calling our own API would hold one of its workers waiting on another.
    if (host.host_id() == self) return add_local_drive(local_drives, *path);
    auto forwarded = http::call(
        host.address(), static_cast<uint16_t>(host.http_port()),
        http::Request{"POST", "/api/v1/local/drives", dump_json(json{{"path", *path}}), {}},
        std::chrono::seconds(30));
    if (!forwarded.ok()) return error_response(forwarded.status());
    return http::Response{forwarded->status, forwarded->body, {}};
  }
  return error_response(error(StatusCode::kNotFound, "no host {} is up", dump_json(wanted)));
}

namespace {

constexpr const char* kLocalDrivesPath = "/api/v1/local/drives";
constexpr const char* kLocalBucketsPath = "/api/v1/local/buckets";
// A replica reports at most this many voters and learners together (R is at most 17 today; a
// move adds one). Longer lists are malformed.
constexpr size_t kMaxReportedMembers = 64;

// One replica as its host reported it (LocalBuckets::status), checked field by field.
struct ReplicaReport {
  uint32_t host = 0;
  bool leader = false;
  uint64_t term = 0;
  uint64_t commit = 0;
  uint64_t applied = 0;
  uint64_t last_index = 0;
  uint64_t quorum_durable = 0;
  std::vector<uint32_t> voters;
  std::vector<uint32_t> learners;
  bool recovering = false;
  bool broken = false;
  bool hibernated = false;  // Optional in the report (hosts before hibernation omit it).
};

bool bool_field(const json& object, const char* name, bool* out) {
  auto found = object.find(name);
  if (found == object.end() || !found->is_boolean()) return false;
  *out = found->get<bool>();
  return true;
}

bool hosts_field(const json& object, const char* name, std::vector<uint32_t>* out) {
  auto found = object.find(name);
  if (found == object.end() || !found->is_array() || found->size() > kMaxReportedMembers) {
    return false;
  }
  for (const json& host : *found) {
    uint64_t id = 0;
    if (!unsigned_value(host, UINT32_MAX, &id) || id == 0) return false;
    out->push_back(static_cast<uint32_t>(id));
  }
  return true;
}

// The bucket id and the report in `replica` (sent by `host`); nullopt if any field is missing or
// malformed.
std::optional<std::pair<uint32_t, ReplicaReport>> parse_replica(const json& replica,
                                                                uint32_t host) {
  if (!replica.is_object()) return std::nullopt;
  ReplicaReport report;
  report.host = host;
  uint64_t bucket = 0;
  uint64_t leader_host = 0;
  uint64_t durable = 0;
  auto role = replica.find("role");
  if (role == replica.end() || !role->is_string()) return std::nullopt;
  const std::string& role_name = role->get_ref<const std::string&>();
  if (role_name != "leader" && role_name != "follower" && role_name != "candidate" &&
      role_name != "pre-candidate") {
    return std::nullopt;
  }
  report.leader = role_name == "leader";
  bool well_formed =
      unsigned_field(replica, "bucket", UINT32_MAX, &bucket) &&
      unsigned_field(replica, "leader_host", UINT32_MAX, &leader_host) &&
      unsigned_field(replica, "term", UINT64_MAX, &report.term) &&
      unsigned_field(replica, "commit", UINT64_MAX, &report.commit) &&
      unsigned_field(replica, "applied", UINT64_MAX, &report.applied) &&
      unsigned_field(replica, "last_index", UINT64_MAX, &report.last_index) &&
      unsigned_field(replica, "durable", UINT64_MAX, &durable) &&
      unsigned_field(replica, "quorum_durable", UINT64_MAX, &report.quorum_durable) &&
      hosts_field(replica, "voters", &report.voters) &&
      hosts_field(replica, "learners", &report.learners) &&
      report.voters.size() + report.learners.size() <= kMaxReportedMembers &&
      bool_field(replica, "recovering", &report.recovering) &&
      bool_field(replica, "broken", &report.broken) &&
      (!replica.contains("hibernated") || bool_field(replica, "hibernated", &report.hibernated));
  if (!well_formed) return std::nullopt;
  return std::make_pair(static_cast<uint32_t>(bucket), std::move(report));
}

// What the hosts report, sorted by bucket.
struct BucketReports {
  std::set<uint32_t> up;                              // Registered hosts with a well-formed answer.
  std::vector<std::vector<ReplicaReport>> by_bucket;  // Index: bucket id.
};

BucketReports collect_reports(const ClusterView& view, const HostAnswers& answers, size_t buckets,
                              std::optional<uint32_t> only) {
  BucketReports reports;
  reports.by_bucket.resize(buckets);
  for (const proto::HostRegistration& registration : view.registrations) {
    uint32_t host = registration.host_id();
    auto answer = answers.find(host);
    if (answer == answers.end() || !answer->second.is_object()) continue;
    auto replicas = answer->second.find("replicas");
    if (replicas == answer->second.end() || !replicas->is_array()) continue;
    if (!reports.up.insert(host).second) continue;  // Registered twice: its answer counts once.
    std::set<uint32_t> seen;
    for (const json& replica : *replicas) {
      auto parsed = parse_replica(replica, host);
      if (!parsed || parsed->first >= buckets) continue;
      if (only && parsed->first != *only) continue;
      if (!seen.insert(parsed->first).second) continue;
      reports.by_bucket[parsed->first].push_back(std::move(parsed->second));
    }
  }
  return reports;
}

// One bucket merged: its JSON (merge_buckets) and what the status counts of it.
struct MergedBucket {
  json doc;
  uint32_t leader = 0;
  size_t voters_up = 0;
};

MergedBucket merge_bucket(uint32_t id, const DesiredReplicas& entry,
                          const std::vector<ReplicaReport>& reports, const std::set<uint32_t>& up) {
  const ReplicaReport* leader = nullptr;
  uint64_t highest_term = 0;
  uint64_t highest_commit = 0;
  for (const ReplicaReport& report : reports) {
    highest_term = std::max(highest_term, report.term);
    highest_commit = std::max(highest_commit, report.commit);
    bool better = leader == nullptr || report.term > leader->term ||
                  (report.term == leader->term && report.host < leader->host);
    if (report.leader && better) leader = &report;
  }
  // The configuration: (host, voter) in the order shown.
  std::vector<std::pair<uint32_t, bool>> members;
  auto add = [&members](uint32_t host, bool voter) {
    for (const auto& member : members) {
      if (member.first == host) return;
    }
    members.emplace_back(host, voter);
  };
  if (leader != nullptr) {
    for (uint32_t host : leader->voters) add(host, true);
    for (uint32_t host : leader->learners) add(host, false);
  } else if (!reports.empty()) {
    std::map<uint32_t, bool> all;  // Host -> voter in some report.
    for (const ReplicaReport& report : reports) {
      for (uint32_t host : report.voters) all[host] = true;
      for (uint32_t host : report.learners) all.emplace(host, false);
    }
    for (const auto& [host, voter] : all) add(host, voter);
  } else {
    for (HostId host : entry.desired) add(host.value(), true);
  }

  MergedBucket merged;
  size_t voters = 0;
  json replicas = json::array();
  for (const auto& [host, voter] : members) {
    const ReplicaReport* report = nullptr;
    for (const ReplicaReport& candidate : reports) {
      if (candidate.host == host) report = &candidate;
    }
    std::string state;
    if (!up.contains(host)) {
      state = "down";
    } else if (report == nullptr) {
      state = "missing";
    } else if (report->broken) {
      state = "broken";
    } else if (report->recovering) {
      state = "recovering";
    } else {
      state = voter ? "voter" : "learner";
    }
    if (voter) {
      ++voters;
      // A recovering replica acknowledges what it holds (design 2.8): it counts towards commits.
      if (state == "voter" || state == "recovering") ++merged.voters_up;
    }
    json lag = nullptr;
    if (leader != nullptr && report != nullptr) {
      lag = leader->last_index - std::min(leader->last_index, report->last_index);
    }
    replicas.push_back({{"host", host},
                        {"voter", voter},
                        {"state", state},
                        {"lag", lag},
                        {"applied", report != nullptr ? json(report->applied) : json(nullptr)}});
  }
  json desired = json::array();
  for (HostId host : entry.desired) desired.push_back(host.value());
  merged.leader = leader != nullptr ? leader->host : 0;
  merged.doc = {{"id", id},
                {"desired", desired},
                {"preferred_leader", entry.preferred_leader.value()},
                {"desired_epoch", entry.desired_epoch.value()},
                {"leader", merged.leader},
                {"term", leader != nullptr ? leader->term : highest_term},
                {"commit", leader != nullptr ? leader->commit : highest_commit},
                {"durable", leader != nullptr ? leader->quorum_durable : 0},
                {"quorum", voters > 0 && merged.voters_up * 2 > voters},
                {"hibernated", leader != nullptr && leader->hibernated},
                {"replicas", std::move(replicas)}};
  return merged;
}

// Every bucket of the map merged (or only `only`), in id order. REQUIRES: view.map.
std::vector<MergedBucket> merge_all(const ClusterView& view, const HostAnswers& answers,
                                    std::optional<uint32_t> only, std::set<uint32_t>* up) {
  const std::vector<DesiredReplicas>& entries = view.map->buckets;
  BucketReports reports = collect_reports(view, answers, entries.size(), only);
  std::vector<MergedBucket> merged;
  for (size_t b = 0; b < entries.size(); ++b) {
    if (only && b != *only) continue;
    merged.push_back(
        merge_bucket(static_cast<uint32_t>(b), entries[b], reports.by_bucket[b], reports.up));
  }
  if (up != nullptr) *up = std::move(reports.up);
  return merged;
}

// The status counts of the buckets from their replicas' state.
struct LiveBucketCounts {
  uint64_t without_quorum = 0;
  uint64_t under_replicated = 0;  // Fewer voters up than desired replicas.
  uint64_t leaders_max = 0;
  double leaders_mean = 0;  // Per host up.
};

LiveBucketCounts live_bucket_counts(const ClusterView& view, const HostAnswers& answers) {
  std::set<uint32_t> up;
  std::vector<MergedBucket> merged = merge_all(view, answers, std::nullopt, &up);
  LiveBucketCounts counts;
  std::map<uint32_t, uint64_t> leaders;
  uint64_t total_leaders = 0;
  for (size_t b = 0; b < merged.size(); ++b) {
    if (!merged[b].doc["quorum"].get<bool>()) ++counts.without_quorum;
    if (merged[b].voters_up < view.map->buckets[b].desired.size()) ++counts.under_replicated;
    if (merged[b].leader != 0) {
      counts.leaders_max = std::max(counts.leaders_max, ++leaders[merged[b].leader]);
      ++total_leaders;
    }
  }
  if (!up.empty()) {
    counts.leaders_mean = static_cast<double>(total_leaders) / static_cast<double>(up.size());
  }
  return counts;
}

}  // namespace

json merge_buckets(const ClusterView& view, const HostAnswers& answers,
                   std::optional<uint32_t> only) {
  json buckets = json::array();
  if (!view.map) return buckets;
  for (MergedBucket& bucket : merge_all(view, answers, only, nullptr)) {
    buckets.push_back(std::move(bucket.doc));
  }
  return buckets;
}

json status_json(const ClusterView& view, const DriveUsage& usage,
                 const HostAnswers* bucket_answers) {
  json out;
  std::vector<std::string> reasons;
  json hosts = hosts_json(view);
  json drives = drives_json(view, usage);
  size_t hosts_up = 0;
  for (const json& host : hosts) hosts_up += host["state"] == "up" ? 1 : 0;
  size_t drives_active = 0;
  for (const json& drive : drives) drives_active += drive["state"] == "active" ? 1 : 0;
  out["hosts"] = hosts;
  out["drives"] = drives;
  out["hosts_up"] = hosts_up;
  out["drives_active"] = drives_active;
  out["leader"] = view.leader_host_id == 0 ? json(nullptr) : json(view.leader_host_id);
  std::string health = "ok";
  if (!view.map) {
    health = "error";
    reasons.push_back("the cluster has not been created (tess cluster create)");
    out["protection"] = nullptr;
    out["hot_spare"] = nullptr;
    out["replica_replacement_delay_s"] = nullptr;
    out["capacity"] = {{"raw_bytes", 0}, {"usable_bytes", 0}};
    out["buckets"] = {{"total", 0},
                      {"replicas", 0},
                      {"failure_domains", 0},
                      {"under_replicated", 0},
                      {"desired_majority_down", 0}};
    out["epoch"] = 0;
  } else {
    const proto::ClusterMapHeader& header = view.map->header;
    out["cluster_id"] = header.cluster_uuid();
    out["epoch"] = header.epoch();
    out["protection"] = {{"data", header.protection().data()},
                         {"parity", header.protection().parity()}};
    out["hot_spare"] = header.hot_spare();
    out["replica_replacement_delay_s"] = replica_replacement_delay(header).count();
    Capacity capacity = capacity_of(header);
    out["capacity"] = {{"raw_bytes", capacity.raw_bytes}, {"usable_bytes", capacity.usable_bytes}};
    BucketHealth buckets = bucket_health(*view.map);
    out["buckets"] = {{"total", view.map->buckets.size()},
                      {"replicas", buckets.replicas},
                      {"failure_domains", count_failure_domains(header)},
                      {"under_replicated", buckets.under_replicated},
                      {"desired_majority_down", buckets.desired_majority_down}};
    std::optional<LiveBucketCounts> live;
    if (bucket_answers != nullptr) {
      live = live_bucket_counts(view, *bucket_answers);
      out["buckets"]["under_replicated"] = live->under_replicated;
      out["buckets"]["without_quorum"] = live->without_quorum;
      out["buckets"]["leaders_max"] = live->leaders_max;
      out["buckets"]["leaders_mean"] = live->leaders_mean;
    }
    if (hosts_up < hosts.size()) {
      health = "degraded";
      reasons.push_back(fmt::format("{} of {} hosts down", hosts.size() - hosts_up, hosts.size()));
    }
    if (drives_active < drives.size()) {
      health = "degraded";
      reasons.push_back(
          fmt::format("{} of {} drives inactive", drives.size() - drives_active, drives.size()));
    }
    if (live && live->under_replicated > 0) {
      health = "degraded";
      reasons.push_back(fmt::format("{} buckets with fewer voters up than desired replicas",
                                    live->under_replicated));
    } else if (!live && buckets.under_replicated > 0) {
      health = "degraded";
      reasons.push_back(fmt::format("{} buckets with fewer than {} desired replicas up",
                                    buckets.under_replicated, buckets.replicas));
    }
    if (buckets.desired_majority_down > 0) {
      health = "error";
      reasons.push_back(fmt::format("{} buckets with a majority of their desired replicas down",
                                    buckets.desired_majority_down));
    }
    if (live && live->without_quorum > 0) {
      health = "error";
      reasons.push_back(fmt::format("{} buckets without quorum (a majority of their voters down)",
                                    live->without_quorum));
    }
  }
  if (view.leader_host_id == 0) {
    health = "error";
    reasons.push_back("no management leader");
  }
  if (!view.etcd_status.ok()) {
    if (health == "ok") health = "degraded";
    reasons.push_back(std::string(view.etcd_status.message()));
  }
  out["health"] = health;
  out["reasons"] = reasons;
  return out;
}

namespace {

json local_drives_json(const LocalDrives& local) {
  json drives = json::array();
  if (!local.list) return drives;
  for (const proto::DriveInfo& drive : local.list()) {
    drives.push_back({{"id", drive.drive_id()},
                      {"path", drive.path()},
                      {"capacity_bytes", drive.capacity_bytes()},
                      {"used_bytes", drive.used_bytes()}});
  }
  return drives;
}

}  // namespace

std::vector<HostAnswers> ask_every_host(const ClusterView& view, uint32_t self,
                                        const std::vector<std::string>& paths,
                                        std::chrono::milliseconds timeout,
                                        const std::function<void()>& meanwhile) {
  // Every (peer, path) is asked at once, with one deadline for all of them: an answer waits for
  // the slowest peer up to `timeout`, not for the sum of their timeouts. At most kMaxPeerCalls
  // threads ask at once (each takes the next call), so a large cluster does not mean a thread per
  // host.
  constexpr size_t kMaxPeerCalls = 16;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<const proto::HostRegistration*> peers;
  for (const proto::HostRegistration& host : view.registrations) {
    if (host.host_id() != self) peers.push_back(&host);
  }
  // Call i asks peer i / paths.size() for path i % paths.size(); slot i is written by one thread.
  const size_t calls = peers.size() * paths.size();
  std::vector<std::optional<json>> bodies(calls);
  std::atomic<size_t> next{0};
  auto ask = [&peers, &paths, &bodies, &next, calls, deadline] {
    for (size_t i = next++; i < calls; i = next++) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      const proto::HostRegistration& host = *peers[i / paths.size()];
      auto reply = http::call(host.address(), static_cast<uint16_t>(host.http_port()),
                              http::Request{"GET", paths[i % paths.size()], "", {}}, left);
      if (!reply.ok() || reply->status != 200) continue;
      json body = json::parse(reply->body, nullptr, false);
      if (!body.is_discarded()) bodies[i] = std::move(body);
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(kMaxPeerCalls, calls); ++t) threads.emplace_back(ask);
  if (meanwhile) meanwhile();
  for (std::thread& thread : threads) thread.join();

  std::vector<HostAnswers> answers(paths.size());
  for (size_t i = 0; i < calls; ++i) {
    if (bodies[i]) {
      answers[i % paths.size()][peers[i / paths.size()]->host_id()] = std::move(*bodies[i]);
    }
  }
  return answers;
}

namespace {

// Used bytes by drive id from the hosts' GET /api/v1/local/drives bodies and this host's drives.
DriveUsage drive_usage_of(const HostAnswers& answers, const json& own_drives) {
  std::vector<const json*> lists{&own_drives};
  for (const auto& [host, body] : answers) {
    if (!body.is_object()) continue;
    auto drives = body.find("drives");
    if (drives != body.end()) lists.push_back(&*drives);
  }
  DriveUsage usage;
  for (const json* drives : lists) {
    if (!drives->is_array()) continue;
    for (const json& drive : *drives) {
      uint64_t id = 0;
      uint64_t used = 0;
      bool well_formed = drive.is_object() && unsigned_field(drive, "id", UINT32_MAX, &id) &&
                         unsigned_field(drive, "used_bytes", UINT64_MAX, &used);
      // A peer's figure never overrides this host's own (listed first).
      if (well_formed) usage.emplace(static_cast<uint32_t>(id), used);
    }
  }
  return usage;
}

// This host's replicas as a peer would answer GET /api/v1/local/buckets (`only`: that bucket's);
// nullopt without a bucket role.
std::optional<json> local_buckets_body(const LocalBuckets& local, std::optional<uint32_t> only) {
  if (!local.status) return std::nullopt;
  json replicas = local.status();
  if (only && replicas.is_array()) {
    json kept = json::array();
    for (json& replica : replicas) {
      uint64_t bucket = 0;
      if (replica.is_object() && unsigned_field(replica, "bucket", UINT32_MAX, &bucket) &&
          bucket == *only) {
        kept.push_back(std::move(replica));
      }
    }
    replicas = std::move(kept);
  }
  return json{{"replicas", std::move(replicas)}};
}

std::string local_buckets_path(std::optional<uint32_t> only) {
  return only ? fmt::format("{}?bucket={}", kLocalBucketsPath, *only) : kLocalBucketsPath;
}

}  // namespace

DriveUsage live_drive_usage(const ClusterView& view, uint32_t self, const LocalDrives& local,
                            std::chrono::milliseconds timeout) {
  json own;
  std::vector<HostAnswers> answers = ask_every_host(
      view, self, {kLocalDrivesPath}, timeout, [&own, &local] { own = local_drives_json(local); });
  return drive_usage_of(answers[0], own);
}

HostAnswers live_bucket_replicas(const ClusterView& view, uint32_t self, const LocalBuckets& local,
                                 std::optional<uint32_t> only, std::chrono::milliseconds timeout) {
  std::optional<json> own;
  std::vector<HostAnswers> answers =
      ask_every_host(view, self, {local_buckets_path(only)}, timeout,
                     [&own, &local, only] { own = local_buckets_body(local, only); });
  if (own) answers[0][self] = std::move(*own);
  return std::move(answers[0]);
}

namespace {

// "N" -> bucket id N: decimal digits only, within uint32.
Result<uint32_t> parse_bucket_id(const std::string& text) {
  uint32_t id = 0;
  const char* end = text.data() + text.size();
  bool digits = !text.empty() &&
                std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  auto parsed = std::from_chars(text.data(), end, id);  // Fails past uint32 (out of range).
  if (!digits || parsed.ec != std::errc() || parsed.ptr != end) {
    return error(StatusCode::kInvalidArgument, "\"{}\" is not a bucket number", text.substr(0, 32));
  }
  return id;
}

// GET /api/v1/local/buckets[?bucket=N].
http::Response local_buckets_response(const LocalBuckets& local, const http::Request& request) {
  if (!local.status) {
    return error_response(error(StatusCode::kNotFound, "this host runs no buckets"));
  }
  std::optional<uint32_t> only;
  if (auto wanted = query_parameter(request.target, "bucket")) {
    auto id = parse_bucket_id(*wanted);
    if (!id.ok()) return error_response(id.status());
    only = *id;
  }
  return json_response(200, *local_buckets_body(local, only));
}

// GET /api/v1/buckets and /api/v1/buckets/N (`id`: the text after the slash).
http::Response buckets_response(const ClusterView& view, uint32_t self, const LocalBuckets& local,
                                std::optional<std::string> id) {
  std::optional<uint32_t> only;
  if (id) {
    auto parsed = parse_bucket_id(*id);
    if (!parsed.ok()) return error_response(parsed.status());
    only = *parsed;
  }
  if (!view.map) {
    return error_response(
        error(StatusCode::kFailedPrecondition, "the cluster has not been created"));
  }
  if (only && *only >= view.map->buckets.size()) {
    return error_response(error(StatusCode::kNotFound, "no bucket {}: the cluster has {}", *only,
                                view.map->buckets.size()));
  }
  json buckets = merge_buckets(view, live_bucket_replicas(view, self, local, only), only);
  if (only) return json_response(200, buckets[0]);  // Exactly one: `only` is in the map.
  return json_response(200, json{{"epoch", view.map->header.epoch()}, {"buckets", buckets}});
}

// GET /api/v1/status: drives and buckets asked of every host in one round.
http::Response status_response(const ClusterView& view, uint32_t self, const LocalDrives& drives,
                               const LocalBuckets& buckets) {
  std::vector<std::string> paths{kLocalDrivesPath};
  if (view.map) paths.push_back(kLocalBucketsPath);
  json own_drives;
  std::optional<json> own_buckets;
  std::vector<HostAnswers> answers =
      ask_every_host(view, self, paths, std::chrono::seconds(1), [&] {
        own_drives = local_drives_json(drives);
        if (view.map) own_buckets = local_buckets_body(buckets, std::nullopt);
      });
  DriveUsage usage = drive_usage_of(answers[0], own_drives);
  if (!view.map) return json_response(200, status_json(view, usage));
  if (own_buckets) answers[1][self] = std::move(*own_buckets);
  return json_response(200, status_json(view, usage, &answers[1]));
}

}  // namespace

http::Response handle_api_request(ControlPlane& control, BlockingBridge& control_loop,
                                  const ApiSources& sources, const http::Request& request) {
  std::string path = request.target.substr(0, request.target.find('?'));
  const std::string& method = request.method;
  const LocalDrives& local_drives = sources.drives;
  const LocalBuckets& local_buckets = sources.buckets;
  if (is_filesystem_path(path)) {
    return handle_filesystem_request(control, control_loop, sources.filesystems, request);
  }
  auto view = control.view();
  if (method == "GET" && path == "/api/v1/status") {
    return status_response(*view, control.host_id(), local_drives, local_buckets);
  }
  if (method == "GET" && path == "/api/v1/local/drives") {
    return json_response(200, json{{"drives", local_drives_json(local_drives)}});
  }
  if (method == "GET" && path == kLocalBucketsPath) {
    return local_buckets_response(local_buckets, request);
  }
  if (method == "GET" && path == kLocalUsagePath) {
    if (!local_buckets.usage) {
      return error_response(error(StatusCode::kNotFound, "this host runs no buckets"));
    }
    return json_response(200, json{{"replicas", local_buckets.usage()}});
  }
  if (method == "GET" && path == "/api/v1/hosts")
    return json_response(200, json{{"hosts", hosts_json(*view)}});
  if (method == "GET" && path == "/api/v1/drives") {
    DriveUsage usage = live_drive_usage(*view, control.host_id(), local_drives);
    return json_response(200, json{{"drives", drives_json(*view, usage)}});
  }
  if (method == "GET" && path == "/api/v1/buckets") {
    return buckets_response(*view, control.host_id(), local_buckets, std::nullopt);
  }
  const std::string bucket_prefix = "/api/v1/buckets/";
  if (method == "GET" && path.starts_with(bucket_prefix)) {
    return buckets_response(*view, control.host_id(), local_buckets,
                            path.substr(bucket_prefix.size()));
  }
  if (method == "POST" && path == "/api/v1/local/drives") {
    json body;
    auto drive_path = path_field(request, &body);
    if (!drive_path.ok()) return error_response(drive_path.status());
    return add_local_drive(local_drives, *drive_path);
  }
  if (method == "POST" && path == "/api/v1/drives")
    return add_drive_to_host(*view, control.host_id(), local_drives, request);
  bool change = (method == "POST" && path == "/api/v1/cluster") ||
                (method == "PUT" && path == "/api/v1/cluster/hot-spare");
  if (!change) {
    return error_response(error(StatusCode::kNotFound, "no API endpoint {} {}", method, path));
  }
  if (auto redirect = redirect_to_leader(control, request)) return *redirect;
  if (path == "/api/v1/cluster") return create(control, control_loop, request);
  return hot_spare(control, control_loop, request);
}

}  // namespace tessera::api
