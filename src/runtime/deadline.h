// Deadline: the point in time by which an operation must finish. Every RPC and every wait on
// another component carries one; they are passed down unchanged, never extended, so that a caller's
// time budget bounds everything done on its behalf.
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

  explicit Deadline(TimePoint at) : at_(at) {}
  static Deadline never() { return Deadline(TimePoint::max()); }
  // now() + timeout on the clock the deadline will be checked against.
  static Deadline after(Clock::Duration timeout, const Clock& clock = RealClock::instance()) {
    return Deadline(clock.now() + timeout);
  }

  TimePoint at() const { return at_; }
  bool is_never() const { return at_ == TimePoint::max(); }
  bool expired(const Clock& clock = RealClock::instance()) const { return clock.now() >= at_; }
  // Zero once expired.
  Clock::Duration remaining(const Clock& clock = RealClock::instance()) const {
    auto now = clock.now();
    return now >= at_ ? Clock::Duration::zero() : at_ - now;
  }
  // The remaining time in whole milliseconds, for the wire (0 = already expired, capped).
  uint32_t remaining_ms(const Clock& clock = RealClock::instance()) const;

  auto operator<=>(const Deadline&) const = default;

 private:
  TimePoint at_;
};

// Runs `task` until it finishes or `deadline` passes on `clock`, whichever comes first. When the
// deadline wins, the task is cancelled (its pending Asio operation completes with
// operation_aborted) and awaited, and the result is kDeadlineExceeded.
template <typename T>
Task<Result<T>> with_deadline(Task<Result<T>> task, Deadline deadline,
                              Clock& clock = RealClock::instance()) {
  using namespace boost::asio::experimental::awaitable_operators;
  if (deadline.is_never()) co_return co_await std::move(task);
  std::variant<Result<T>, Status> outcome =
      co_await (std::move(task) || clock.sleep_until(deadline.at()));
  if (outcome.index() == 0) co_return std::move(std::get<0>(outcome));
  co_return Status(StatusCode::kDeadlineExceeded, "deadline exceeded");
}

inline Task<Status> with_deadline(Task<Status> task, Deadline deadline,
                                  Clock& clock = RealClock::instance()) {
  using namespace boost::asio::experimental::awaitable_operators;
  if (deadline.is_never()) co_return co_await std::move(task);
  std::variant<Status, Status> outcome =
      co_await (std::move(task) || clock.sleep_until(deadline.at()));
  if (outcome.index() == 0) co_return std::get<0>(outcome);
  co_return Status(StatusCode::kDeadlineExceeded, "deadline exceeded");
}

}  // namespace tessera
