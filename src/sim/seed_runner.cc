#include "sim/seed_runner.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/assert.h"

namespace tessera::sim {

namespace {

struct Child {
  uint64_t seed = 0;
  pid_t pid = -1;
  int output_fd = -1;
  std::string output;
  std::chrono::steady_clock::time_point started;
  bool killed_for_time = false;
};

Child start_child(uint64_t seed, const std::function<int(uint64_t)>& body) {
  int fds[2];
  TESS_ASSERT(pipe(fds) == 0, "pipe: {}", std::strerror(errno));
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  TESS_ASSERT(pid >= 0, "fork: {}", std::strerror(errno));
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    int code = body(seed);
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(code);  // No destructors: the simulation's leftovers are abandoned with the process.
  }
  close(fds[1]);
  return Child{seed, pid, fds[0], {}, std::chrono::steady_clock::now(), false};
}

// Reads what is available; false at end of output.
bool drain(Child& child) {
  char buffer[65536];
  ssize_t bytes = read(child.output_fd, buffer, sizeof(buffer));
  if (bytes > 0) {
    child.output.append(buffer, static_cast<size_t>(bytes));
    return true;
  }
  if (bytes < 0 && errno == EINTR) return true;
  return false;
}

SeedResult finish(Child& child) {
  close(child.output_fd);
  int status = 0;
  while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  SeedResult result;
  result.seed = child.seed;
  result.output = std::move(child.output);
  result.real_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - child.started).count();
  if (child.killed_for_time) {
    result.why = "exceeded the real-time limit and was killed";
  } else if (WIFEXITED(status)) {
    result.passed = WEXITSTATUS(status) == 0;
    if (!result.passed) result.why = fmt::format("exit code {}", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    result.why =
        fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  }
  return result;
}

}  // namespace

void run_seeds(const std::vector<uint64_t>& seeds, const SeedRunnerOptions& options,
               const std::function<int(uint64_t)>& body,
               const std::function<void(const SeedResult&)>& on_result) {
  TESS_ASSERT(options.jobs > 0, "at least one job");
  std::vector<Child> running;
  size_t next = 0;
  while (next < seeds.size() || !running.empty()) {
    while (next < seeds.size() && running.size() < options.jobs) {
      running.push_back(start_child(seeds[next++], body));
    }
    std::vector<pollfd> fds;
    fds.reserve(running.size());
    for (const Child& child : running) fds.push_back(pollfd{child.output_fd, POLLIN, 0});
    (void)poll(fds.data(), fds.size(), 200);
    for (size_t i = running.size(); i-- > 0;) {
      Child& child = running[i];
      bool open = true;
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) open = drain(child);
      if (open && !child.killed_for_time &&
          std::chrono::steady_clock::now() - child.started > options.timeout_per_seed) {
        kill(child.pid, SIGKILL);  // Our own child, by its PID.
        child.killed_for_time = true;
      }
      if (!open) {
        on_result(finish(child));
        running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
  }
}

}  // namespace tessera::sim
