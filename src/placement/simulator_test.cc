#include "placement/simulator.h"

#include <gtest/gtest.h>

#include "testing/testing.h"

namespace tessera {
namespace {

TEST(PlacementSimulatorTest, SmallClusterMeetsTheAims) {
  PlacementSimOptions options;
  options.backends = 60;
  options.stripes = 60000;
  options.threads = 2;
  auto report = simulate_placement(options);
  ASSERT_OK(report);
  EXPECT_EQ(report->options.add_backends, 6);  // 10% by default.
  EXPECT_EQ(report->failure_domains, 60u);
  EXPECT_LE(report->fill_max_over_mean, 1.10);
  EXPECT_GE(report->fill_min_over_mean, 0.90);
  EXPECT_NEAR(report->ideal_moved_fraction, 6.0 / 66.0, 1e-12);
  EXPECT_LE(report->moved_fraction, 1.1 * report->ideal_moved_fraction);
  EXPECT_GE(report->moved_fraction, 0.9 * report->ideal_moved_fraction);
  EXPECT_DOUBLE_EQ(report->moved_to_new_fraction, 1.0);
  EXPECT_DOUBLE_EQ(report->rebuild_participation, 1.0);
  EXPECT_EQ(report->rebuild_readers, 59u);
  EXPECT_GT(report->rebuild_stripes_affected, 5000u);
  // Exposure to three concurrent failures matches W(W-1)(W-2)/(F(F-1)(F-2)) within sampling.
  EXPECT_NEAR(report->fraction_losing_3_domains, report->expected_fraction_losing_3_domains,
              0.35 * report->expected_fraction_losing_3_domains);
  EXPECT_EQ(report->data_loss_stripes_3_failures, report->stripes_losing_3_domains);
}

TEST(PlacementSimulatorTest, RacksLimitWhoCanHelp) {
  // 40 backends in 10 racks: a stripe never has two columns in one rack, so backend 0's three
  // rack mates never hold its stripes' other columns and cannot be read from.
  PlacementSimOptions options;
  options.backends = 40;
  options.failure_domains = 10;
  options.data_columns = 4;
  options.parity_columns = 2;
  options.stripes = 20000;
  options.threads = 2;
  auto report = simulate_placement(options);
  ASSERT_OK(report);
  EXPECT_EQ(report->failure_domains, 10u);
  EXPECT_EQ(report->rebuild_readers, 36u);
  // Growth makes 4 racks heavier than the rest, so some stripes also move between old drives of
  // the racks they newly pick: more than the new capacity's share, but bounded
  // (docs/architecture.md, section 8.1).
  EXPECT_GT(report->moved_fraction, report->ideal_moved_fraction);
  EXPECT_LE(report->moved_fraction, 1.25 * report->ideal_moved_fraction);
  EXPECT_LT(report->moved_to_new_fraction, 1.0);
}

TEST(PlacementSimulatorTest, RefusesImpossibleClusters) {
  PlacementSimOptions options;
  options.backends = 6;  // 5+2 needs 7 failure domains.
  EXPECT_EQ(simulate_placement(options).status().code(), StatusCode::kInvalidArgument);
  options.backends = 100;
  options.parity_columns = 3;
  EXPECT_EQ(simulate_placement(options).status().code(), StatusCode::kInvalidArgument);
  options.parity_columns = 2;
  options.failure_domains = 5;
  EXPECT_EQ(simulate_placement(options).status().code(), StatusCode::kInvalidArgument);
  options.failure_domains = 0;
  options.failed_domains = {5, 5, 1};
  EXPECT_EQ(simulate_placement(options).status().code(), StatusCode::kInvalidArgument);
  options.failed_domains = {5, 100, 1};  // Domains are 0 to 99.
  EXPECT_EQ(simulate_placement(options).status().code(), StatusCode::kInvalidArgument);
}

TEST(PlacementSimulatorTest, LossFiguresFollowTheGivenDomains) {
  PlacementSimOptions options;
  options.backends = 30;
  options.stripes = 30000;
  options.threads = 2;
  options.failed_domains = {7, 19, 23};
  auto report = simulate_placement(options);
  ASSERT_OK(report);
  // P(a stripe uses two given domains) = W(W-1) / (F(F-1)) for equal weights.
  double expected_2 = 7.0 * 6.0 / (30.0 * 29.0);
  EXPECT_NEAR(report->fraction_losing_2_domains, expected_2, 0.1 * expected_2);
  EXPECT_NEAR(report->fraction_losing_3_domains, report->expected_fraction_losing_3_domains,
              0.2 * report->expected_fraction_losing_3_domains);
}

}  // namespace
}  // namespace tessera
