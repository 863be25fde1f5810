#include "placement/placement.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "base/units.h"
#include "testing/testing.h"

namespace tessera {
namespace {

// `domains` failure domains with `drives_per_domain` drives of `capacity` each; ids from 1.
std::vector<DriveInfo> cluster(int domains, int drives_per_domain, uint64_t capacity = 4 * kGiB) {
  std::vector<DriveInfo> drives;
  for (int d = 0; d < domains; ++d) {
    for (int j = 0; j < drives_per_domain; ++j) {
      uint32_t id = static_cast<uint32_t>(d * drives_per_domain + j + 1);
      drives.push_back(DriveInfo{DriveId(id), HostId(d + 1), FailureDomainId(d + 1), capacity});
    }
  }
  return drives;
}

Placement make(const std::vector<DriveInfo>& drives, int width) {
  auto placement = Placement::create(drives, width);
  TESS_ASSERT(placement.ok(), "{}", placement.status());
  return std::move(placement).value();
}

std::map<DriveId, FailureDomainId> domains_of(const std::vector<DriveInfo>& drives) {
  std::map<DriveId, FailureDomainId> out;
  for (const auto& d : drives) out[d.id] = d.failure_domain;
  return out;
}

TEST(PlacementTest, OneDrivePerFailureDomainAndDeterministic) {
  auto drives = cluster(12, 3);
  Placement placement = make(drives, 7);
  auto domain = domains_of(drives);
  auto shuffled = drives;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(5));
  Placement same = make(shuffled, 7);
  for (uint64_t key = 0; key < 2000; ++key) {
    auto chosen = placement.choose(key);
    std::set<FailureDomainId> used;
    for (DriveId d : chosen) used.insert(domain[d]);
    ASSERT_EQ(used.size(), 7u) << key;
    ASSERT_EQ(chosen, same.choose(key)) << "input order changed the choice of " << key;
  }
}

TEST(PlacementTest, ShareFollowsCapacity) {
  // 20 domains of one drive; the last five are twice as large.
  auto drives = cluster(20, 1);
  for (int i = 15; i < 20; ++i) drives[i].capacity_bytes *= 2;
  Placement placement = make(drives, 4);
  std::map<DriveId, int> columns;
  const int stripes = 200000;
  for (uint64_t key = 0; key < stripes; ++key) {
    for (DriveId d : placement.choose(key)) ++columns[d];
  }
  double small = 0, large = 0;
  for (int i = 0; i < 15; ++i) small += columns[drives[i].id];
  for (int i = 15; i < 20; ++i) large += columns[drives[i].id];
  double ratio = (large / 5) / (small / 15);
  // Exact proportionality is impossible without replacement (each stripe takes 4 distinct
  // domains), but with 4 of 20 the share stays close to the capacity ratio 2.
  EXPECT_GT(ratio, 1.8);
  EXPECT_LT(ratio, 2.05);
  for (int i = 0; i < 15; ++i) {
    EXPECT_NEAR(columns[drives[i].id], small / 15, small / 15 * 0.03) << i;
  }
}

TEST(PlacementTest, AddingADomainMovesOnlyItsShareOntoIt) {
  auto before_drives = cluster(30, 2);
  auto after_drives = cluster(33, 2);
  Placement before = make(before_drives, 7);
  Placement after = make(after_drives, 7);
  std::set<DriveId> new_drives;
  for (size_t i = before_drives.size(); i < after_drives.size(); ++i) {
    new_drives.insert(after_drives[i].id);
  }
  const int stripes = 50000;
  int moved = 0;
  for (uint64_t key = 0; key < stripes; ++key) {
    auto columns = before.choose(key);
    auto moves = after.plan_moves(key, columns);
    for (const ColumnMove& move : moves) {
      ASSERT_TRUE(new_drives.contains(move.to)) << "a column moved between old drives";
      ASSERT_EQ(columns[move.column], move.from);
    }
    moved += static_cast<int>(moves.size());
  }
  double fraction = static_cast<double>(moved) / (stripes * 7.0);
  double ideal = 3.0 / 33.0;
  EXPECT_NEAR(fraction, ideal, ideal * 0.05);
}

TEST(PlacementTest, LostDomainMovesOnlyItsColumns) {
  auto drives = cluster(10, 1);
  Placement before = make(drives, 7);
  drives[5].state = DriveState::kFailed;
  Placement after = make(drives, 7);
  for (uint64_t key = 0; key < 5000; ++key) {
    auto columns = before.choose(key);
    auto moves = after.plan_moves(key, columns);
    auto lost = std::find(columns.begin(), columns.end(), drives[5].id);
    if (lost == columns.end()) {
      EXPECT_TRUE(moves.empty()) << key;
      continue;
    }
    ASSERT_EQ(moves.size(), 1u) << key;
    EXPECT_EQ(moves[0].column, lost - columns.begin());
    auto replacement = after.replacement(key, columns, moves[0].column);
    ASSERT_OK(replacement);
    EXPECT_EQ(*replacement, moves[0].to);
  }
}

// With several drives per domain a failed drive also lowers its domain's weight, so a full
// rebalance would move some healthy columns too; rebuild replaces only the lost column.
TEST(PlacementTest, ReplacementAvoidsTheStripesOtherDomains) {
  auto drives = cluster(10, 2);
  Placement before = make(drives, 7);
  drives[5].state = DriveState::kFailed;
  Placement after = make(drives, 7);
  auto domain = domains_of(drives);
  int affected = 0, same_domain = 0;
  for (uint64_t key = 0; key < 5000; ++key) {
    auto columns = before.choose(key);
    auto lost = std::find(columns.begin(), columns.end(), drives[5].id);
    if (lost == columns.end()) continue;
    ++affected;
    int column = static_cast<int>(lost - columns.begin());
    auto replacement = after.replacement(key, columns, column);
    ASSERT_OK(replacement);
    EXPECT_NE(*replacement, drives[5].id);
    EXPECT_EQ(*replacement, *after.replacement(key, columns, column));  // Deterministic.
    for (size_t c = 0; c < columns.size(); ++c) {
      if (static_cast<int>(c) != column) {
        EXPECT_NE(domain[columns[c]], domain[*replacement]);
      }
    }
    same_domain += domain[*replacement] == domain[drives[5].id] ? 1 : 0;
  }
  EXPECT_GT(affected, 1000);
  EXPECT_GT(same_domain, 0);  // The failed drive's sibling may take the column back.
}

TEST(PlacementTest, ChoosesDomainAgreesWithChoose) {
  auto drives = cluster(40, 1);
  drives[3].capacity_bytes *= 3;  // Several weight classes.
  drives[17].capacity_bytes /= 2;
  Placement placement = make(drives, 6);
  for (int target = 0; target < 40; target += 7) {
    FailureDomainId domain(target + 1);
    int index = placement.domain_index(domain);
    ASSERT_GE(index, 0);
    for (uint64_t key = 0; key < 3000; ++key) {
      auto chosen = placement.choose(key);
      bool contains = std::find(chosen.begin(), chosen.end(), DriveId(target + 1)) != chosen.end();
      ASSERT_EQ(placement.chooses_domain(key, index), contains) << target << " " << key;
    }
  }
}

TEST(PlacementTest, ClearErrors) {
  auto few = cluster(5, 2);
  auto status = Placement::create(few, 7).status();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("needs 7 failure domains"), std::string_view::npos) << status;
  auto full = cluster(8, 1);
  full[0].has_space = false;  // Only 7 domains with space left: still enough for 7.
  EXPECT_OK(Placement::create(full, 7));
  full[1].state = DriveState::kFailed;
  EXPECT_EQ(Placement::create(full, 7).status().code(), StatusCode::kFailedPrecondition);
  auto twice = cluster(8, 1);
  twice.push_back(twice[0]);
  EXPECT_EQ(Placement::create(twice, 7).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Placement::create(cluster(8, 1), 0).status().code(), StatusCode::kInvalidArgument);
  auto exactly_seven = cluster(7, 1);
  auto columns = make(exactly_seven, 7).choose(1);
  exactly_seven[0].state = DriveState::kFailed;
  exactly_seven.push_back(DriveInfo{DriveId(100), HostId(1), FailureDomainId(1), 4 * kGiB});
  // Domain 1 still has a drive, so the lost column can go there ...
  auto lost = std::find(columns.begin(), columns.end(), DriveId(1)) - columns.begin();
  EXPECT_EQ(*make(exactly_seven, 6).replacement(1, columns, static_cast<int>(lost)), DriveId(100));
  // ... but without it no domain is free of the stripe's other columns.
  exactly_seven.pop_back();
  auto six = make(exactly_seven, 6);
  auto refused = six.replacement(1, columns, static_cast<int>(lost));
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status();
}

TEST(PlacementTest, UsableCapacity) {
  // 8 domains, hot spare 1, 5+2: 100 x 7/8 x 5/7 x 0.98.
  EXPECT_EQ(usable_capacity_bytes(800, 8, 1, 5, 2, 0), 500u);
  EXPECT_EQ(usable_capacity_bytes(800 * kGiB, 8, 1, 5, 2), uint64_t(500 * kGiB * 0.98));
  EXPECT_EQ(usable_capacity_bytes(800, 8, 8, 5, 2), 0u);
  EXPECT_EQ(usable_capacity_bytes(800, 0, 0, 5, 2), 0u);
}

TEST(RebuildOrderTest, MostEndangeredFirst) {
  std::vector<StripeColumns> stripes = {
      {1, {DriveId(1), DriveId(2), DriveId(3)}},  // loses 1
      {2, {DriveId(4), DriveId(5), DriveId(6)}},  // loses 0
      {3, {DriveId(1), DriveId(7), DriveId(8)}},  // loses 2
      {4, {DriveId(1), DriveId(7), DriveId(9)}},  // loses 3
      {5, {DriveId(2), DriveId(3), DriveId(9)}},  // loses 1
  };
  std::vector<DriveId> failed = {DriveId(1), DriveId(7), DriveId(9)};
  auto groups = rebuild_order(stripes, failed, /*parity=*/2);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].lost_columns, 3);
  EXPECT_FALSE(groups[0].recoverable);
  EXPECT_EQ(groups[0].stripes, std::vector<size_t>({3}));
  EXPECT_EQ(groups[1].lost_columns, 2);
  EXPECT_TRUE(groups[1].recoverable);
  EXPECT_EQ(groups[1].stripes, std::vector<size_t>({2}));
  EXPECT_EQ(groups[2].lost_columns, 1);
  EXPECT_EQ(groups[2].stripes, std::vector<size_t>({0, 4}));
}

}  // namespace
}  // namespace tessera
