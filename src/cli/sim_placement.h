// `tess sim placement`: runs the placement simulator (placement/simulator.h) once, or over a sweep
// of cluster sizes, and prints the report for a person or as JSON.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "base/status.h"

namespace tessera::cli {

// Adds the `sim` command with its `placement` subcommand to `app`. When the subcommand runs, its
// result is stored in *result.
void add_sim_commands(CLI::App& app, Status* result);

}  // namespace tessera::cli
