#include "cluster/parse.h"

#include <gtest/gtest.h>

#include "testing/testing.h"

namespace tessera {
namespace {

TEST(ParseTest, WholeDecimalNumbersOnly) {
  ASSERT_OK(parse_u32("42", "x"));
  EXPECT_EQ(*parse_u32("42", "x"), 42u);
  EXPECT_EQ(*parse_i64("-7", "x"), -7);
  EXPECT_EQ(*parse_u64("18446744073709551615", "x"), UINT64_MAX);
  for (const char* bad : {"", "abc", "12abc", " 12", "-1", "4294967296", "1.5", "+3"}) {
    Result<uint32_t> parsed = parse_u32(bad, "election/mgmt");
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kCorruption) << bad;
    EXPECT_NE(parsed.status().message().find("election/mgmt"), std::string_view::npos);
  }
}

}  // namespace
}  // namespace tessera
