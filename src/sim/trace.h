// Trace: the last lines of what a simulation did (faults injected, workload steps, state changes),
// stamped with simulated time. A failing seed prints it, so the failure can be read before it is
// replayed under a debugger. Bounded: it keeps the newest `capacity` lines.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <deque>
#include <string>

#include "runtime/clock.h"

namespace tessera::sim {

class Trace {
 public:
  Trace(const Clock& clock, size_t capacity) : clock_(clock), capacity_(capacity) {}

  template <typename... Args>
  void add(fmt::format_string<Args...> format, Args&&... args) {
    add_line(fmt::format(format, std::forward<Args>(args)...));
  }
  void add_line(std::string line);

  // The newest `count` lines, oldest first, one per line.
  std::string tail(size_t count) const;
  uint64_t total_lines() const { return total_lines_; }

 private:
  const Clock& clock_;
  Clock::TimePoint start_ = clock_.now();
  size_t capacity_;
  std::deque<std::string> lines_;
  uint64_t total_lines_ = 0;
};

}  // namespace tessera::sim
