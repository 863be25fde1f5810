#include "cli/local_cluster.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cli/api_client.h"
#include "cli/cluster_commands.h"
#include "http/http.h"

namespace tessera::cli {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct UpArgs {
  std::string dir = kDefaultLocalDir;
  uint32_t hosts = 8;
  uint32_t data = 5;
  uint32_t parity = 2;
  int32_t hot_spare = -1;
  uint32_t buckets = 0;                      // 0: the cluster's default.
  int64_t replica_replacement_delay_s = -1;  // -1: the cluster's default.
  uint32_t etcd = 1;
  uint64_t drive_mib = 1024;
  uint32_t lease_ttl_s = 5;
  uint16_t base_port = 7400;
  bool no_create = false;
  std::string tessd;
};

// Where the tessd binary is: --tessd, $TESSD, beside tess, or in the build tree.
Result<std::string> find_tessd(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("TESSD"); env != nullptr && *env != '\0')
    return std::string(env);
  fs::path self = fs::read_symlink("/proc/self/exe").parent_path();
  for (const fs::path& candidate : {self / "tessd", self / ".." / "tessd" / "tessd"}) {
    if (fs::exists(candidate)) return fs::canonical(candidate).string();
  }
  return error(StatusCode::kNotFound, "cannot find the tessd binary (give --tessd PATH)");
}

Result<std::string> find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path == nullptr ? "/usr/bin:/bin" : path;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    if (colon == std::string::npos) colon = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, colon - start)) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = colon + 1;
  }
  return error(StatusCode::kNotFound, "cannot find {} in PATH (scripts/install-deps installs it)",
               name);
}

// Starts argv as a daemon (its own session, output to `log`); returns its PID. Double fork, so
// the daemon is no child of tess and is reaped by init when it ends.
Result<pid_t> spawn_daemon(const std::vector<std::string>& argv, const std::string& log) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return error(StatusCode::kInternal, "pipe failed");
  pid_t child = fork();
  if (child < 0) return error(StatusCode::kInternal, "fork failed");
  if (child == 0) {
    setsid();
    pid_t daemon = fork();
    if (daemon == 0) {
      int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int in = open("/dev/null", O_RDONLY);
      dup2(in, STDIN_FILENO);
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
      close(pipe_fds[0]);
      close(pipe_fds[1]);
      std::vector<char*> args;
      args.reserve(argv.size() + 1);
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    ssize_t written = write(pipe_fds[1], &daemon, sizeof(daemon));
    _exit(written == sizeof(daemon) ? 0 : 1);
  }
  close(pipe_fds[1]);
  pid_t daemon = -1;
  ssize_t got = read(pipe_fds[0], &daemon, sizeof(daemon));
  close(pipe_fds[0]);
  waitpid(child, nullptr, 0);
  if (got != sizeof(daemon) || daemon <= 0)
    return error(StatusCode::kInternal, "could not start {}", argv[0]);
  return daemon;
}

bool alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  size_t close_paren = text.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= text.size() ||
         text[close_paren + 2] != 'Z';
}

// The command line PID runs now, from /proc/PID/cmdline (NUL-separated arguments); empty if
// there is no such process or it cannot be read.
std::vector<std::string> command_line_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::string> argv;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    argv.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

// Whether `process` (a state.json entry) still runs what tess started: its PID alive with the
// recorded command line. PIDs are reused, so a PID alone may now name another program, which
// must not be signalled.
enum class Liveness { kNotRunning, kOurs, kReused };
Liveness liveness(const json& process) {
  pid_t pid = process.value("pid", -1);
  if (!alive(pid)) return Liveness::kNotRunning;
  if (!process.contains("argv") || !process["argv"].is_array()) return Liveness::kReused;
  std::vector<std::string> recorded;
  for (const json& arg : process["argv"]) {
    if (!arg.is_string()) return Liveness::kReused;
    recorded.push_back(arg.get<std::string>());
  }
  std::vector<std::string> running = command_line_of(pid);
  // The process may have ended between the two reads: then it is simply not running.
  if (running.empty()) return alive(pid) ? Liveness::kReused : Liveness::kNotRunning;
  return running == recorded ? Liveness::kOurs : Liveness::kReused;
}

// SIGTERM, up to `patience` for it to end, then SIGKILL.
void stop(pid_t pid, std::chrono::seconds patience) {
  if (!alive(pid)) return;
  kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (alive(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (alive(pid)) kill(pid, SIGKILL);
}

std::string state_path(const std::string& dir) { return dir + "/state.json"; }

Result<json> read_state(const std::string& dir) {
  std::ifstream in(state_path(dir));
  if (!in)
    return error(StatusCode::kNotFound, "no local cluster in {} (tess local up starts one)", dir);
  json state = json::parse(in, nullptr, false);
  if (state.is_discarded()) return error(StatusCode::kInternal, "{} is corrupt", state_path(dir));
  return state;
}

Status write_state(const std::string& dir, const json& state) {
  std::string temporary = state_path(dir) + ".tmp";
  {
    std::ofstream out(temporary);
    out << state.dump(2) << "\n";
    if (!out) return error(StatusCode::kIoError, "cannot write {}", temporary);
  }
  fs::rename(temporary, state_path(dir));
  return Status();
}

bool any_alive(const json& state) {
  for (const char* group : {"hosts", "etcd"}) {
    if (!state.contains(group)) continue;
    for (const json& process : state[group]) {
      if (liveness(process) == Liveness::kOurs) return true;
    }
  }
  return false;
}

template <typename Condition>
bool wait_for(Condition condition, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

Status start_etcd(const UpArgs& args, json& state) {
  TESS_ASSIGN_OR_RETURN(std::string etcd, find_in_path("etcd"));
  std::string cluster;
  for (uint32_t i = 0; i < args.etcd; ++i) {
    cluster +=
        fmt::format("{}e{}=http://127.0.0.1:{}", i == 0 ? "" : ",", i, args.base_port + 300 + i);
  }
  std::vector<std::string> endpoints;
  std::vector<uint16_t> client_ports;
  for (uint32_t i = 0; i < args.etcd; ++i) {
    uint16_t client = static_cast<uint16_t>(args.base_port + 200 + i);
    uint16_t peer = static_cast<uint16_t>(args.base_port + 300 + i);
    std::vector<std::string> argv = {etcd,
                                     "--name",
                                     fmt::format("e{}", i),
                                     "--data-dir",
                                     fmt::format("{}/etcd{}", args.dir, i),
                                     "--listen-client-urls",
                                     fmt::format("http://127.0.0.1:{}", client),
                                     "--advertise-client-urls",
                                     fmt::format("http://127.0.0.1:{}", client),
                                     "--listen-peer-urls",
                                     fmt::format("http://127.0.0.1:{}", peer),
                                     "--initial-advertise-peer-urls",
                                     fmt::format("http://127.0.0.1:{}", peer),
                                     "--initial-cluster",
                                     cluster,
                                     "--initial-cluster-token",
                                     "tessera-local",
                                     "--initial-cluster-state",
                                     "new",
                                     "--log-level",
                                     "warn"};
    TESS_ASSIGN_OR_RETURN(pid_t pid, spawn_daemon(argv, fmt::format("{}/etcd{}.log", args.dir, i)));
    state["etcd"].push_back({{"name", fmt::format("e{}", i)},
                             {"pid", pid},
                             {"client", fmt::format("127.0.0.1:{}", client)},
                             {"peer", fmt::format("127.0.0.1:{}", peer)},
                             {"argv", argv}});
    endpoints.push_back(fmt::format("127.0.0.1:{}", client));
    client_ports.push_back(client);
  }
  TESS_RETURN_IF_ERROR(write_state(args.dir, state));
  bool healthy = wait_for(
      [&client_ports] {
        for (uint16_t port : client_ports) {
          auto reply = http::call("127.0.0.1", port, http::Request{"GET", "/health", "", {}},
                                  std::chrono::seconds(1));
          if (!reply.ok() || reply->body.find("true") == std::string::npos) return false;
        }
        return true;
      },
      std::chrono::seconds(30));
  if (!healthy)
    return error(StatusCode::kUnavailable, "etcd did not become healthy; see {}/etcd*.log",
                 args.dir);
  return Status();
}

Status start_hosts(const UpArgs& args, json& state) {
  TESS_ASSIGN_OR_RETURN(std::string tessd, find_tessd(args.tessd));
  std::string etcd;
  for (const json& member : state["etcd"])
    etcd += (etcd.empty() ? "" : ",") + member["client"].get<std::string>();
  for (uint32_t i = 0; i < args.hosts; ++i) {
    std::string host_dir = fmt::format("{}/host{}", args.dir, i);
    fs::create_directories(host_dir);
    std::string rpc = fmt::format("127.0.0.1:{}", args.base_port + i);
    std::string api = fmt::format("127.0.0.1:{}", args.base_port + 100 + i);
    std::vector<std::string> argv = {tessd,
                                     "--etcd",
                                     etcd,
                                     "--name",
                                     fmt::format("host{}", i),
                                     "--failure-domain",
                                     fmt::format("fd{}", i),
                                     "--listen",
                                     rpc,
                                     "--http",
                                     api,
                                     "--drive",
                                     host_dir + "/drive0",
                                     "--create-bytes",
                                     std::to_string(args.drive_mib * 1024 * 1024),
                                     "--format",
                                     "--lease-ttl-s",
                                     std::to_string(args.lease_ttl_s),
                                     "--log-file",
                                     host_dir + "/tessd.log"};
    TESS_ASSIGN_OR_RETURN(pid_t pid, spawn_daemon(argv, host_dir + "/stderr.log"));
    state["hosts"].push_back({{"name", fmt::format("host{}", i)},
                              {"pid", pid},
                              {"rpc", rpc},
                              {"http", api},
                              {"argv", argv}});
    TESS_RETURN_IF_ERROR(write_state(args.dir, state));
  }
  return Status();
}

Status up(const UpArgs& args) {
  if (args.etcd != 1 && args.etcd != 3 && args.etcd != 5 && args.etcd != 9) {
    return error(StatusCode::kInvalidArgument, "--etcd must be 1, 3, 5 or 9, not {}", args.etcd);
  }
  if (args.hosts < 1 || args.hosts > 100) {
    return error(StatusCode::kInvalidArgument, "--hosts must be 1 to 100, not {}", args.hosts);
  }
  if (args.drive_mib < 128)
    return error(StatusCode::kInvalidArgument, "--drive-mib must be at least 128");
  if (auto existing = read_state(args.dir); existing.ok() && any_alive(*existing)) {
    return error(StatusCode::kFailedPrecondition,
                 "a local cluster is running in {} (stop it with tess local down)", args.dir);
  }
  fs::remove_all(args.dir);
  fs::create_directories(args.dir);
  json state{{"dir", args.dir}, {"etcd", json::array()}, {"hosts", json::array()}};
  fmt::print("starting {} etcd member(s) and {} tessd in {}\n", args.etcd, args.hosts, args.dir);
  TESS_RETURN_IF_ERROR(start_etcd(args, state));
  TESS_RETURN_IF_ERROR(start_hosts(args, state));
  std::vector<std::string> apis;
  for (const json& host : state["hosts"]) apis.push_back(host["http"]);
  ApiClient api(apis);
  json status;
  bool registered = wait_for(
      [&] {
        auto reply = api.call("GET", "/api/v1/status");
        if (!reply.ok()) return false;
        status = *reply;
        return status["hosts"].size() == args.hosts && !status["leader"].is_null();
      },
      std::chrono::seconds(60));
  if (!registered) {
    return error(StatusCode::kUnavailable,
                 "the hosts did not all register within 60 s; see {}/host*/tessd.log", args.dir);
  }
  if (!args.no_create) {
    json create{{"data", args.data}, {"parity", args.parity}};
    if (args.hot_spare >= 0) create["hot_spare"] = args.hot_spare;
    if (args.buckets > 0) create["buckets"] = args.buckets;
    if (args.replica_replacement_delay_s >= 0) {
      create["replica_replacement_delay_s"] = args.replica_replacement_delay_s;
    }
    TESS_RETURN_IF_ERROR(api.call("POST", "/api/v1/cluster", create).status());
    bool healthy = wait_for(
        [&] {
          auto reply = api.call("GET", "/api/v1/status");
          if (reply.ok()) status = *reply;
          return reply.ok() && status["health"] == "ok";
        },
        std::chrono::seconds(60));
    if (!healthy)
      return error(StatusCode::kUnavailable, "the cluster did not become healthy: {}",
                   status["reasons"].dump());
  }
  fmt::print("\n{:<8} {:>8}  {}\n", "PROCESS", "PID", "ADDRESSES");
  for (const json& member : state["etcd"]) {
    fmt::print("{:<8} {:>8}  client {}\n", member["name"].get<std::string>(),
               member["pid"].get<int>(), member["client"].get<std::string>());
  }
  for (const json& host : state["hosts"]) {
    fmt::print("{:<8} {:>8}  rpc {}  api http://{}\n", host["name"].get<std::string>(),
               host["pid"].get<int>(), host["rpc"].get<std::string>(),
               host["http"].get<std::string>());
  }
  fmt::print("\n");
  print_status(status);
  fmt::print(
      "\nlogs and drives: {}\nnext: tess status | tess host list | tess drive list | tess bucket "
      "list"
      "\n      tess local status | tess local down\n",
      args.dir);
  return Status();
}

Status down(const std::string& dir) {
  TESS_ASSIGN_OR_RETURN(json state, read_state(dir));
  for (const char* group : {"hosts", "etcd"}) {
    for (const json& process : state[group]) {
      pid_t pid = process.value("pid", -1);
      std::string name = process.value("name", "?");
      switch (liveness(process)) {
        case Liveness::kNotRunning:
          fmt::print("{:<8} {:>8}  was not running\n", name, pid);
          break;
        case Liveness::kReused: {
          std::vector<std::string> running = command_line_of(pid);
          fmt::print("{:<8} {:>8}  skipped: the PID now belongs to another program ({})\n", name,
                     pid, running.empty() ? "?" : running[0]);
          break;
        }
        case Liveness::kOurs:
          stop(pid, std::chrono::seconds(10));
          fmt::print("{:<8} {:>8}  stopped\n", name, pid);
          break;
      }
    }
  }
  fs::remove(state_path(dir));
  fmt::print("local cluster in {} stopped (logs and drives kept there)\n", dir);
  return Status();
}

Status local_status(const std::string& dir, bool as_json) {
  TESS_ASSIGN_OR_RETURN(json state, read_state(dir));
  for (const char* group : {"etcd", "hosts"}) {
    for (json& process : state[group]) process["running"] = liveness(process) == Liveness::kOurs;
  }
  if (as_json) {
    fmt::print("{}\n", state.dump(2));
    return Status();
  }
  fmt::print("{:<8} {:>8}  {:<8} {}\n", "PROCESS", "PID", "STATE", "ADDRESS");
  for (const json& member : state["etcd"]) {
    fmt::print("{:<8} {:>8}  {:<8} {}\n", member["name"].get<std::string>(),
               member["pid"].get<int>(), member["running"].get<bool>() ? "running" : "stopped",
               member["client"].get<std::string>());
  }
  for (const json& host : state["hosts"]) {
    fmt::print("{:<8} {:>8}  {:<8} http://{}\n", host["name"].get<std::string>(),
               host["pid"].get<int>(), host["running"].get<bool>() ? "running" : "stopped",
               host["http"].get<std::string>());
  }
  return Status();
}

}  // namespace

void add_local_commands(CLI::App& app, Status* result) {
  CLI::App* local =
      app.add_subcommand("local", "a whole cluster on this machine, for trying and testing");
  local->require_subcommand(1);
  auto args = std::make_shared<UpArgs>();
  CLI::App* up_command =
      local->add_subcommand("up", "start etcd and tessd processes and form a cluster");
  up_command->add_option("--hosts", args->hosts, "tessd processes, one failure domain each")
      ->capture_default_str();
  up_command->add_option("--data", args->data, "data columns per stripe")->capture_default_str();
  up_command->add_option("--parity", args->parity, "parity columns (2 or 4)")
      ->capture_default_str();
  up_command->add_option("--hot-spare", args->hot_spare,
                         "hot spare failure domains (default: by size)");
  up_command->add_option("--buckets", args->buckets,
                         "bucket count, a power of two, at least 16 per process (default: "
                         "enough, at least 1024)");
  up_command->add_option("--replica-replacement-delay-s", args->replica_replacement_delay_s,
                         "seconds a host may be down before its bucket replicas are replaced "
                         "(default: 30)");
  up_command->add_option("--etcd", args->etcd, "etcd members: 1, 3, 5 or 9")->capture_default_str();
  up_command->add_option("--dir", args->dir, "where drives, logs and state go (wiped)")
      ->capture_default_str();
  up_command->add_option("--drive-mib", args->drive_mib, "size of each host's drive file (sparse)")
      ->capture_default_str();
  up_command->add_option("--lease-ttl-s", args->lease_ttl_s, "etcd lease TTL of each tessd")
      ->capture_default_str();
  up_command
      ->add_option("--base-port", args->base_port,
                   "tessd i serves RPC on base+i and HTTP on base+100+i; etcd member i on "
                   "base+200+i (client) and base+300+i (peer)")
      ->capture_default_str();
  up_command->add_flag("--no-create", args->no_create,
                       "start the processes but do not form the cluster");
  up_command->add_option("--tessd", args->tessd, "the tessd binary (default: beside tess)");
  up_command->callback([args, result] { *result = up(*args); });

  auto down_dir = std::make_shared<std::string>(kDefaultLocalDir);
  CLI::App* down_command =
      local->add_subcommand("down", "stop every process tess local up started");
  down_command->add_option("--dir", *down_dir, "the local cluster's directory")
      ->capture_default_str();
  down_command->callback([down_dir, result] { *result = down(*down_dir); });

  struct StatusArgs {
    std::string dir = kDefaultLocalDir;
    bool json = false;
  };
  auto status_args = std::make_shared<StatusArgs>();
  CLI::App* status_command = local->add_subcommand("status", "the local cluster's processes");
  status_command->add_option("--dir", status_args->dir, "the local cluster's directory")
      ->capture_default_str();
  status_command->add_flag("--json", status_args->json, "print the state as JSON");
  status_command->callback(
      [status_args, result] { *result = local_status(status_args->dir, status_args->json); });
}

}  // namespace tessera::cli
