// Helpers for unit tests.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <string>

#include "base/status.h"
#include "runtime/task.h"

namespace tessera::testing {

// Runs `task` to completion on a fresh single-threaded io_context on this thread.
template <typename T>
T run_task(Task<T> task) {
  boost::asio::io_context context(1);
  return run_until_complete(context, std::move(task));
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
inline void PrintTo(const Status& status, std::ostream* out) { *out << status.to_string(); }
}  // namespace tessera

#define EXPECT_OK(expr) EXPECT_TRUE(::tessera::internal::status_of((expr)).ok()) \
    << ::tessera::internal::status_of((expr)).to_string()
#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    auto tess_test_status_ = ::tessera::internal::status_of((expr));      \
    ASSERT_TRUE(tess_test_status_.ok()) << tess_test_status_.to_string(); \
  } while (false)
