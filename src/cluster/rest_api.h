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
//   POST /api/v1/drives        {"host": id or name, "path": P}   (forwarded to that host, or
//                              added here when it names this host)
//   POST /api/v1/local/drives  {"path": P}                       (this host adds a drive)
//   GET  /api/v1/local/drives  this host's drives with their current use
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "cluster/control_plane.h"
#include "http/http.h"
#include "runtime/blocking_bridge.h"

namespace tessera {

// This host's drive role, as the API reaches it (from the API thread).
struct LocalDrives {
  // Opens (formatting if blank) and serves one more drive.
  std::function<Result<proto::DriveInfo>(const std::string& path)> add;
  // Every drive served here with its current use.
  std::function<std::vector<proto::DriveInfo>()> list;
};

// Runs on the API thread. Changes run on the control plane's executor through `control_loop`, a
// bridge into the loop that runs `control`.
http::Response handle_api_request(ControlPlane& control, BlockingBridge& control_loop,
                                  const LocalDrives& local, const http::Request& request);

// POST /api/v1/drives: adds the drive at body "path" on the host named by body "host" (id or name)
// among `view`'s registrations: through LocalDrives::add when that host is `self`, else by that
// host's POST /api/v1/local/drives. 404 if no such host is up.
http::Response add_drive_to_host(const ClusterView& view, uint32_t self,
                                 const LocalDrives& local_drives, const http::Request& request);

// Current used bytes by drive id, asked of every registered host at once (`local` answers for
// `self`): returns within `timeout` overall, and a host that has not answered by then is left out
// (its drives keep the figure the map carries).
using DriveUsage = std::map<uint32_t, uint64_t>;
DriveUsage live_drive_usage(const ClusterView& view, uint32_t self, const LocalDrives& local,
                            std::chrono::milliseconds timeout = std::chrono::seconds(1));

// The status document (also what `tess status --json` prints).
nlohmann::json status_json(const ClusterView& view, const DriveUsage& usage = {});

}  // namespace tessera
