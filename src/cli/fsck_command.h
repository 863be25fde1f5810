// `tess fsck FS`: checks a filesystem's namespace online (meta/namespace_check.h) through the
// client library: the filesystem's id from the REST API, then the buckets themselves. Exit 0 when
// clean; 1 when it found something (each finding printed); 5 when the cluster could not be read
// in time or a lock stayed held (the message says which).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "meta/namespace_check.h"

namespace tessera::cli {

void add_fsck_command(CLI::App& app, Status* result);

// What `tess fsck` prints for a report, as text and as the --json document.
std::string fsck_report_text(const std::string& name, uint64_t id, const meta::CheckReport& report,
                             bool repair);
nlohmann::json fsck_report_json(const std::string& name, uint64_t id,
                                const meta::CheckReport& report, bool repair);

}  // namespace tessera::cli
