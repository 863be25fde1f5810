// The filesystem endpoints of the REST API (docs/design/2026-12-05-filesystems.md 8):
//
//   POST   /api/v1/filesystems        {"name", "capacity_bytes"?}   201, the filesystem
//   GET    /api/v1/filesystems        200, {"filesystems": [...], "capacity": {"usable_bytes",
//                                     "provisioned_bytes", "unprovisioned_bytes"}}
//   GET    /api/v1/filesystems/NAME   200, the active filesystem of that name
//   PATCH  /api/v1/filesystems/NAME   {"capacity_bytes"}           200, the filesystem
//   DELETE /api/v1/filesystems/NAME[?force=true]                   200, the filesystem, deleting
//
// A filesystem is {"id", "name", "capacity_bytes", "used_bytes", "files", "created_unix_ms",
// "state": "active"|"deleting", "deleting_since_unix_ms"}, and in the answer to a create also
// "root": "made" or "on first use" with "root_error" saying why; used_bytes and files are null when
// their report is incomplete (FilesystemSources). The list holds the active
// filesystems by name, then the deleting ones by id. Reads are served by any host from etcd
// (through the control plane's loop, within its store deadline); changes by the management leader
// (307 elsewhere). Errors: the rules of cluster/filesystems.h through error_response (400, 404,
// 409, 507, 503, 504); an unknown field, a wrong type or a negative number in a body is 400.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "cluster/control_plane.h"
#include "cluster/filesystems.h"
#include "http/http.h"
#include "runtime/blocking_bridge.h"

namespace tessera::api {

// What the filesystem endpoints reach beyond etcd. Each is called on an API thread, must be
// thread-safe and bounds its own time.
struct FilesystemSources {
  // What each filesystem holds (docs/design/2026-12-06-filesystem-usage.md 2): an entry for each of
  // `ids`, unknown figures where it cannot tell. Empty: every figure unknown.
  std::function<FilesystemUsageTable(const std::vector<FilesystemId>& ids)> report;
  // Makes a new filesystem's root directory in its bucket (idempotent: the namespace's make_root).
  // Empty, or failing: the root is made on first use instead (every client makes it if absent), and
  // the answer to the create says so.
  std::function<Status(FilesystemId fs)> make_root;
};

// True for /api/v1/filesystems and everything under it.
bool is_filesystem_path(const std::string& path);

// Answers a request whose path is_filesystem_path. Runs on an API thread; store calls and changes
// run on the control plane's executor through `control_loop`.
http::Response handle_filesystem_request(ControlPlane& control, BlockingBridge& control_loop,
                                         const FilesystemSources& usage,
                                         const http::Request& request);

// One filesystem as the API shows it.
nlohmann::json filesystem_json(const proto::FilesystemRecord& record, const FilesystemUsage& usage);

}  // namespace tessera::api
