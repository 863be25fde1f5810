#include "runtime/deadline.h"

#include <limits>

namespace tessera {

uint32_t Deadline::remaining_ms(const Clock& clock) const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(remaining(clock)).count();
  constexpr auto kMax = std::numeric_limits<uint32_t>::max();
  return ms >= static_cast<int64_t>(kMax) ? kMax : static_cast<uint32_t>(ms);
}

}  // namespace tessera
