#include "base/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace tessera {

Status init_logging(const LogOptions& options) {
  auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    return error(StatusCode::kInvalidArgument,
                 "unknown log level '{}' (use trace, debug, info, warn, error, critical or off)",
                 options.level);
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (options.file_path.empty()) {
      logger = spdlog::stderr_logger_mt(options.process_name);
    } else {
      logger = spdlog::basic_logger_mt(options.process_name, options.file_path);
    }
  } catch (const spdlog::spdlog_ex& e) {
    return error(StatusCode::kInvalidArgument, "cannot open log: {}", e.what());
  }
  logger->set_level(level);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %L %n[%t] %s:%# %v");
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
  return Status();
}

}  // namespace tessera
