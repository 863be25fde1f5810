// Merging the hosts' usage reports (docs/design/2026-12-06-filesystem-usage.md 2).
#include "api/filesystem_usage.h"

#include <gtest/gtest.h>

namespace tessera::api {
namespace {

using nlohmann::json;

json replica(uint32_t bucket, uint64_t applied, json filesystems) {
  return {{"bucket", bucket}, {"applied", applied}, {"filesystems", std::move(filesystems)}};
}

json row(uint32_t fs, uint64_t files, uint64_t size_bytes) {
  return {{"id", fs}, {"files", files}, {"size_bytes", size_bytes}};
}

TEST(FilesystemUsageTest, EachBucketCountsOnceFromItsFreshestReplica) {
  HostAnswers answers;
  answers[1] = {{"replicas", json::array({replica(0, 10, json::array({row(7, 3, 100)})),
                                          replica(1, 5, json::array({row(7, 1, 1)}))})}};
  // Host 2 has applied more of bucket 0 (its figure wins) and less of bucket 1.
  answers[2] = {
      {"replicas", json::array({replica(0, 12, json::array({row(7, 4, 150), row(8, 2, 0)})),
                                replica(1, 4, json::array({row(7, 9, 9)}))})}};
  FilesystemUsageTable table =
      merge_filesystem_usage(2, answers, {FilesystemId(7), FilesystemId(8), FilesystemId(9)});
  ASSERT_EQ(table.size(), 3u);
  EXPECT_EQ(table[FilesystemId(7)].files, 5u);
  EXPECT_EQ(table[FilesystemId(7)].used_bytes, 151u);
  EXPECT_EQ(table[FilesystemId(8)].files, 2u);
  EXPECT_EQ(table[FilesystemId(8)].used_bytes, 0u);
  // No bucket holds anything of filesystem 9: known to be empty.
  EXPECT_EQ(table[FilesystemId(9)].files, 0u);
  EXPECT_EQ(table[FilesystemId(9)].used_bytes, 0u);
}

TEST(FilesystemUsageTest, ABucketNoHostReportsMakesEveryFigureUnknown) {
  HostAnswers answers;
  answers[1] = {{"replicas", json::array({replica(0, 10, json::array({row(7, 3, 100)}))})}};
  FilesystemUsageTable table = merge_filesystem_usage(2, answers, {FilesystemId(7)});
  ASSERT_EQ(table.size(), 1u);
  EXPECT_FALSE(table[FilesystemId(7)].files.has_value());
  EXPECT_FALSE(table[FilesystemId(7)].used_bytes.has_value());
  // Nothing at all, or no cluster: unknown too.
  EXPECT_FALSE(merge_filesystem_usage(2, {}, {FilesystemId(7)})[FilesystemId(7)].files);
  EXPECT_FALSE(merge_filesystem_usage(0, {}, {FilesystemId(7)})[FilesystemId(7)].files);
}

// A report from a peer is untrusted: anything malformed is left out (and its bucket counts as
// unreported unless another replica reports it well), never a crash or a wrong sum.
TEST(FilesystemUsageTest, MalformedReportsAreLeftOut) {
  HostAnswers answers;
  answers[1] = {
      {"replicas",
       json::array({replica(0, 10, json::array({row(7, 3, 100)})),
                    replica(1, 99, json::array({{{"id", 7}, {"files", -1}, {"size_bytes", 1}}})),
                    replica(1, 98, "not a list"),
                    json{{"bucket", 1}, {"filesystems", json::array()}},  // No applied.
                    replica(5, 1, json::array()),  // A bucket the map does not have.
                    "not an object"})}};
  answers[2] = json::array();  // Not an object.
  answers[3] = {{"replicas", 3}};
  EXPECT_FALSE(merge_filesystem_usage(2, answers, {FilesystemId(7)})[FilesystemId(7)].files);

  answers[4] = {{"replicas", json::array({replica(1, 1, json::array({row(7, 1, 2)}))})}};
  FilesystemUsageTable table = merge_filesystem_usage(2, answers, {FilesystemId(7)});
  EXPECT_EQ(table[FilesystemId(7)].files, 4u);
  EXPECT_EQ(table[FilesystemId(7)].used_bytes, 102u);
}

}  // namespace
}  // namespace tessera::api
