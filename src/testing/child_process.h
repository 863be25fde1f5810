// ChildProcess: a real process started by a test (tessd, etcd), stopped by its PID, never by name.
// The destructor kills (SIGKILL) and reaps a child that is still running, so a failing test leaves
// nothing behind.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/status.h"

namespace tessera::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  // Starts argv[0] (a path) with its output appended to `log_path`. kInternal if fork/exec fail.
  static Result<ChildProcess> start(const std::vector<std::string>& argv,
                                    const std::string& log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Sends `signal` to the child's PID.
  void signal(int signal) const;
  // Waits for the child to exit: its exit code, or 128 + the signal that killed it.
  int wait();
  // SIGKILL, then wait.
  int kill();

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
};

}  // namespace tessera::testing
