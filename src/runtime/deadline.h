// Deadline: the point in time by which an operation must finish, on a named clock. Every RPC and
// every wait on another component carries one; they are passed down unchanged, never extended, so
// that a caller's time budget bounds everything done on its behalf.
//
// A deadline knows the clock it was made from and answers expired() / remaining() on that clock,
// so code handed a deadline needs no clock of its own to honour it, and a simulation's deadlines
// follow simulated time. Deadline::never() has no clock.
#pragma once

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <variant>

#include "base/status.h"
#include "runtime/clock.h"
#include "runtime/task.h"

namespace tessera {

class Deadline {
 public:
  using TimePoint = Clock::TimePoint;

  Deadline(const Clock& clock, TimePoint at) : clock_(&clock), at_(at) {}
  static Deadline never() { return Deadline(); }
  // now() + timeout on `clock` (saturating: a huge timeout is never()).
  static Deadline after(Clock::Duration timeout, const Clock& clock) {
    TimePoint at = clock.after(timeout);
    return at == TimePoint::max() ? never() : Deadline(clock, at);
  }

  TimePoint at() const { return at_; }
  // REQUIRES: !is_never().
  const Clock& clock() const;
  bool is_never() const { return clock_ == nullptr; }
  bool expired() const { return !is_never() && clock_->now() >= at_; }
  // Zero once expired; Duration::max() for never().
  Clock::Duration remaining() const;
  // The remaining time in whole milliseconds, for the wire (0 = already expired, capped).
  uint32_t remaining_ms() const;
  // The earlier of this and now() + timeout on this deadline's clock; `clock` is used when this
  // is never(). For inner budgets (a connect attempt within a call).
  Deadline capped(Clock::Duration timeout, const Clock& clock) const;

  // Waits on `timer` (see Clock::wait) until this deadline, a signal or cancellation.
  Task<void> wait(boost::asio::steady_timer& timer) const;

  // Deadlines compare by time. REQUIRES: both on the same clock, or one of them never().
  friend bool operator<(const Deadline& a, const Deadline& b);
  friend bool operator==(const Deadline& a, const Deadline& b) {
    return a.clock_ == b.clock_ && a.at_ == b.at_;
  }

 private:
  Deadline() : clock_(nullptr), at_(TimePoint::max()) {}
  const Clock* clock_;
  TimePoint at_;
};

// Runs `task` until it finishes or `deadline` passes, whichever comes first. When the deadline
// wins, the task is cancelled (its pending Asio operation completes with operation_aborted) and
// awaited, and the result is kDeadlineExceeded.
template <typename T>
Task<Result<T>> with_deadline(Task<Result<T>> task, Deadline deadline) {
  using namespace boost::asio::experimental::awaitable_operators;
  if (deadline.is_never()) co_return co_await std::move(task);
  std::variant<Result<T>, Status> outcome =
      co_await (std::move(task) || deadline.clock().sleep_until(deadline.at()));
  if (outcome.index() == 0) co_return std::move(std::get<0>(outcome));
  co_return Status(StatusCode::kDeadlineExceeded, "deadline exceeded");
}

inline Task<Status> with_deadline(Task<Status> task, Deadline deadline) {
  using namespace boost::asio::experimental::awaitable_operators;
  if (deadline.is_never()) co_return co_await std::move(task);
  std::variant<Status, Status> outcome =
      co_await (std::move(task) || deadline.clock().sleep_until(deadline.at()));
  if (outcome.index() == 0) co_return std::get<0>(outcome);
  co_return Status(StatusCode::kDeadlineExceeded, "deadline exceeded");
}

}  // namespace tessera
