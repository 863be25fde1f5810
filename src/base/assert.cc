#include "base/assert.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

namespace tessera::internal {

void assert_failed(const char* condition, const char* file, int line, const std::string& message) {
  spdlog::critical("assertion failed at {}:{}: ({}) {}", file, line, condition, message);
  spdlog::default_logger()->flush();
  std::fprintf(stderr, "tessera: assertion failed at %s:%d: (%s) %s\n", file, line, condition,
               message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace tessera::internal
