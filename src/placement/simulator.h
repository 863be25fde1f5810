// The placement simulator: places stripes on a hypothetical cluster with the real Placement
// function and measures what matters at scale. Behind `tess sim placement`.
//
//   fill balance     columns on the fullest drive / the mean, over `stripes` stripes;
//   movement         the fraction of columns that move when `add_backends` join, next to the
//                    ideal X / (N + X) (the new capacity's share), over the first
//                    `movement_stripes` stripes (a proportion: 250,000 stripes pin it to 0.3%);
//   rebuild fan-out  for backend 0 failing: how many surviving backends read or write for its
//                    rebuild, and the most any one reads relative to the mean. Counted over a
//                    population of `rebuild_stripes` stripes (default: 10,000 columns per
//                    backend, far fewer than a real cluster holds), of which only the failed
//                    backend's stripes are placed in full;
//   loss             of that population, the stripes with columns in the first two of
//                    `failed_domains` (two concurrent failures) and in all three: those with more
//                    lost columns than M would lose data.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace tessera {

struct PlacementSimOptions {
  uint32_t backends = 100;
  uint32_t drives_per_backend = 1;
  // 0: one failure domain per backend. Otherwise backend b is in domain b mod failure_domains.
  uint32_t failure_domains = 0;
  int data_columns = 5;
  int parity_columns = 2;
  uint64_t stripes = 1'000'000;
  // -1: 10% of backends (at least 1).
  int64_t add_backends = -1;
  // 0: min(stripes, 250,000).
  uint64_t movement_stripes = 0;
  // 0: enough stripes for 10,000 columns per backend (at least `stripes`).
  uint64_t rebuild_stripes = 0;
  // 0: one per hardware thread.
  uint32_t threads = 0;
  // The failure domains (0-based: backend b is in domain b, or b mod failure_domains) whose
  // concurrent failure the loss figures count. Distinct, each below the number of domains.
  std::array<uint32_t, 3> failed_domains = {0, 1, 2};
};

struct PlacementSimReport {
  PlacementSimOptions options;  // With defaults resolved.
  uint32_t failure_domains = 0;
  uint64_t drives = 0;
  double fill_max_over_mean = 0;
  double fill_min_over_mean = 0;
  double moved_fraction = 0;
  double ideal_moved_fraction = 0;
  double moved_to_new_fraction = 0;  // Of the moved columns, the share that went to new backends.
  uint64_t rebuild_stripes_affected = 0;
  uint64_t rebuild_readers = 0;
  uint64_t rebuild_writers = 0;
  uint64_t rebuild_participants = 0;
  double rebuild_participation = 0;  // participants / surviving backends
  double rebuild_read_max_over_mean = 0;
  uint64_t stripes_losing_2_domains = 0;
  uint64_t stripes_losing_3_domains = 0;
  double fraction_losing_2_domains = 0;
  double fraction_losing_3_domains = 0;
  uint64_t data_loss_stripes_3_failures = 0;  // stripes_losing_3_domains if M < 3, else 0
  // The exact probability that a stripe uses 3 given domains when all domains weigh the same,
  // W(W-1)(W-2) / (F(F-1)(F-2)): how exposure to 3 concurrent failures falls as clusters grow.
  double expected_fraction_losing_3_domains = 0;
  double seconds = 0;
};

// Errors: kInvalidArgument for impossible options (no backends, bad scheme, more columns than
// failure domains); the scheme follows StripeGeometry's rules.
Result<PlacementSimReport> simulate_placement(PlacementSimOptions options);

}  // namespace tessera
