#include "cli/size.h"

#include <gtest/gtest.h>

#include "testing/testing.h"

namespace tessera::cli {
namespace {

TEST(Size, UnitsAndFractions) {
  const uint64_t kKi = 1024;
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  for (const Case& c :
       {Case{"0", 0}, Case{"4096", 4096}, Case{"4096B", 4096}, Case{"1K", kKi}, Case{"1KiB", kKi},
        Case{"1KB", 1000}, Case{"500G", 500 * kKi * kKi * kKi}, Case{"10GiB", 10 * kKi * kKi * kKi},
        Case{"10GB", 10'000'000'000}, Case{"1T", kKi * kKi * kKi * kKi},
        Case{"2TB", 2'000'000'000'000}, Case{"1.5TiB", 3 * kKi * kKi * kKi * kKi / 2},
        Case{"0.5K", 512}, Case{"1.25MB", 1'250'000}, Case{"3P", 3 * (kKi << 40)},
        Case{"007M", 7 * kKi * kKi}, Case{"16383P", 16383 * (kKi << 40)},
        Case{"18446744073709551615", UINT64_MAX}}) {
    auto parsed = parse_size(c.text);
    ASSERT_OK(parsed.status());
    EXPECT_EQ(*parsed, c.bytes) << c.text;
  }
}

TEST(Size, AnythingElseIsRefusedSayingWhy) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {Case{"", "does not start with a digit"},
                        Case{"G", "does not start with a digit"},
                        Case{"-1G", "does not start with a digit"},
                        Case{"+1G", "does not start with a digit"},
                        Case{" 1G", "does not start with a digit"},
                        Case{".5G", "does not start with a digit"},
                        Case{"1 G", "' G' is not a unit"},
                        Case{"1G ", "'G ' is not a unit"},
                        Case{"1g", "'g' is not a unit"},
                        Case{"1gib", "'gib' is not a unit"},
                        Case{"1Gi", "'Gi' is not a unit"},
                        Case{"1GiBs", "'GiBs' is not a unit"},
                        Case{"1.G", "no digit after the '.'"},
                        Case{"1.5.5G", "is not a unit"},
                        Case{"0.5", "not a whole number of bytes"},
                        Case{"1.0001K", "not a whole number of bytes"},
                        Case{"16384P", "more than 2^64 - 1 bytes"},
                        Case{"18446744073709551616", "more than 2^64 - 1 bytes"},
                        Case{"1000000000000000000000000000000", "more than 2^64 - 1 bytes"},
                        Case{"1.0000000000000000001K", "too many digits after the '.'"}}) {
    Status refused = parse_size(c.text).status();
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(refused.message().find(c.says), std::string_view::npos) << c.text << ": " << refused;
    EXPECT_NE(refused.message().find("e.g. 500G, 10GiB"), std::string_view::npos) << refused;
  }
}

TEST(Size, Format) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(uint64_t{10} << 30), "10.0 GiB");
  EXPECT_EQ(format_bytes(UINT64_MAX), "16.0 EiB");
}

}  // namespace
}  // namespace tessera::cli
