// tessd: the Tessera server. Today it serves the drive role: its local drives as chunk stores over
// RPC. Run `tessd --help` for the options.
#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <fstream>

#include "base/log.h"
#include "rpc/server.h"
#include "tessd/drive_host.h"

namespace tessera {
namespace {

struct TessdOptions {
  std::string listen = "127.0.0.1:7400";
  std::string cluster_id;
  std::string port_file;
  std::string log_level = "info";
  std::string log_file;
  uint64_t scrub_mib_per_s = 64;
  uint64_t scrub_interval_s = 3600;
  size_t max_in_flight_per_drive = 64;
  DriveHostOptions drives;
};

Status split_address(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  unsigned long value = 0;
  if (colon != std::string::npos) {
    try {
      value = std::stoul(text.substr(colon + 1));
    } catch (const std::exception&) {
      colon = std::string::npos;
    }
  }
  if (colon == std::string::npos || colon == 0 || value > 65535) {
    return error(StatusCode::kInvalidArgument, "--listen {}: expected HOST:PORT", text);
  }
  *host = text.substr(0, colon);
  *port = static_cast<uint16_t>(value);
  return Status();
}

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

Task<Status> run(TessdOptions options, boost::asio::signal_set* signals) {
  Executor executor = co_await boost::asio::this_coro::executor;
  rpc::ServerOptions server_options;
  TESS_CO_RETURN_IF_ERROR(
      split_address(options.listen, &server_options.address, &server_options.port));
  TESS_CO_ASSIGN_OR_RETURN(options.drives.cluster_id, parse_cluster_uuid(options.cluster_id));
  options.drives.scrub.bytes_per_second = options.scrub_mib_per_s * kMiB;
  options.drives.scrub.pass_interval = std::chrono::seconds(options.scrub_interval_s);

  DriveService service(
      DriveServiceOptions{.max_in_flight_per_drive = options.max_in_flight_per_drive});
  TESS_CO_ASSIGN_OR_RETURN(std::unique_ptr<DriveHost> drives,
                           co_await DriveHost::open(executor, options.drives, &service));
  rpc::RpcServer server(executor, server_options);
  service.register_with(server);
  Status started = server.start();
  if (started.ok() && !options.port_file.empty()) {
    started = write_port_file(options.port_file, server.port());
  }
  if (started.ok()) {
    TESS_LOG_INFO("tessd serving {} drive(s) on {}:{}", drives->drive_count(),
                  server_options.address, server.port());
    auto [ec, signal] = co_await signals->async_wait(use_task);
    TESS_LOG_INFO("tessd: signal {}, shutting down", signal);
  }
  co_await server.shutdown(Deadline::after(std::chrono::seconds(5)));
  co_await drives->close();
  co_return started;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  using tessera::TessdOptions;
  TessdOptions options;
  CLI::App app("tessd: the Tessera server (today: the drive role)", "tessd");
  app.add_option("--listen", options.listen, "HOST:PORT to serve RPC on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--cluster-id", options.cluster_id,
                 "the cluster's id (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx); drives of other "
                 "clusters are refused")
      ->required();
  app.add_option("--drive", options.drives.drive_paths, "a drive: file or block device (repeat)")
      ->required();
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
  boost::asio::io_context loop(1);
  boost::asio::signal_set signals(loop, SIGINT, SIGTERM);
  tessera::Status result =
      tessera::run_until_complete(loop, tessera::run(std::move(options), &signals));
  if (!result.ok()) {
    TESS_LOG_ERROR("tessd: {}", result);
    fmt::print(stderr, "tessd: {}\n", result.message());
    return result.code() == tessera::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
