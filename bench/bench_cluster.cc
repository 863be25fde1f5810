#include "bench/bench_cluster.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace tessera::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<std::string> command_line_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::string> argv;
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(text.find('\0', start), text.size());
    argv.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

}  // namespace

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

double percentile(std::vector<float>& values, double p) {
  if (values.empty()) return 0;
  size_t at =
      std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())));
  std::nth_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(at), values.end());
  return values[at];
}

// --flag, else beside this binary (bench/ is a sibling of src/ in the build tree), else $PATH.
Result<std::string> find_binary(const std::string& flag, const std::string& name,
                                const std::string& build_path) {
  if (!flag.empty()) {
    if (access(flag.c_str(), X_OK) != 0)
      return error(StatusCode::kNotFound, "{} is not an executable", flag);
    return flag;
  }
  std::error_code ignored;
  fs::path self = fs::read_symlink("/proc/self/exe", ignored).parent_path();
  for (const fs::path& candidate : {self / name, self / ".." / build_path}) {
    if (access(candidate.c_str(), X_OK) == 0) return fs::canonical(candidate, ignored).string();
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path == nullptr ? "" : path;
  for (size_t start = 0; start <= dirs.size();) {
    size_t colon = std::min(dirs.find(':', start), dirs.size());
    fs::path candidate = fs::path(dirs.substr(start, colon - start)) / name;
    if (colon > start && access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = colon + 1;
  }
  return error(StatusCode::kNotFound, "cannot find {} (give --{} PATH)", name, name);
}

// Runs argv with its output appended to `log`; its exit code, or kDeadlineExceeded (the child
// killed, by its PID) when it takes longer than `timeout`.
Result<int> run_command(const std::vector<std::string>& argv, const std::string& log,
                        seconds timeout) {
  pid_t child = fork();
  if (child < 0) return error(StatusCode::kInternal, "fork failed");
  if (child == 0) {
    // If the benchmark dies, so does the command (then the watchdog stops what it started).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int in = open("/dev/null", O_RDONLY);
    if (out >= 0) {
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
    }
    if (in >= 0) dup2(in, STDIN_FILENO);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  auto deadline = SteadyClock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (SteadyClock::now() >= deadline) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      return error(StatusCode::kDeadlineExceeded, "{} took over {} s (see {})", argv[0],
                   timeout.count(), log);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

Result<RunSetup> prepare_run(const std::string& bench, const std::string& tess_flag,
                             const std::string& tessd_flag, const std::string& dir_flag) {
  RunSetup setup;
  TESS_ASSIGN_OR_RETURN(setup.tess, find_binary(tess_flag, "tess", "src/cli/tess"));
  TESS_ASSIGN_OR_RETURN(setup.tessd, find_binary(tessd_flag, "tessd", "src/tessd/tessd"));
  setup.own_dir = dir_flag.empty();
  if (!setup.own_dir) {
    setup.dir = dir_flag;
    std::error_code failed;
    fs::create_directories(setup.dir, failed);
    if (failed)
      return error(StatusCode::kIoError, "cannot make {}: {}", setup.dir, failed.message());
    return setup;
  }
  std::string pattern =
      (fs::temp_directory_path() / fmt::format("tess-{}-bench-XXXXXX", bench)).string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return error(StatusCode::kIoError, "cannot make a directory like {}", pattern);
  }
  setup.dir = pattern;
  return setup;
}

void finish_run(const RunSetup& setup) {
  if (!setup.own_dir) return;
  std::error_code ignored;
  fs::remove_all(setup.dir, ignored);
}

std::string tail_of(const std::string& path, size_t bytes) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

Watchdog::Watchdog(const std::string& tess, const std::vector<std::string>& cluster_dirs,
                   const std::string& remove_dir) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    close(fds[1]);
    // Ctrl-C reaches the whole process group: the watchdog outlives it to clean up.
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    char byte = 0;
    ssize_t got = 0;
    do {
      got = read(fds[0], &byte, 1);
    } while (got < 0 && errno == EINTR);
    if (got == 1) _exit(0);  // The benchmark cleaned up itself.
    for (const std::string& dir : cluster_dirs) {
      if (!fs::exists(dir + "/state.json")) continue;
      (void)run_command({tess, "local", "down", "--dir", dir}, dir + "/down.log", seconds(180));
    }
    std::error_code ignored;
    if (!remove_dir.empty()) fs::remove_all(remove_dir, ignored);
    _exit(0);
  }
  close(fds[0]);
  write_end_ = fds[1];
}

void Watchdog::done() {
  if (write_end_ < 0) return;
  char byte = 1;
  (void)!write(write_end_, &byte, 1);
  close(write_end_);
  write_end_ = -1;
  waitpid(pid_, nullptr, 0);
}

LocalCluster::LocalCluster(std::string tess, std::string tessd, std::string dir, uint16_t base_port)
    : tess_(std::move(tess)),
      tessd_(std::move(tessd)),
      dir_(std::move(dir)),
      base_port_(base_port) {}

LocalCluster::~LocalCluster() { (void)down(); }

Status LocalCluster::up(uint32_t buckets) {
  fs::create_directories(dir_);
  std::string log = dir_ + ".up.log";
  std::vector<std::string> argv = {tess_,
                                   "local",
                                   "up",
                                   "--dir",
                                   dir_,
                                   "--base-port",
                                   std::to_string(base_port_),
                                   "--hosts",
                                   std::to_string(kClusterHosts),
                                   "--data",
                                   "5",
                                   "--parity",
                                   "2",
                                   "--buckets",
                                   std::to_string(buckets),
                                   "--drive-mib",
                                   "256",
                                   "--tessd",
                                   tessd_};
  started_ = true;
  TESS_ASSIGN_OR_RETURN(int code, run_command(argv, log, seconds(300)));
  if (code != 0) {
    return error(StatusCode::kUnavailable, "tess local up exited {}:\n{}", code, tail_of(log));
  }
  std::ifstream in(dir_ + "/state.json");
  state_ = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (state_.is_discarded() || !state_.contains("hosts") || !state_["hosts"].is_array() ||
      state_["hosts"].empty()) {
    return error(StatusCode::kInternal, "{}/state.json is not what tess local up writes", dir_);
  }
  return Status();
}

Status LocalCluster::down() {
  if (!started_) return Status();
  started_ = false;
  if (!fs::exists(dir_ + "/state.json")) return Status();
  TESS_ASSIGN_OR_RETURN(int code, run_command({tess_, "local", "down", "--dir", dir_},
                                              dir_ + ".down.log", seconds(180)));
  if (code != 0) return error(StatusCode::kInternal, "tess local down exited {}", code);
  return Status();
}

Result<std::pair<int, std::string>> LocalCluster::tess(std::vector<std::string> args) const {
  std::string log = dir_ + ".tess.log";
  std::error_code ignored;
  fs::remove(log, ignored);
  args.insert(args.begin(), tess_);
  args.push_back("--api");
  args.push_back(api().front());
  TESS_ASSIGN_OR_RETURN(int code, run_command(args, log, seconds(120)));
  std::ifstream in(log);
  return std::pair<int, std::string>(code, std::string((std::istreambuf_iterator<char>(in)), {}));
}

std::vector<std::string> LocalCluster::api() const {
  std::vector<std::string> out;
  for (const json& host : state_["hosts"]) out.push_back(host.value("http", ""));
  return out;
}

std::vector<pid_t> LocalCluster::tessd_pids() const {
  std::vector<pid_t> out;
  for (const json& host : state_["hosts"]) {
    pid_t pid = host.value("pid", -1);
    if (pid > 0 && command_line_of(pid) == host.value("argv", std::vector<std::string>{}))
      out.push_back(pid);
  }
  return out;
}

Status LocalCluster::kill_host(const std::string& rpc) {
  for (const json& host : state_["hosts"]) {
    if (host.value("rpc", "") != rpc) continue;
    pid_t pid = host.value("pid", -1);
    if (pid <= 0 || command_line_of(pid) != host.value("argv", std::vector<std::string>{}))
      return error(StatusCode::kFailedPrecondition, "the tessd on {} is not running", rpc);
    kill(pid, SIGKILL);
    return Status();
  }
  return error(StatusCode::kNotFound, "no tessd of the cluster serves {}", rpc);
}

double cpu_seconds(const std::vector<pid_t>& pids) {
  double ticks = 0;
  for (pid_t pid : pids) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    size_t paren = text.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(text.substr(paren + 2));
    std::string field;
    // After the command: state (3), ..., utime (14), stime (15).
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14 || i == 15) ticks += std::strtod(field.c_str(), nullptr);
    }
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace tessera::bench
