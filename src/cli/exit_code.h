// The exit codes of `tess`, mapped from StatusCode in this one place.
#pragma once

#include "base/status.h"

namespace tessera::cli {

// 0 success; 2 bad arguments (also for command lines CLI11 rejects); 3 not found; 4 the cluster is
// not in a state that allows it; 5 unavailable or timed out (retry); 6 no space; 7 permission
// denied; 1 other.
int exit_code(const Status& status);

}  // namespace tessera::cli
