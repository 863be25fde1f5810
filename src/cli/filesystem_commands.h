// `tess fs create|list|update|delete`: the cluster's filesystems through its REST API
// (docs/design/2026-12-05-filesystems.md 9). Sizes are read by cli/size.h; errors come back as the
// API's Status (exit codes: cli/exit_code.h).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"

namespace tessera::cli {

// Adds `tess fs` to `app`; the command that runs stores its result in *result.
void add_filesystem_commands(CLI::App& app, Status* result);

// The API path of filesystem `name`: every byte outside [A-Za-z0-9._-] percent-encoded, so a name
// can never add a path segment or a query (`a?force=true`); the server refuses such names.
std::string filesystem_path(const std::string& name);

// What `tess fs list` prints for a GET /api/v1/filesystems body: a table (name, id, capacity,
// used, files, state; "-" for figures not reported) and a line of capacity. Fields of unexpected
// types show as "?" rather than failing.
std::string filesystems_table(const nlohmann::json& body);

}  // namespace tessera::cli
