// Clock: where Tessera code reads the time and waits. Components take a Clock& so that tests and
// the simulator (src/sim) can run them against a FakeClock that advances only when told to. No
// code outside src/runtime reads the steady clock or arms a timer with a time of its own: every
// wait goes through Clock::wait (directly, or through sleep_until, Deadline and with_deadline).
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

  // The one waiting primitive. Suspends the calling task until the first of: now() >= deadline;
  // another task of the same executor calls timer.cancel() (a signal); the calling task is
  // cancelled. The caller tells which from its own state (the signaller sets a flag before it
  // cancels) and from now(). `timer` belongs to the calling task's executor, and nobody else waits
  // on it meanwhile; its expiry is overwritten. deadline == TimePoint::max() waits for a signal or
  // cancellation only.
  virtual Task<void> wait(boost::asio::steady_timer& timer, TimePoint deadline) const = 0;

  // Suspends until now() >= deadline: OK then, or kCancelled if the task was cancelled first.
  Task<Status> sleep_until(TimePoint deadline) const;
  Task<Status> sleep_for(Duration duration) const;

  // now() + duration, saturating instead of overflowing (a "forever" timeout stays forever).
  TimePoint after(Duration duration) const;
};

// The wall clock: milliseconds since the Unix epoch (log times, stored times). Thread-safe; it may
// step backwards when the system's time is set.
uint64_t system_unix_ms();

// The machine's steady clock. Thread-safe; one instance may serve every loop.
class RealClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  Task<void> wait(boost::asio::steady_timer& timer, TimePoint deadline) const override;
  // A process-wide instance.
  static RealClock& instance();
};

// A clock that moves only when advance() is called; waiters whose time has come wake then, in
// deadline order (ties in the order they started waiting), so a run on a FakeClock is repeatable.
// Lives on one executor: every call, including advance(), must be made from it.
class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  Task<void> wait(boost::asio::steady_timer& timer, TimePoint deadline) const override;
  void advance(Duration duration);
  // Moves to the earliest waiter's deadline and wakes it (and any with the same deadline). False
  // if nobody waits with a deadline. The simulator's way of letting time pass.
  bool advance_to_next();
  size_t sleeper_count() const { return sleepers_.size(); }
  // The earliest waiter's deadline, or TimePoint::max() if none.
  TimePoint next_deadline() const;

 private:
  TimePoint now_{std::chrono::hours(1)};
  // Invariant: every key is > now_ (advance() wakes and removes the others).
  // Mutable: waiting does not change the time a clock shows.
  mutable std::multimap<TimePoint, boost::asio::steady_timer*> sleepers_;
};

}  // namespace tessera
