// Helpers for unit tests.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <string>

#include "base/status.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::testing {

// Runs `task` to completion on a fresh single-threaded io_context on this thread.
template <typename T>
T run_task(Task<T> task) {
  boost::asio::io_context context(1);
  return run_until_complete(context, std::move(task));
}

// Waits until `condition()` holds, checking every millisecond of real time; false if `timeout`
// passes first. Tests wait for what they need instead of for a fixed time, so that a loaded
// machine slows them down without failing them.
template <typename Condition>
Task<bool> eventually(Condition condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  Deadline deadline = Deadline::after(timeout, RealClock::instance());
  while (!condition()) {
    if (deadline.expired()) co_return false;
    (void)co_await RealClock::instance().sleep_for(std::chrono::milliseconds(1));
  }
  co_return true;
}

// A directory under $TMPDIR (or /tmp) removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace tessera::testing

namespace tessera {
inline std::ostream& operator<<(std::ostream& out, const Status& status) {
  return out << status.to_string();
}
inline void PrintTo(const Status& status, std::ostream* out) { *out << status.to_string(); }
}  // namespace tessera

// Inside a coroutine, gtest's ASSERT_* cannot be used (they `return`); these record a fatal
// failure and co_return instead. The enclosing coroutine must return Task<void>.
#define CO_ASSERT_TRUE(condition)                               \
  do {                                                          \
    if (!(condition)) {                                         \
      ADD_FAILURE() << "CO_ASSERT_TRUE(" #condition ") failed"; \
      co_return;                                                \
    }                                                           \
  } while (false)
#define CO_ASSERT_OK(expr)                                                 \
  do {                                                                     \
    auto tess_test_status_ = ::tessera::internal::status_of((expr));       \
    if (!tess_test_status_.ok()) {                                         \
      ADD_FAILURE() << #expr " failed: " << tess_test_status_.to_string(); \
      co_return;                                                           \
    }                                                                      \
  } while (false)

#define EXPECT_OK(expr)                                    \
  EXPECT_TRUE(::tessera::internal::status_of((expr)).ok()) \
      << ::tessera::internal::status_of((expr)).to_string()
#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    auto tess_test_status_ = ::tessera::internal::status_of((expr));      \
    ASSERT_TRUE(tess_test_status_.ok()) << tess_test_status_.to_string(); \
  } while (false)
