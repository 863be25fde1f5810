// The chunk store under process crashes and power losses at every commit step, as a simulator
// workload (tess-sim --workload chunk-store); the workload itself is drive/chunk_store_workload.h.
#pragma once

#include <memory>

#include "sim/simulation.h"

namespace tessera::sim {

std::unique_ptr<Workload> make_chunk_store_workload(Simulation& simulation);

}  // namespace tessera::sim
