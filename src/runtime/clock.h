// Clock: where Tessera code reads the time and sleeps. Components take a Clock& so that tests and
// simulations can run them against a FakeClock that advances only when told to.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>

#include "base/status.h"
#include "runtime/task.h"

namespace tessera {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // A monotonic time, comparable only with other readings of the same clock.
  virtual TimePoint now() const = 0;
  // Suspends the calling task until now() >= deadline. Returns OK then, or kCancelled if the task
  // was cancelled first. Runs on the executor of the calling task.
  virtual Task<Status> sleep_until(TimePoint deadline) = 0;
  Task<Status> sleep_for(Duration duration);
};

// The machine's steady clock. Thread-safe; one instance may serve every loop.
class RealClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  Task<Status> sleep_until(TimePoint deadline) override;
  // A process-wide instance.
  static RealClock& instance();
};

// A clock that moves only when advance() is called; sleepers whose time has come wake then, in
// deadline order. Lives on one executor: every call, including advance(), must be made from it.
class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  Task<Status> sleep_until(TimePoint deadline) override;
  void advance(Duration duration);
  size_t sleeper_count() const { return sleepers_.size(); }

 private:
  TimePoint now_{std::chrono::hours(1)};
  std::multimap<TimePoint, boost::asio::steady_timer*> sleepers_;
};

}  // namespace tessera
