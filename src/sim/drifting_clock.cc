#include "sim/drifting_clock.h"

#include "base/assert.h"
#include "sim/random.h"

namespace tessera::sim {

namespace {
using Nanos = std::chrono::nanoseconds;
constexpr uint64_t kMillion = 1'000'000;
}  // namespace

DriftingClock::DriftingClock(const FakeClock& base, uint64_t rate_ppm)
    : base_(base), rate_ppm_(rate_ppm), base_origin_(base.now()), local_origin_(base.now()) {
  TESS_ASSERT(rate_ppm >= 500'000 && rate_ppm <= 2'000'000, "clock rate {} ppm out of range",
              rate_ppm);
}

Clock::TimePoint DriftingClock::now() const {
  auto base_elapsed = static_cast<Uint128>(Nanos(base_.now() - base_origin_).count());
  auto local_elapsed = static_cast<int64_t>(base_elapsed * rate_ppm_ / kMillion);
  return local_origin_ + std::chrono::duration_cast<Duration>(Nanos(local_elapsed));
}

Clock::TimePoint DriftingClock::to_base(TimePoint local) const {
  if (local == TimePoint::max()) return TimePoint::max();
  if (local <= local_origin_) return base_origin_;
  auto local_elapsed = static_cast<Uint128>(Nanos(local - local_origin_).count());
  auto base_elapsed = (local_elapsed * kMillion + rate_ppm_ - 1) / rate_ppm_;  // Round up.
  return base_origin_ +
         std::chrono::duration_cast<Duration>(Nanos(static_cast<int64_t>(base_elapsed)));
}

Task<void> DriftingClock::wait(boost::asio::steady_timer& timer, TimePoint deadline) const {
  co_await base_.wait(timer, to_base(deadline));
}

}  // namespace tessera::sim
