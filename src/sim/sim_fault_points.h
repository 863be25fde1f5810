// SimFaultPoints: the simulator's registry behind TESS_BUGGIFY, TESS_COVER and TESS_MUTATION
// (base/fault_points.h). Per seed, each fault point is either active or not (decided from the
// seed and the point's name when it is first reached, so the decision does not depend on the
// order in which points are reached), and an active point fires with its own per-seed
// probability. Coverage marks are counted, to report which rare paths a set of seeds reached.
//
// Lives on the simulation's thread; installed while one simulation runs.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "base/fault_points.h"
#include "sim/random.h"

namespace tessera::sim {

struct FaultPointStats {
  bool active = false;
  uint64_t fire_ppm = 0;  // Probability of firing when reached, if active.
  uint64_t reached = 0;
  uint64_t fired = 0;
};

class SimFaultPoints final : public FaultPoints {
 public:
  // `buggify`: false keeps every fault point off (coverage is still counted).
  SimFaultPoints(uint64_t seed, bool buggify, const std::set<std::string>& mutations);

  bool fire(std::string_view name) override;
  void cover(std::string_view name) override;
  bool mutation(std::string_view name) override;
  // Caps how often `name` fires when active, for a workload whose processes each such fault
  // stops (a point firing on a quarter of its reaches would keep every process down).
  // REQUIRES: before the point is first reached.
  void cap(std::string_view name, uint64_t max_fire_ppm);

  const std::map<std::string, FaultPointStats, std::less<>>& fault_points() const {
    return points_;
  }
  const std::map<std::string, uint64_t, std::less<>>& coverage() const { return coverage_; }

 private:
  struct Point {
    FaultPointStats stats;
    SimRandom random;
  };
  SimRandom seeds_;
  bool buggify_;
  std::set<std::string, std::less<>> mutations_;
  std::map<std::string, FaultPointStats, std::less<>> points_;
  std::map<std::string, SimRandom, std::less<>> streams_;
  std::map<std::string, uint64_t, std::less<>> coverage_;
  std::map<std::string, uint64_t, std::less<>> caps_;
};

// Installs a registry for the lifetime of the guard.
class ScopedFaultPoints {
 public:
  explicit ScopedFaultPoints(FaultPoints* points) { install_fault_points(points); }
  ~ScopedFaultPoints() { install_fault_points(nullptr); }
  ScopedFaultPoints(const ScopedFaultPoints&) = delete;
  ScopedFaultPoints& operator=(const ScopedFaultPoints&) = delete;
};

}  // namespace tessera::sim
