// The stale-map check every map-dependent request makes (docs/architecture.md 2.3): the epoch a
// request carries against the epoch the receiver holds.
#pragma once

#include "base/status.h"
#include "base/strong_id.h"

namespace tessera {

enum class EpochCheck {
  kCurrent,  // Same map: serve.
  kStale,    // The sender's map is older: answer kStaleMap, it refreshes and retries.
  kAhead,    // The receiver's map is older: wait (within the deadline) for the newer one.
};

inline EpochCheck check_map_epoch(MapEpoch request, MapEpoch held) {
  if (request < held) return EpochCheck::kStale;
  if (request > held) return EpochCheck::kAhead;
  return EpochCheck::kCurrent;
}

// The error a receiver answers to a stale sender.
inline Status stale_map_error(MapEpoch request, MapEpoch held) {
  return error(StatusCode::kStaleMap, "request made with map epoch {}, this host holds epoch {}",
               request, held);
}

}  // namespace tessera
