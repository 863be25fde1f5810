#include "runtime/clock.h"

namespace tessera {

Task<Status> Clock::sleep_for(Duration duration) { return sleep_until(now() + duration); }

RealClock& RealClock::instance() {
  static RealClock clock;
  return clock;
}

Task<Status> RealClock::sleep_until(TimePoint deadline) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, deadline);
  auto [error] = co_await timer.async_wait(use_task);
  if (error) co_return Status(StatusCode::kCancelled, "sleep cancelled");
  co_return Status();
}

Task<Status> FakeClock::sleep_until(TimePoint deadline) {
  if (deadline <= now_) co_return Status();
  // The timer never expires by itself: advance() cancels it when the fake time has come.
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                  boost::asio::steady_timer::time_point::max());
  auto position = sleepers_.emplace(deadline, &timer);
  co_await timer.async_wait(use_task);
  if (now_ >= deadline) co_return Status();  // advance() already removed us.
  sleepers_.erase(position);
  co_return Status(StatusCode::kCancelled, "sleep cancelled");
}

void FakeClock::advance(Duration duration) {
  TESS_ASSERT(duration.count() >= 0, "a clock cannot go backwards");
  now_ += duration;
  while (!sleepers_.empty() && sleepers_.begin()->first <= now_) {
    sleepers_.begin()->second->cancel();
    sleepers_.erase(sleepers_.begin());
  }
}

}  // namespace tessera
