// DriftingClock: one simulated host's view of time. It runs at its own rate (the failure model
// allows clocks to drift within 10%) over the simulation's FakeClock, so that leases, timeouts and
// heartbeats of different hosts disagree the way real ones do. Integer arithmetic only: a seed
// replays to the nanosecond.
//
// Lives on the simulation's executor, like the FakeClock it reads.
#pragma once

#include <cstdint>

#include "runtime/clock.h"

namespace tessera::sim {

class DriftingClock final : public Clock {
 public:
  // `rate_ppm`: local nanoseconds per million base nanoseconds (1'000'000 = no drift).
  // REQUIRES: 500'000 <= rate_ppm <= 2'000'000.
  DriftingClock(const FakeClock& base, uint64_t rate_ppm);

  TimePoint now() const override;
  Task<void> wait(boost::asio::steady_timer& timer, TimePoint deadline) const override;

  uint64_t rate_ppm() const { return rate_ppm_; }
  // The base time at which this clock shows `local` (rounded up: the local time has come then).
  TimePoint to_base(TimePoint local) const;

 private:
  const FakeClock& base_;
  uint64_t rate_ppm_;
  TimePoint base_origin_;
  TimePoint local_origin_;
};

}  // namespace tessera::sim
