#include "runtime/deadline.h"

#include <limits>

namespace tessera {

const Clock& Deadline::clock() const {
  TESS_ASSERT(clock_ != nullptr, "Deadline::never() has no clock");
  return *clock_;
}

Clock::Duration Deadline::remaining() const {
  if (is_never()) return Clock::Duration::max();
  auto now = clock_->now();
  return now >= at_ ? Clock::Duration::zero() : at_ - now;
}

uint32_t Deadline::remaining_ms() const {
  constexpr auto kMax = std::numeric_limits<uint32_t>::max();
  if (is_never()) return kMax;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(remaining()).count();
  return ms >= static_cast<int64_t>(kMax) ? kMax : static_cast<uint32_t>(ms);
}

Deadline Deadline::capped(Clock::Duration timeout, const Clock& clock) const {
  if (is_never()) return after(timeout, clock);
  return std::min(*this, after(timeout, *clock_));
}

Task<void> Deadline::wait(boost::asio::steady_timer& timer) const {
  if (is_never()) {
    timer.expires_at(TimePoint::max());
    (void)co_await timer.async_wait(use_task);
    co_return;
  }
  co_await clock_->wait(timer, at_);
}

bool operator<(const Deadline& a, const Deadline& b) {
  TESS_ASSERT(a.clock_ == b.clock_ || a.is_never() || b.is_never(),
              "comparing deadlines of different clocks");
  return a.at_ < b.at_;
}

}  // namespace tessera
