#include "cli/exit_code.h"

#include <gtest/gtest.h>

namespace tessera::cli {
namespace {

TEST(ExitCodeTest, EveryCodeMapsToADocumentedExit) {
  EXPECT_EQ(exit_code(Status()), 0);
  EXPECT_EQ(exit_code(Status(StatusCode::kInvalidArgument, "x")), 2);
  EXPECT_EQ(exit_code(Status(StatusCode::kNotFound, "x")), 3);
  EXPECT_EQ(exit_code(Status(StatusCode::kFailedPrecondition, "x")), 4);
  EXPECT_EQ(exit_code(Status(StatusCode::kUnavailable, "x")), 5);
  EXPECT_EQ(exit_code(Status(StatusCode::kNoSpace, "x")), 6);
  EXPECT_EQ(exit_code(Status(StatusCode::kPermissionDenied, "x")), 7);
  for (int code = 1; code < kStatusCodeCount; ++code) {
    int exit = exit_code(Status(static_cast<StatusCode>(code), "x"));
    EXPECT_GE(exit, 1) << code;
    EXPECT_LE(exit, 7) << code;
  }
}

}  // namespace
}  // namespace tessera::cli
