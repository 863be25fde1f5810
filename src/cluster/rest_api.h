// The management REST API (JSON over HTTP), served by every tessd: reads are answered from the
// host's own view of the map; changes are made by the management leader, and any other host
// answers them with a 307 redirect to it. Errors are {"error": {"code", "message"}} with an HTTP
// status mapped from the StatusCode in one place (http_status_of). Requests may carry
// "Authorization: Bearer <token>"; tokens and roles are checked in a later version (today every
// request is allowed), so clients already send it.
//
//   GET  /api/v1/status        health, hosts, drives, protection, capacity, buckets, leader
//   GET  /api/v1/hosts | /api/v1/drives | /api/v1/buckets
//   POST /api/v1/cluster       {"data": K, "parity": M, "hot_spare": H?, "buckets": B?}
//   PUT  /api/v1/cluster/hot-spare  {"hot_spare": H}
//   POST /api/v1/drives        {"host": id or name, "path": P}   (forwarded to that host)
//   POST /api/v1/local/drives  {"path": P}                       (this host adds a drive)
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "cluster/control_plane.h"
#include "http/http.h"

namespace tessera {

// Adds a drive on this host: opens (formatting if blank) and serves it. Runs on the API thread.
using AddLocalDrive = std::function<Result<proto::DriveInfo>(const std::string& path)>;

http::Response handle_api_request(ControlPlane& control, const AddLocalDrive& add_local_drive,
                                  const http::Request& request);

// The status document (also what `tess status --json` prints).
nlohmann::json status_json(const ClusterView& view);

}  // namespace tessera
