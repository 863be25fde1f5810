#include "base/strong_id.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <unordered_set>

namespace tessera {
namespace {

TEST(StrongIdTest, DistinctTypesDoNotMix) {
  static_assert(!std::is_convertible_v<DriveId, HostId>);
  static_assert(!std::is_convertible_v<uint32_t, DriveId>);
  static_assert(!std::is_convertible_v<DriveId, uint32_t>);
  static_assert(sizeof(DriveId) == 4 && sizeof(InodeId) == 8);
  DriveId a(3), b(5);
  EXPECT_LT(a, b);
  EXPECT_EQ(a, DriveId(3));
  EXPECT_EQ(fmt::format("drive {}", a), "drive 3");
  std::unordered_set<DriveId> set{a, b, DriveId(3)};
  EXPECT_EQ(set.size(), 2u);
}

}  // namespace
}  // namespace tessera
