#include "base/fault_points.h"

namespace tessera {

namespace internal {
FaultPoints* g_fault_points = nullptr;
}  // namespace internal

void install_fault_points(FaultPoints* points) { internal::g_fault_points = points; }

}  // namespace tessera
