// TESS_ASSERT(condition, format, args...): always on. A false condition is a bug in Tessera, not an
// operating error: it logs the condition, the message and the source location at critical level,
// flushes the log and aborts, so that the process restarts from durable state instead of running on
// with broken invariants. Use Status for anything an input, a peer or a device can cause.
#pragma once

#include <fmt/format.h>

#include <string>

namespace tessera::internal {
[[noreturn]] void assert_failed(const char* condition, const char* file, int line,
                                const std::string& message);
}  // namespace tessera::internal

#define TESS_ASSERT(condition, ...)                                      \
  do {                                                                   \
    if (!(condition)) [[unlikely]] {                                     \
      ::tessera::internal::assert_failed(#condition, __FILE__, __LINE__, \
                                         ::fmt::format(__VA_ARGS__));    \
    }                                                                    \
  } while (false)

// For checks too costly for release builds (e.g. re-verifying a checksum just computed).
#ifdef NDEBUG
#define TESS_DASSERT(condition, ...) \
  do {                               \
  } while (false)
#else
#define TESS_DASSERT(condition, ...) TESS_ASSERT(condition, __VA_ARGS__)
#endif
