// What the cluster benchmarks share: finding the binaries, running commands with a time limit,
// a local 8-host 5+2 cluster started and stopped through `tess local up/down`, a watchdog that
// stops it if the benchmark dies, and small measuring helpers.
//
// Processes are stopped by PID only: `tess local down --dir` checks that each recorded PID still
// runs its recorded command line, and kill_host does the same before its kill -9.
#pragma once

#include <sys/types.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/task.h"

namespace tessera::bench {

using SteadyClock = std::chrono::steady_clock;

inline constexpr uint32_t kClusterHosts = 8;  // Every cluster benchmark runs 8 hosts, 5+2.

double seconds_since(SteadyClock::time_point start);

// The p-quantile (0..1) of `values` (reordered); 0 when empty.
double percentile(std::vector<float>& values, double p);

// Runs `task` on `executor` and waits for its result (from a thread that is not the executor's).
template <typename T>
T on(const Executor& executor, Task<T> task) {
  return boost::asio::co_spawn(executor, std::move(task), boost::asio::use_future).get();
}

// --flag, else beside this binary (bench/ is a sibling of src/ in the build tree: `build_path`
// relative to it), else $PATH. kNotFound says which flag to give.
Result<std::string> find_binary(const std::string& flag, const std::string& name,
                                const std::string& build_path);

// Runs argv with its output appended to `log`; its exit code, or kDeadlineExceeded (the child
// killed, by its PID) when it takes longer than `timeout`.
Result<int> run_command(const std::vector<std::string>& argv, const std::string& log,
                        std::chrono::seconds timeout);

// What a cluster benchmark runs with: the binaries and its directory.
struct RunSetup {
  std::string tess, tessd;
  std::string dir;
  bool own_dir = false;  // A temp dir made for the run, removed at its end.
};

// Finds tess and tessd (the flags, else beside this binary) and makes the run's directory (the
// flag, else a new temp dir named after `bench`). kNotFound / kIoError say which and why.
Result<RunSetup> prepare_run(const std::string& bench, const std::string& tess_flag,
                             const std::string& tessd_flag, const std::string& dir_flag);
// Removes the run's directory if the run made it.
void finish_run(const RunSetup& setup);

// The last `bytes` of a file, for error messages.
std::string tail_of(const std::string& path, size_t bytes = 2000);

// The watchdog: a child forked before any thread exists that waits on a pipe. If the benchmark
// ends without calling done() (a crash, a signal, the budget's alarm), it runs `tess local down`
// on every cluster directory and removes `remove_dir` (if not empty).
class Watchdog {
 public:
  Watchdog(const std::string& tess, const std::vector<std::string>& cluster_dirs,
           const std::string& remove_dir);
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  // The benchmark stopped everything itself: the watchdog ends without doing anything.
  void done();

 private:
  pid_t pid_ = -1;
  int write_end_ = -1;
};

// An 8-host 5+2 cluster started by `tess local up` in `dir`; the destructor stops it.
class LocalCluster {
 public:
  LocalCluster(std::string tess, std::string tessd, std::string dir, uint16_t base_port);
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // kUnavailable with the tail of its log if `tess local up` fails.
  Status up(uint32_t buckets);
  Status down();
  // Runs `tess ARGS --api HOST:PORT` against the first host; its exit code and stdout.
  Result<std::pair<int, std::string>> tess(std::vector<std::string> args) const;

  // Each host's REST API (HOST:PORT).
  std::vector<std::string> api() const;
  // PIDs of the tessd processes still running what was recorded.
  std::vector<pid_t> tessd_pids() const;
  // kill -9 of the tessd serving RPC on `rpc` (HOST:PORT), if it runs what was recorded.
  Status kill_host(const std::string& rpc);
  const std::string& dir() const { return dir_; }

 private:
  std::string tess_, tessd_, dir_;
  uint16_t base_port_;
  bool started_ = false;
  nlohmann::json state_;
};

// utime + stime of `pids` in seconds (those that ended count nothing).
double cpu_seconds(const std::vector<pid_t>& pids);

}  // namespace tessera::bench
