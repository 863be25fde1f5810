#include "sim/sim_fault_points.h"

#include <algorithm>

#include "base/assert.h"

namespace tessera::sim {

namespace {
// One point in four is active in a given seed; an active one fires on 1% to 25% of its reaches.
constexpr uint64_t kActivePpm = 250'000;
constexpr int64_t kMinFirePpm = 10'000;
constexpr int64_t kMaxFirePpm = 250'000;
}  // namespace

SimFaultPoints::SimFaultPoints(uint64_t seed, bool buggify, const std::set<std::string>& mutations)
    : seeds_(SimRandom(seed).fork("fault-points")),
      buggify_(buggify),
      mutations_(mutations.begin(), mutations.end()) {}

bool SimFaultPoints::fire(std::string_view name) {
  auto point = points_.find(name);
  if (point == points_.end()) {
    SimRandom decide = seeds_.fork(name);
    FaultPointStats stats;
    stats.active = buggify_ && decide.chance_ppm(kActivePpm);
    stats.fire_ppm = static_cast<uint64_t>(decide.between(kMinFirePpm, kMaxFirePpm));
    if (auto cap = caps_.find(name); cap != caps_.end()) {
      stats.fire_ppm = std::min(stats.fire_ppm, cap->second);
    }
    point = points_.emplace(std::string(name), stats).first;
    streams_.emplace(std::string(name), decide.fork("fire"));
  }
  FaultPointStats& stats = point->second;
  ++stats.reached;
  if (!stats.active) return false;
  bool fired = streams_.find(name)->second.chance_ppm(stats.fire_ppm);
  if (fired) ++stats.fired;
  return fired;
}

void SimFaultPoints::cover(std::string_view name) {
  auto mark = coverage_.find(name);
  if (mark == coverage_.end()) mark = coverage_.emplace(std::string(name), 0).first;
  ++mark->second;
}

bool SimFaultPoints::mutation(std::string_view name) { return mutations_.contains(name); }

void SimFaultPoints::cap(std::string_view name, uint64_t max_fire_ppm) {
  TESS_ASSERT(!points_.contains(name), "fault point {} capped after it was reached", name);
  caps_[std::string(name)] = max_fire_ppm;
}

}  // namespace tessera::sim
