// SimRandom: the simulator's only source of randomness. Every choice a simulation makes (faults,
// latencies, workload operations, clock rates) comes from a SimRandom seeded from the run's seed,
// so a seed replays exactly. Independent streams are split off by name (fork), so that adding a
// draw in one component does not shift the choices of every other one.
#pragma once

#include <cstdint>
#include <string_view>

namespace tessera::sim {

// 128-bit arithmetic for exact scaling (the extension keeps -Wpedantic quiet).
__extension__ typedef unsigned __int128 Uint128;

class SimRandom {
 public:
  explicit SimRandom(uint64_t seed) : seed_(seed), state_(seed ^ 0x9e3779b97f4a7c15ULL) {}

  // splitmix64: small, fast, and good enough for choosing faults.
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound). REQUIRES: bound > 0.
  uint64_t below(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<Uint128>(next()) * bound) >> 64);
  }
  // Uniform in [low, high]. REQUIRES: low <= high.
  int64_t between(int64_t low, int64_t high) {
    return low + static_cast<int64_t>(below(static_cast<uint64_t>(high - low) + 1));
  }
  // True with probability parts_per_million / 1e6.
  bool chance_ppm(uint64_t parts_per_million) { return below(1'000'000) < parts_per_million; }
  bool chance(double probability) {
    return chance_ppm(static_cast<uint64_t>(probability * 1'000'000));
  }
  // An independent stream named `name`, derived from this one's seed (not from its position).
  SimRandom fork(std::string_view name) const { return SimRandom(seed_of(name)); }

 private:
  uint64_t seed_of(std::string_view name) const {
    uint64_t hash = 0xcbf29ce484222325ULL ^ seed_;  // FNV-1a over the name.
    for (char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    return hash;
  }
  uint64_t seed_;
  uint64_t state_;
};

}  // namespace tessera::sim
