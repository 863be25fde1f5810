// The operator's commands on a running cluster, through its REST API: `tess status`, `tess host
// list`, `tess drive list|add`, `tess bucket list|show`, `tess cluster create|hot-spare`. Each
// prints a table for a person, or the API's JSON with --json. Errors come back as the API's Status
// (exit codes: cli/exit_code.h).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"

namespace tessera::cli {

// Adds the commands to `app`; the one that runs stores its result in *result.
void add_cluster_commands(CLI::App& app, Status* result);

// Prints the human form of a status document (shared with `tess local up`).
void print_status(const nlohmann::json& status);

}  // namespace tessera::cli
