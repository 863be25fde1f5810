// `tess local up|down|status`: a whole cluster on this machine for trying Tessera and for tests.
// `up` starts etcd member(s) and N tessd processes (one failure domain each, file-backed drives),
// forms the cluster and waits until it is healthy; every process is recorded, with its PID and
// command line, in DIR/state.json; `down` stops exactly those processes by PID, and skips (saying
// so) a PID that now runs another command line than the one recorded: PIDs are reused.
#pragma once

#include <CLI/CLI.hpp>

#include "base/status.h"

namespace tessera::cli {

void add_local_commands(CLI::App& app, Status* result);

}  // namespace tessera::cli
