// The chunk store under process crashes and power losses, as one seeded simulation step of the
// deterministic simulator (src/sim wires it in; drive's unit tests run it for many seeds).
//
// A run formats a FakeBlockDevice with its index on a FaultInjectionFs, opens a ChunkStore in
// simulation mode (inline index commits, the given clock), then takes `steps` seeded random steps:
// durable and non-durable writes, removals, barriers, reads, injected device errors, process
// crashes (the device's volatile cache and the page cache survive), power losses (unflushed blocks
// torn, the index's unsynced tail dropped), and crashes in the middle of the next operation (the
// process dies after a random number of device and index steps). After every restart it checks:
// every acknowledged durable chunk reads back intact; every other chunk is intact or absent; no
// acknowledged removal came back; nothing is indexed that the run did not write; space accounting
// is exact. TESS_BUGGIFY points of the store fire if the caller installed a FaultPoints registry.
//
// Deterministic: the same seed and options give the same trace and result (RocksDB's own
// background threads do not change what the store sees).
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "base/units.h"
#include "runtime/clock.h"
#include "runtime/task.h"

namespace tessera {

struct ChunkStoreWorkloadOptions {
  uint32_t steps = 60;
  uint64_t data_area_bytes = 2 * kMiB;  // Small, so that the drive fills up at times.
  uint32_t max_chunk_blocks = 16;
  // A directory the run may use for its index (a subdirectory per seed, removed at the end).
  std::string directory;
};

// Runs the workload of `seed` on the calling task's executor, waiting only on `clock` (the
// simulator's FakeClock). OK if every invariant held; otherwise kInternal naming the broken
// invariant and the step, or the error that stopped the run (a store that failed to reopen).
// `trace` (if not null) gets one short line per step.
// REQUIRES: `clock` outlives the task; options.directory exists.
Task<Status> run_chunk_store_workload(const Clock* clock, uint64_t seed,
                                      ChunkStoreWorkloadOptions options, std::string* trace);

}  // namespace tessera
