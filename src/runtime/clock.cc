#include "runtime/clock.h"

namespace tessera {

uint64_t system_unix_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

Task<Status> Clock::sleep_until(TimePoint deadline) const {
  if (deadline <= now()) co_return Status();
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  co_await wait(timer, deadline);
  if (now() >= deadline) co_return Status();
  co_return Status(StatusCode::kCancelled, "sleep cancelled");
}

Task<Status> Clock::sleep_for(Duration duration) const { return sleep_until(after(duration)); }

Clock::TimePoint Clock::after(Duration duration) const {
  TimePoint start = now();
  if (duration <= Duration::zero()) return start;
  if (duration >= TimePoint::max() - start) return TimePoint::max();
  return start + duration;
}

RealClock& RealClock::instance() {
  static RealClock clock;
  return clock;
}

Task<void> RealClock::wait(boost::asio::steady_timer& timer, TimePoint deadline) const {
  timer.expires_at(deadline);
  (void)co_await timer.async_wait(use_task);
}

Task<void> FakeClock::wait(boost::asio::steady_timer& timer, TimePoint deadline) const {
  // The timer never expires by itself: advance() cancels it when the fake time has come.
  timer.expires_at(TimePoint::max());
  if (deadline == TimePoint::max()) {
    (void)co_await timer.async_wait(use_task);
    co_return;
  }
  if (deadline <= now_) co_return;
  auto position = sleepers_.emplace(deadline, &timer);
  (void)co_await timer.async_wait(use_task);
  // Woken by a signal or cancellation before our time: we are still registered (advance()
  // removes exactly the entries whose time has come, and now_ never goes back).
  if (now_ < deadline) sleepers_.erase(position);
}

void FakeClock::advance(Duration duration) {
  TESS_ASSERT(duration.count() >= 0, "a clock cannot go backwards");
  now_ += duration;
  while (!sleepers_.empty() && sleepers_.begin()->first <= now_) {
    sleepers_.begin()->second->cancel();
    sleepers_.erase(sleepers_.begin());
  }
}

bool FakeClock::advance_to_next() {
  if (sleepers_.empty()) return false;
  advance(sleepers_.begin()->first - now_);
  return true;
}

Clock::TimePoint FakeClock::next_deadline() const {
  return sleepers_.empty() ? TimePoint::max() : sleepers_.begin()->first;
}

}  // namespace tessera
