// tessd: the Tessera server. It serves the drive role (its local drives as chunk stores over RPC)
// and, in a cluster (--etcd), the compute role: replicas of the metadata buckets (compute_host.h).
// Run `tessd --help` for the options.
#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>

#include "api/filesystem_usage.h"
#include "api/rest_api.h"
#include "base/log.h"
#include "cluster/control_plane.h"
#include "cluster/etcd_config_store.h"
#include "http/http.h"
#include "rpc/server.h"
#include "runtime/blocking_bridge.h"
#include "runtime/event_loop.h"
#include "runtime/offload.h"
#include "tessd/compute_host.h"
#include "tessd/drive_host.h"

namespace tessera {
namespace {

struct TessdOptions {
  std::string listen = "127.0.0.1:7400";
  std::string http = "127.0.0.1:7500";
  std::string etcd;  // Comma-separated HOST:PORT of every etcd member; empty: drive role only.
  std::string cluster_name = "default";
  std::string host_name;
  std::string failure_domain;
  int64_t lease_ttl_s = 5;
  std::string cluster_id;
  std::string port_file;
  std::string log_level = "info";
  std::string log_file;
  std::string data_dir;  // Empty: "<first drive>.data".
  uint64_t scrub_mib_per_s = 64;
  uint64_t scrub_interval_s = 3600;
  size_t max_in_flight_per_drive = 64;
  DriveHostOptions drives;
};

Status write_port_file(const std::string& path, uint16_t port) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    out << port << "\n";
    if (!out) return error(StatusCode::kIoError, "cannot write {}", temporary);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return error(StatusCode::kIoError, "cannot rename {} to {}", temporary, path);
  }
  return Status();
}

std::vector<proto::DriveInfo> drive_infos(const DriveHost& drives) {
  std::vector<proto::DriveInfo> infos;
  for (const DriveHost::DriveSummary& summary : drives.summaries()) {
    proto::DriveInfo info;
    info.set_drive_id(summary.drive_id);
    info.set_path(summary.path);
    info.set_capacity_bytes(summary.capacity_bytes);
    info.set_used_bytes(summary.used_bytes);
    infos.push_back(std::move(info));
  }
  return infos;
}

Task<std::vector<proto::DriveInfo>> add_drive_task(DriveHost* drives, std::string path, uint32_t id,
                                                   Status* status) {
  *status = co_await drives->add_drive(std::move(path), id);
  co_return drive_infos(*drives);
}

Task<std::vector<proto::DriveInfo>> list_drives_task(const DriveHost* drives) {
  co_return drive_infos(*drives);
}

Task<nlohmann::json> bucket_status_task(const ComputeHost* compute) {
  co_return compute->status_json();
}

Task<nlohmann::json> bucket_usage_task(const ComputeHost* compute) {
  co_return compute->usage_json();
}

Task<Status> make_root_task(ComputeHost* compute, FilesystemId fs) {
  co_return co_await compute->make_root(
      fs, Deadline::after(std::chrono::seconds(5), RealClock::instance()));
}

// The member of the cluster: drives, RPC, and (with --etcd) the control plane and REST API.
// The control plane runs on a loop of its own (control_plane.h says why); other threads reach it
// through control_bridge. Members are destroyed in reverse order: the loop last.
struct Member {
  std::unique_ptr<EventLoopGroup> control_loop;
  std::unique_ptr<EtcdConfigStore> store;
  std::unique_ptr<BlockingBridge> control_bridge;
  std::unique_ptr<ControlPlane> control;
  std::unique_ptr<http::Server> api;
  std::unique_ptr<BlockingBridge> bridge;
  std::unique_ptr<ComputeHost> compute;  // Lives on the main loop; closed by run().
};

// Runs on the API thread: allocates an id, opens the drive on the loop, republishes the drives.
Result<proto::DriveInfo> add_local_drive(ControlPlane* control, BlockingBridge* control_bridge,
                                         BlockingBridge* bridge, DriveHost* drives,
                                         const std::string& path) {
  TESS_ASSIGN_OR_RETURN(uint32_t id, control_bridge->run(control->allocate_drive_id()));
  Status added;
  std::vector<proto::DriveInfo> infos = bridge->run(add_drive_task(drives, path, id, &added));
  TESS_RETURN_IF_ERROR(added);
  control_bridge->run(control->set_drives(infos));
  for (const proto::DriveInfo& info : infos) {
    if (info.path() == path) return info;
  }
  return error(StatusCode::kInternal, "drive {} vanished", path);
}

Status start_member(TessdOptions& options, Member& member, DriveHost& drives,
                    boost::asio::io_context& loop) {
  ControlPlane& control = *member.control;
  BlockingBridge* control_bridge = member.control_bridge.get();
  control_bridge->run(control.set_drives(drive_infos(drives)));
  TESS_RETURN_IF_ERROR(control_bridge->run(control.start()));
  std::string http_host;
  uint16_t http_port = 0;
  TESS_RETURN_IF_ERROR(http::split_host_port(options.http, &http_host, &http_port));
  member.bridge = std::make_unique<BlockingBridge>(loop, 4);
  ControlPlane* control_ptr = &control;
  BlockingBridge* bridge = member.bridge.get();
  DriveHost* drives_ptr = &drives;
  api::ApiSources sources;
  sources.drives.add = [control_ptr, control_bridge, bridge, drives_ptr](const std::string& path) {
    return add_local_drive(control_ptr, control_bridge, bridge, drives_ptr, path);
  };
  sources.drives.list = [bridge, drives_ptr] { return bridge->run(list_drives_task(drives_ptr)); };
  ComputeHost* compute = member.compute.get();
  sources.buckets.status = [bridge, compute] { return bridge->run(bucket_status_task(compute)); };
  sources.buckets.usage = [bridge, compute] { return bridge->run(bucket_usage_task(compute)); };
  sources.filesystems.report = [control_ptr,
                                local = sources.buckets](const std::vector<FilesystemId>& ids) {
    return api::live_filesystem_usage(*control_ptr->view(), control_ptr->host_id(), local, ids);
  };
  sources.filesystems.make_root = [bridge, compute](FilesystemId fs) {
    return bridge->run(make_root_task(compute, fs));
  };
  member.api = std::make_unique<http::Server>(
      http_host, http_port, [control_ptr, control_bridge, sources](const http::Request& request) {
        return api::handle_api_request(*control_ptr, *control_bridge, sources, request);
      });
  TESS_RETURN_IF_ERROR(member.api->start());
  TESS_LOG_INFO("REST API on {}:{}", http_host, member.api->port());
  return Status();
}

Task<Status> run(TessdOptions options, Member* member, boost::asio::signal_set* signals) {
  Executor executor = co_await boost::asio::this_coro::executor;
  auto& loop = static_cast<boost::asio::io_context&>(
      boost::asio::query(executor, boost::asio::execution::context));
  rpc::ServerOptions server_options;
  TESS_CO_RETURN_IF_ERROR(
      http::split_host_port(options.listen, &server_options.address, &server_options.port));
  if (member->control) {
    TESS_CO_ASSIGN_OR_RETURN(options.drives.cluster_id,
                             parse_cluster_uuid(member->control->cluster_uuid()));
    ControlPlane* control = member->control.get();
    BlockingBridge* control_bridge = member->control_bridge.get();
    options.drives.allocate_drive_id = [control, control_bridge] {
      return control_bridge->run(control->allocate_drive_id());
    };
  } else {
    TESS_CO_ASSIGN_OR_RETURN(options.drives.cluster_id, parse_cluster_uuid(options.cluster_id));
  }
  options.drives.scrub.bytes_per_second = options.scrub_mib_per_s * kMiB;
  options.drives.scrub.pass_interval = std::chrono::seconds(options.scrub_interval_s);

  DriveService service(
      DriveServiceOptions{.max_in_flight_per_drive = options.max_in_flight_per_drive});
  TESS_CO_ASSIGN_OR_RETURN(std::unique_ptr<DriveHost> drives,
                           co_await DriveHost::open(executor, options.drives, &service));
  rpc::RpcServer server(executor, server_options);
  service.register_with(server);
  if (member->control) {
    // The compute role: its store is opened before the control plane starts, so the host's
    // registration carries the store id (design 2026-12-04 §1).
    ComputeHostOptions compute;
    compute.path = options.data_dir + "/buckets";
    compute.cluster = options.drives.cluster_id;
    compute.host = HostId(member->control->host_id());
    compute.seed = member->control->incarnation();
    std::error_code made;
    std::filesystem::create_directories(options.data_dir, made);
    if (made) {
      co_await drives->close();
      co_return error(StatusCode::kIoError, "cannot create {}: {}", options.data_dir,
                      made.message());
    }
    auto opened = co_await ComputeHost::open(executor, compute, member->control.get());
    if (!opened.ok()) {
      co_await drives->close();
      co_return opened.status();
    }
    member->compute = std::move(*opened);
    member->compute->register_handlers(server);
    member->control->set_bucket_store(member->compute->store_id());
  }
  Status started = server.start();
  if (started.ok() && member->control) started = start_member(options, *member, *drives, loop);
  if (started.ok() && member->compute) started = co_await member->compute->start();
  if (started.ok() && !options.port_file.empty()) {
    started = write_port_file(options.port_file, server.port());
  }
  if (started.ok()) {
    TESS_LOG_INFO("tessd serving {} drive(s) on {}:{}", drives->drive_count(),
                  server_options.address, server.port());
    auto [ec, signal] = co_await signals->async_wait(use_task);
    TESS_LOG_INFO("tessd: signal {}, shutting down", signal);
  }
  if (member->api || member->control) {
    // Off the loop: the API's handlers wait on this loop (BlockingBridge), so joining them here
    // would wait on ourselves (issue 9). The loop keeps running what they wait for meanwhile.
    boost::asio::thread_pool stopper(1);
    (void)co_await offload(stopper, [member] {
      if (member->api) member->api->stop();
      if (member->control) {
        member->control_bridge->run(member->control->stop(/*revoke_lease=*/true));
      }
      return true;
    });
  }
  co_await server.shutdown(Deadline::after(std::chrono::seconds(5), RealClock::instance()));
  if (member->compute) {
    Status closed = co_await member->compute->shutdown(/*clean=*/true);
    if (!closed.ok()) TESS_LOG_ERROR("closing the bucket store: {}", closed);
  }
  co_await drives->close();
  co_return started;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  using tessera::TessdOptions;
  TessdOptions options;
  CLI::App app("tessd: the Tessera server (drive role; with --etcd also the compute role)",
               "tessd");
  app.add_option("--listen", options.listen, "HOST:PORT to serve RPC on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--etcd", options.etcd,
                 "etcd members' client addresses, HOST:PORT,HOST:PORT,...: join the cluster");
  app.add_option("--cluster", options.cluster_name, "the cluster's name in etcd")
      ->capture_default_str();
  app.add_option("--name", options.host_name,
                 "this host's name, unique in the cluster (default: the --listen address)");
  app.add_option("--failure-domain", options.failure_domain,
                 "the failure domain (rack, server) this host is in (default: its name)");
  app.add_option("--http", options.http, "HOST:PORT of the REST API (with --etcd)")
      ->capture_default_str();
  app.add_option("--lease-ttl-s", options.lease_ttl_s,
                 "etcd lease TTL: a host that stops is declared down after about this long")
      ->capture_default_str();
  app.add_option("--cluster-id", options.cluster_id,
                 "without --etcd: the cluster's id (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx); drives "
                 "of other clusters are refused");
  app.add_option("--drive", options.drives.drive_paths, "a drive: file or block device (repeat)");
  app.add_option("--index-dir", options.drives.index_dir,
                 "directory for the drive indexes (default: beside each drive, PATH.index)");
  app.add_flag("--format", options.drives.format_blank, "format drives that are blank");
  app.add_flag("--force-format", options.drives.force_format,
               "reformat every drive, destroying what it holds");
  app.add_option("--first-drive-id", options.drives.first_drive_id,
                 "drive id given to the first formatted drive; the next ones count up")
      ->capture_default_str();
  app.add_option("--create-bytes", options.drives.create_bytes,
                 "create missing drive files of this many bytes (sparse)");
  app.add_option("--queue-depth", options.drives.queue_depth, "io_uring queue depth per drive")
      ->capture_default_str();
  app.add_option("--max-in-flight-per-drive", options.max_in_flight_per_drive,
                 "operations admitted per drive at once; more wait for their deadline")
      ->capture_default_str();
  app.add_option("--scrub-mib-per-s", options.scrub_mib_per_s, "scrub rate limit per drive")
      ->capture_default_str();
  app.add_option("--scrub-interval-s", options.scrub_interval_s, "pause between scrub passes")
      ->capture_default_str();
  app.add_flag("!--no-scrub", options.drives.scrub_enabled, "do not scrub in the background");
  app.add_option("--port-file", options.port_file,
                 "write the RPC port here once serving (for scripts that use port 0)");
  app.add_option("--log-level", options.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  app.add_option("--log-file", options.log_file, "append the log here (default: stderr)");
  app.add_option("--data-dir", options.data_dir,
                 "with --etcd: where the bucket replicas' log store goes (default: beside the "
                 "first drive, DRIVE.data)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  tessera::Status logging = tessera::init_logging(
      {.level = options.log_level, .file_path = options.log_file, .process_name = "tessd"});
  if (!logging.ok()) {
    fmt::print(stderr, "tessd: {}\n", logging.message());
    return 2;
  }
  if (options.etcd.empty() == options.cluster_id.empty()) {
    fmt::print(stderr,
               "tessd: give either --etcd (join a cluster) or --cluster-id (drive role only)\n");
    return 2;
  }
  tessera::Member member;
  if (!options.etcd.empty() && options.data_dir.empty()) {
    if (options.drives.drive_paths.empty()) {
      fmt::print(stderr, "tessd: with --etcd, give --data-dir (or a --drive to put it beside)\n");
      return 2;
    }
    options.data_dir = options.drives.drive_paths.front() + ".data";
  }
  if (!options.etcd.empty()) {
    tessera::ControlPlaneOptions control;
    control.cluster_name = options.cluster_name;
    control.host_name = options.host_name.empty() ? options.listen : options.host_name;
    std::string ignored;
    uint16_t rpc_port = 0, http_port = 0;
    tessera::Status parsed =
        tessera::http::split_host_port(options.listen, &control.address, &rpc_port);
    if (parsed.ok()) parsed = tessera::http::split_host_port(options.http, &ignored, &http_port);
    if (!parsed.ok() || rpc_port == 0 || http_port == 0) {
      fmt::print(stderr,
                 "tessd: with --etcd, --listen and --http need fixed HOST:PORT addresses\n");
      return 2;
    }
    control.rpc_port = rpc_port;
    control.http_port = http_port;
    control.failure_domain = options.failure_domain;
    control.lease_ttl_seconds = options.lease_ttl_s;
    member.control_loop = std::make_unique<tessera::EventLoopGroup>(1);
    member.store =
        std::make_unique<tessera::EtcdConfigStore>(tessera::http::split_address_list(options.etcd));
    member.control_bridge =
        std::make_unique<tessera::BlockingBridge>(member.control_loop->loop(0), 4);
    std::random_device random;
    tessera::ControlPlaneEnv env{.executor = member.control_loop->executor(0),
                                 .clock = &tessera::RealClock::instance(),
                                 .store = member.store.get(),
                                 .seed = (uint64_t{random()} << 32) ^ random(),
                                 .unix_ms = nullptr};
    auto joined = member.control_bridge->run(tessera::ControlPlane::join(env, control));
    if (!joined.ok()) {
      fmt::print(stderr, "tessd: cannot join the cluster: {}\n", joined.status().message());
      return 1;
    }
    member.control = std::move(*joined);
  }
  boost::asio::io_context loop(1);
  boost::asio::signal_set signals(loop, SIGINT, SIGTERM);
  tessera::Status result =
      tessera::run_until_complete(loop, tessera::run(std::move(options), &member, &signals));
  if (!result.ok()) {
    TESS_LOG_ERROR("tessd: {}", result);
    fmt::print(stderr, "tessd: {}\n", result.message());
    return result.code() == tessera::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
