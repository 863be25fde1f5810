#include "base/status.h"

#include <gtest/gtest.h>

#include <string>

namespace tessera {
namespace {

TEST(StatusTest, DefaultIsOkAndCheap) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.to_string(), "OK");
  EXPECT_EQ(sizeof(Status), sizeof(std::shared_ptr<int>));
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status s = error(StatusCode::kNoSpace, "drive {} has {} bytes free", 7, 0);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNoSpace);
  EXPECT_EQ(s.message(), "drive 7 has 0 bytes free");
  EXPECT_EQ(s.to_string(), "NoSpace: drive 7 has 0 bytes free");
  EXPECT_EQ(s.with_context("write chunk").to_string(),
            "NoSpace: write chunk: drive 7 has 0 bytes free");
  EXPECT_TRUE(Status().with_context("x").ok());
}

TEST(StatusTest, EveryCodeHasAName) {
  for (int i = 0; i < kStatusCodeCount; ++i) {
    auto name = status_code_name(static_cast<StatusCode>(i));
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "Unknown") << i;
  }
  EXPECT_EQ(status_code_name(static_cast<StatusCode>(200)), "Unknown");
}

TEST(StatusDeathTest, OkCodeWithMessageIsABug) {
  EXPECT_DEATH((void)Status(StatusCode::kOk, "nope"), "non-OK code");
}

Result<int> parse_positive(int x) {
  if (x <= 0) return error(StatusCode::kInvalidArgument, "{} is not positive", x);
  return x;
}

Result<int> doubled(int x) {
  TESS_ASSIGN_OR_RETURN(int value, parse_positive(x));
  return value * 2;
}

Status check(int x) {
  TESS_RETURN_IF_ERROR(parse_positive(x));
  return Status();
}

TEST(ResultTest, ValueOrStatus) {
  Result<int> good = parse_positive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  EXPECT_TRUE(good.status().ok());
  Result<int> bad = parse_positive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(ResultTest, MacrosPropagate) {
  EXPECT_EQ(*doubled(4), 8);
  EXPECT_EQ(doubled(0).status().message(), "0 is not positive");
  EXPECT_TRUE(check(1).ok());
  EXPECT_EQ(check(-5).code(), StatusCode::kInvalidArgument);
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
}

TEST(ResultDeathTest, ValueOfFailureIsABug) {
  Result<int> bad = parse_positive(-1);
  EXPECT_DEATH((void)bad.value(), "value\\(\\) of a failed Result");
  EXPECT_DEATH((void)Result<int>(Status()), "OK status without a value");
}

}  // namespace
}  // namespace tessera
