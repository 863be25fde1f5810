// Fault points and coverage marks for the deterministic simulator (docs/architecture.md 14).
//
// TESS_BUGGIFY("name") marks a place where code may take a rare but legal path on purpose (a
// short read, a slow commit, an early lease expiry): FoundationDB's BUGGIFY. It is false unless a
// simulation has installed a FaultPoints registry, which decides per seed which points are enabled
// and how often they fire, so a failing seed replays the same faults. TESS_COVER("name") marks a
// rare path (failover, retry, recovery) so that the simulator can report which ones a run reached.
// TESS_MUTATION("name") guards a deliberate bug (skip a fence, skip a flush) that the simulator's
// self-test switches on to check that its invariants catch it; it is false everywhere else.
//
// Production builds (NDEBUG) compile both to nothing. In other builds they cost one load and
// branch while no simulation runs. The registry is process-global and not synchronized: only the
// single-threaded simulator installs one, and only while it runs.
#pragma once

#include <string_view>

namespace tessera {

class FaultPoints {
 public:
  virtual ~FaultPoints() = default;
  // Whether the fault point `name` fires this time.
  virtual bool fire(std::string_view name) = 0;
  // Records that the rare path `name` was reached.
  virtual void cover(std::string_view name) = 0;
  // Whether the deliberate bug `name` is switched on. Only the simulator's own tests switch bugs
  // on, to prove that some seed catches them (a simulator that cannot fail proves nothing).
  virtual bool mutation(std::string_view /*name*/) { return false; }
};

// Installs `points` (nullptr uninstalls). The caller keeps ownership and uninstalls it before
// destroying it.
void install_fault_points(FaultPoints* points);

namespace internal {
extern FaultPoints* g_fault_points;
}  // namespace internal

}  // namespace tessera

#ifdef NDEBUG
#define TESS_BUGGIFY(name) false
#define TESS_COVER(name) ((void)0)
#define TESS_MUTATION(name) false
#else
#define TESS_BUGGIFY(name)                           \
  (::tessera::internal::g_fault_points != nullptr && \
   ::tessera::internal::g_fault_points->fire(name))
#define TESS_COVER(name)                                \
  do {                                                  \
    if (::tessera::internal::g_fault_points != nullptr) \
      ::tessera::internal::g_fault_points->cover(name); \
  } while (false)
#define TESS_MUTATION(name)                          \
  (::tessera::internal::g_fault_points != nullptr && \
   ::tessera::internal::g_fault_points->mutation(name))
#endif
