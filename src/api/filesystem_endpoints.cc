#include "api/filesystem_endpoints.h"

#include <algorithm>

#include "api/response.h"

namespace tessera::api {

using nlohmann::json;

namespace {

constexpr const char* kCollection = "/api/v1/filesystems";

json count_or_null(std::optional<uint64_t> count) { return count ? json(*count) : json(nullptr); }

// The usage of every filesystem `table` holds.
FilesystemUsageTable report(const FilesystemSources& source, const FilesystemTable& table) {
  if (!source.report) return FilesystemUsageTable{};
  std::vector<FilesystemId> ids;
  for (const proto::FilesystemRecord& record : table.records) ids.emplace_back(record.id());
  return source.report(ids);
}

FilesystemUsage usage_of(const FilesystemUsageTable& usage, uint32_t id) {
  auto found = usage.find(FilesystemId(id));
  return found == usage.end() ? FilesystemUsage{} : found->second;
}

// "capacity_bytes" of a body: a whole number of bytes. nullopt if absent and not `required`.
Result<std::optional<uint64_t>> capacity_field(const json& body, bool required) {
  auto found = body.find("capacity_bytes");
  if (found == body.end()) {
    if (required) return error(StatusCode::kInvalidArgument, "\"capacity_bytes\" is required");
    return std::optional<uint64_t>();
  }
  // nlohmann reads every non-negative integer as unsigned: anything else is negative, a
  // fraction, or not a number.
  if (!found->is_number_unsigned()) {
    return error(StatusCode::kInvalidArgument,
                 "\"capacity_bytes\" must be a whole number of bytes, not {}",
                 dump_json(*found).substr(0, 64));
  }
  return std::optional<uint64_t>(found->get<uint64_t>());
}

Result<std::string> name_field(const json& body) {
  auto found = body.find("name");
  if (found == body.end()) return error(StatusCode::kInvalidArgument, "\"name\" is required");
  if (!found->is_string()) {
    return error(StatusCode::kInvalidArgument, "\"name\" must be a string, not {}",
                 dump_json(*found).substr(0, 64));
  }
  return found->get<std::string>();
}

json list_json(const FilesystemTable& table, const FilesystemUsageTable& usage,
               const ClusterView& view) {
  std::vector<const proto::FilesystemRecord*> shown;
  for (const proto::FilesystemRecord& record : table.records) shown.push_back(&record);
  // Active ones by name, then deleting ones by id (their names may repeat an active one's).
  std::stable_sort(shown.begin(), shown.end(), [](const auto* a, const auto* b) {
    bool a_active = a->state() == proto::FILESYSTEM_STATE_ACTIVE;
    bool b_active = b->state() == proto::FILESYSTEM_STATE_ACTIVE;
    if (a_active != b_active) return a_active;
    return a_active ? a->name() < b->name() : a->id() < b->id();
  });
  json filesystems = json::array();
  for (const proto::FilesystemRecord* record : shown) {
    filesystems.push_back(filesystem_json(*record, usage_of(usage, record->id())));
  }
  uint64_t provisioned = provisioned_bytes(table, usage);
  json capacity = {{"usable_bytes", nullptr},
                   {"provisioned_bytes", provisioned},
                   {"unprovisioned_bytes", nullptr}};
  if (view.map) {
    // As this host's view of the map has it (tess status shows the same figure).
    uint64_t usable = capacity_of(view.map->header).usable_bytes;
    capacity["usable_bytes"] = usable;
    capacity["unprovisioned_bytes"] = usable > provisioned ? usable - provisioned : 0;
  }
  return json{{"filesystems", std::move(filesystems)}, {"capacity", std::move(capacity)}};
}

http::Response list(ControlPlane& control, BlockingBridge& control_loop,
                    const FilesystemSources& source) {
  Result<FilesystemTable> table = control_loop.run(control.filesystems());
  if (!table.ok()) return error_response(table.status());
  return json_response(200, list_json(*table, report(source, *table), *control.view()));
}

http::Response get_one(ControlPlane& control, BlockingBridge& control_loop,
                       const FilesystemSources& source, const std::string& name) {
  if (Status named = check_filesystem_name(name); !named.ok()) return error_response(named);
  Result<FilesystemTable> table = control_loop.run(control.filesystems());
  if (!table.ok()) return error_response(table.status());
  Result<proto::FilesystemRecord> found = find_filesystem(*table, name);
  if (!found.ok()) return error_response(found.status());
  return json_response(200, filesystem_json(*found, usage_of(report(source, *table), found->id())));
}

// The change a request asks for, read from its body and query.
Result<FilesystemChange> change_of(FilesystemChange::Kind kind, const http::Request& request,
                                   const std::string& name) {
  FilesystemChange change;
  change.kind = kind;
  change.name = name;
  switch (kind) {
    case FilesystemChange::Kind::kCreate: {
      TESS_ASSIGN_OR_RETURN(json body, parse_body(request, {"name", "capacity_bytes"}));
      TESS_ASSIGN_OR_RETURN(change.name, name_field(body));
      TESS_ASSIGN_OR_RETURN(change.capacity_bytes, capacity_field(body, /*required=*/false));
      break;
    }
    case FilesystemChange::Kind::kUpdate: {
      TESS_ASSIGN_OR_RETURN(json body, parse_body(request, {"capacity_bytes"}));
      TESS_ASSIGN_OR_RETURN(change.capacity_bytes, capacity_field(body, /*required=*/true));
      break;
    }
    case FilesystemChange::Kind::kDelete: {
      std::optional<std::string> force = query_parameter(request.target, "force");
      if (force && *force != "true" && *force != "false") {
        return error(StatusCode::kInvalidArgument, "force must be true or false, not \"{}\"",
                     force->substr(0, 16));
      }
      change.force = force == "true";
      break;
    }
  }
  return change;
}

// A change, on the management leader (redirected there from any other host).
http::Response apply(ControlPlane& control, BlockingBridge& control_loop,
                     const FilesystemSources& source, const http::Request& request,
                     FilesystemChange::Kind kind, const std::string& name) {
  if (auto redirect = redirect_to_leader(control, request)) return *redirect;
  Result<FilesystemChange> change = change_of(kind, request, name);
  if (!change.ok()) return error_response(change.status());
  // The usage of the filesystems as they are now; the change reads them again at its own revision,
  // and a filesystem created in between holds nothing yet.
  Result<FilesystemTable> table = control_loop.run(control.filesystems());
  if (!table.ok()) return error_response(table.status());
  FilesystemUsageTable usage = report(source, *table);
  Result<proto::FilesystemRecord> written =
      control_loop.run(control.change_filesystem(std::move(*change), usage));
  if (!written.ok()) return error_response(written.status());
  if (kind == FilesystemChange::Kind::kCreate) {
    // Ids are never reused, so no bucket holds anything of a new filesystem yet.
    json created = filesystem_json(*written, FilesystemUsage{0, 0});
    Status root = source.make_root ? source.make_root(FilesystemId(written->id()))
                                   : error(StatusCode::kUnavailable, "this host runs no buckets");
    created["root"] = root.ok() ? "made" : "on first use";
    if (!root.ok()) created["root_error"] = root.to_string();
    return json_response(201, created);
  }
  return json_response(200, filesystem_json(*written, usage_of(usage, written->id())));
}

}  // namespace

bool is_filesystem_path(const std::string& path) {
  return path == kCollection || path.starts_with(std::string(kCollection) + "/");
}

http::Response handle_filesystem_request(ControlPlane& control, BlockingBridge& control_loop,
                                         const FilesystemSources& usage,
                                         const http::Request& request) {
  using Kind = FilesystemChange::Kind;
  std::string path = request.target.substr(0, request.target.find('?'));
  const std::string& method = request.method;
  if (path == kCollection) {
    if (method == "GET") return list(control, control_loop, usage);
    if (method == "POST") return apply(control, control_loop, usage, request, Kind::kCreate, "");
  } else if (is_filesystem_path(path)) {
    // Everything after the slash: a name with a '/' in it is refused by the name rule.
    std::string name = path.substr(std::string(kCollection).size() + 1);
    if (method == "GET") return get_one(control, control_loop, usage, name);
    if (method == "PATCH") return apply(control, control_loop, usage, request, Kind::kUpdate, name);
    if (method == "DELETE") {
      return apply(control, control_loop, usage, request, Kind::kDelete, name);
    }
  }
  return error_response(error(StatusCode::kNotFound, "no API endpoint {} {}", method, path));
}

json filesystem_json(const proto::FilesystemRecord& record, const FilesystemUsage& usage) {
  bool active = record.state() == proto::FILESYSTEM_STATE_ACTIVE;
  return json{{"id", record.id()},
              {"name", record.name()},
              {"capacity_bytes", record.capacity_bytes()},
              {"used_bytes", count_or_null(usage.used_bytes)},
              {"files", count_or_null(usage.files)},
              {"created_unix_ms", record.created_unix_ms()},
              {"state", active ? "active" : "deleting"},
              {"deleting_since_unix_ms", record.deleting_since_unix_ms()}};
}

}  // namespace tessera::api
