#include "cluster/rest_api.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "http/api_error.h"

namespace tessera {

using nlohmann::json;

namespace {

http::Response json_response(int status, const json& body) { return {status, body.dump(), {}}; }

http::Response error_response(const Status& status) {
  return json_response(http::http_status_of(status.code()),
                       json{{"error",
                             {{"code", http::api_code_name(status.code())},
                              {"message", std::string(status.message())}}}});
}

Result<json> parse_body(const http::Request& request) {
  json body = json::parse(request.body.empty() ? "{}" : request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return error(StatusCode::kInvalidArgument, "the request body is not a JSON object");
  }
  return body;
}

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

// Forwards a change to the management leader: a redirect the client follows.
std::optional<http::Response> redirect_to_leader(const ControlPlane& control,
                                                 const http::Request& request) {
  if (control.is_leader()) return std::nullopt;
  auto view = control.view();
  for (const proto::HostRegistration& host : view->registrations) {
    if (host.host_id() == view->leader_host_id) {
      std::string location =
          fmt::format("http://{}:{}{}", host.address(), host.http_port(), request.target);
      return http::Response{307, json{{"redirect", location}}.dump(), {{"Location", location}}};
    }
  }
  return error_response(error(StatusCode::kUnavailable, "no management leader is known now"));
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
    auto forwarded =
        http::call(host.address(), static_cast<uint16_t>(host.http_port()),
                   http::Request{"POST", "/api/v1/local/drives", json{{"path", *path}}.dump(), {}},
                   std::chrono::seconds(30));
    if (!forwarded.ok()) return error_response(forwarded.status());
    return http::Response{forwarded->status, forwarded->body, {}};
  }
  return error_response(error(StatusCode::kNotFound, "no host {} is up", wanted.dump()));
}

json status_json(const ClusterView& view, const DriveUsage& usage) {
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
    if (hosts_up < hosts.size()) {
      health = "degraded";
      reasons.push_back(fmt::format("{} of {} hosts down", hosts.size() - hosts_up, hosts.size()));
    }
    if (drives_active < drives.size()) {
      health = "degraded";
      reasons.push_back(
          fmt::format("{} of {} drives inactive", drives.size() - drives_active, drives.size()));
    }
    if (buckets.under_replicated > 0) {
      health = "degraded";
      reasons.push_back(fmt::format("{} buckets with fewer than {} desired replicas up",
                                    buckets.under_replicated, buckets.replicas));
    }
    if (buckets.desired_majority_down > 0) {
      health = "error";
      reasons.push_back(fmt::format("{} buckets with a majority of their desired replicas down",
                                    buckets.desired_majority_down));
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

DriveUsage live_drive_usage(const ClusterView& view, uint32_t self, const LocalDrives& local,
                            std::chrono::milliseconds timeout) {
  // Every peer is asked at once, with one deadline for all of them: a status answer waits for the
  // slowest peer up to `timeout`, not for the sum of their timeouts. At most kMaxPeerCalls threads
  // ask at once (each takes the next peer), so a large cluster does not mean a thread per host.
  constexpr size_t kMaxPeerCalls = 16;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<const proto::HostRegistration*> peers;
  for (const proto::HostRegistration& host : view.registrations) {
    if (host.host_id() != self) peers.push_back(&host);
  }
  std::vector<json> answers(peers.size());  // Slot i: peer i's drives, written by one thread.
  std::atomic<size_t> next{0};
  auto ask = [&peers, &answers, &next, deadline] {
    for (size_t i = next++; i < peers.size(); i = next++) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      const proto::HostRegistration& host = *peers[i];
      auto reply = http::call(host.address(), static_cast<uint16_t>(host.http_port()),
                              http::Request{"GET", "/api/v1/local/drives", "", {}}, left);
      if (!reply.ok() || reply->status != 200) continue;
      json body = json::parse(reply->body, nullptr, false);
      if (body.is_discarded() || !body.contains("drives")) continue;
      answers[i] = std::move(body["drives"]);
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(kMaxPeerCalls, peers.size()); ++t) threads.emplace_back(ask);
  json own = local_drives_json(local);  // Meanwhile, this host's own.
  for (std::thread& thread : threads) thread.join();
  answers.push_back(std::move(own));

  DriveUsage usage;
  for (const json& drives : answers) {
    if (!drives.is_array()) continue;
    for (const json& drive : drives) {
      bool well_formed = drive.is_object() && drive.contains("id") &&
                         drive["id"].is_number_unsigned() && drive.contains("used_bytes") &&
                         drive["used_bytes"].is_number_unsigned();
      if (well_formed) usage[drive["id"].get<uint32_t>()] = drive["used_bytes"].get<uint64_t>();
    }
  }
  return usage;
}

http::Response handle_api_request(ControlPlane& control, BlockingBridge& control_loop,
                                  const LocalDrives& local_drives, const http::Request& request) {
  std::string path = request.target.substr(0, request.target.find('?'));
  const std::string& method = request.method;
  auto view = control.view();
  if (method == "GET" && path == "/api/v1/status") {
    DriveUsage usage = live_drive_usage(*view, control.host_id(), local_drives);
    return json_response(200, status_json(*view, usage));
  }
  if (method == "GET" && path == "/api/v1/local/drives") {
    return json_response(200, json{{"drives", local_drives_json(local_drives)}});
  }
  if (method == "GET" && path == "/api/v1/hosts")
    return json_response(200, json{{"hosts", hosts_json(*view)}});
  if (method == "GET" && path == "/api/v1/drives") {
    DriveUsage usage = live_drive_usage(*view, control.host_id(), local_drives);
    return json_response(200, json{{"drives", drives_json(*view, usage)}});
  }
  if (method == "GET" && path == "/api/v1/local/drives") {
    return json_response(200, json{{"drives", local_drives_json(local_drives)}});
  }
  if (method == "GET" && path == "/api/v1/buckets") {
    if (!view->map)
      return error_response(
          error(StatusCode::kFailedPrecondition, "the cluster has not been created"));
    // What the map holds: desired replicas and preferred leader. Leader, term and commit index
    // come from the buckets themselves (later), not from the map.
    json buckets = json::array();
    for (size_t b = 0; b < view->map->buckets.size(); ++b) {
      const DesiredReplicas& bucket = view->map->buckets[b];
      json desired = json::array();
      for (HostId host : bucket.desired) desired.push_back(host.value());
      buckets.push_back({{"id", b},
                         {"desired", desired},
                         {"preferred_leader", bucket.preferred_leader.value()},
                         {"desired_epoch", bucket.desired_epoch.value()}});
    }
    return json_response(200, json{{"epoch", view->map->header.epoch()}, {"buckets", buckets}});
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

}  // namespace tessera
