#include "cli/fsck_command.h"

#include <gtest/gtest.h>

namespace tessera::cli {
namespace {

meta::CheckReport damaged() {
  meta::CheckReport report;
  report.root_exists = true;
  report.passes = 2;
  report.directories = 3;
  report.files = 9;
  report.entries = 13;
  report.inodes_listed = 12;
  report.findings.push_back({meta::FindingKind::kDanglingEntry, InodeId(0x2a), InodeId(0x1), "h",
                             "names a missing inode"});
  report.findings.push_back({meta::FindingKind::kWrongLinkCount, InodeId(0x2b), InodeId(), "",
                             "nlink 3, expected 2 (2 entries)"});
  report.findings_total = 3;
  report.unsettled = 1;
  return report;
}

TEST(FsckCommand, TheTextNamesEveryFindingAndWhatWasNotShown) {
  std::string text = fsck_report_text("alpha", 3, damaged(), false);
  EXPECT_NE(text.find("filesystem alpha (id 3): 3 directories, 9 other inodes, 13 entries; 12 "
                      "inodes in its buckets"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("dangling-entry          entry 'h' of directory 1 -> inode 2a: names a "
                      "missing inode"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("wrong-link-count        inode 2b: nlink 3, expected 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("... and 1 more"), std::string::npos) << text;
  EXPECT_NE(text.find("1 finding of the first pass changed"), std::string::npos) << text;
  EXPECT_NE(text.find("\n3 findings\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("repaired"), std::string::npos) << text;
}

TEST(FsckCommand, ACleanReportSaysClean) {
  meta::CheckReport report;
  report.passes = 1;
  std::string text = fsck_report_text("beta", 4, report, true);
  EXPECT_NE(text.find("no root directory yet (never used), 0 inodes"), std::string::npos) << text;
  EXPECT_NE(text.find("repaired: 0 stale transactions aborted"), std::string::npos) << text;
  EXPECT_TRUE(text.ends_with("\nclean\n")) << text;
}

TEST(FsckCommand, TheJsonDocument) {
  nlohmann::json out = fsck_report_json("alpha", 3, damaged(), true);
  EXPECT_EQ(out["clean"], false);
  EXPECT_EQ(out["findings_total"], 3);
  ASSERT_EQ(out["findings"].size(), 2u);
  EXPECT_EQ(out["findings"][0]["kind"], "dangling-entry");
  EXPECT_EQ(out["findings"][0]["name"], "h");
  EXPECT_EQ(out["findings"][0]["dir"], 1);
  EXPECT_EQ(out["findings"][1]["inode"], 0x2b);
  EXPECT_FALSE(out["findings"][1].contains("name"));
  EXPECT_EQ(out["repaired"]["aborted"], 0);
  EXPECT_EQ(out["unsettled"], 1);
}

}  // namespace
}  // namespace tessera::cli
