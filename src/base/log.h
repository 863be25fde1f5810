// Logging. A thin layer over spdlog so that the sink, level and pattern are set in one place.
// Every process calls init_logging() once at start; libraries log through TESS_LOG_* below.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

#include "base/status.h"

namespace tessera {

struct LogOptions {
  // One of trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  // Empty: standard error. Otherwise the path of a file to append to.
  std::string file_path;
  // Shown in every line, e.g. "tessd-3".
  std::string process_name = "tessera";
};

// REQUIRES: called before other threads log. Fails on an unknown level or an unwritable file.
Status init_logging(const LogOptions& options);

}  // namespace tessera

#define TESS_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define TESS_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define TESS_LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define TESS_LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define TESS_LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)
