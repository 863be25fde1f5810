#include "raft/log_view.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tessera::raft {
namespace {

Entry entry(uint64_t term, uint64_t index, std::string payload = "") {
  return Entry{Term(term), LogIndex(index), EntryType::kCommand, std::move(payload)};
}

std::vector<uint64_t> indexes(const std::vector<Entry>& entries) {
  std::vector<uint64_t> out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.push_back(e.index.value());
  return out;
}

TEST(MemoryLogTest, EmptyLogHasTermZeroAtIndexZero) {
  MemoryLog log;
  EXPECT_EQ(log.snapshot_point(), (EntryId{LogIndex(0), Term(0)}));
  EXPECT_EQ(log.last_index(), LogIndex(0));
  ASSERT_TRUE(log.term(LogIndex(0)).ok());
  EXPECT_EQ(*log.term(LogIndex(0)), Term(0));
  EXPECT_EQ(log.term(LogIndex(1)).status().code(), StatusCode::kOutOfRange);
}

TEST(MemoryLogTest, AppendReadAndOverwriteTail) {
  MemoryLog log;
  log.append({entry(1, 1), entry(1, 2), entry(2, 3)});
  EXPECT_EQ(log.last_index(), LogIndex(3));
  EXPECT_EQ(*log.term(LogIndex(3)), Term(2));
  auto all = log.entries(LogIndex(1), LogIndex(4), 1 << 20);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(indexes(*all), (std::vector<uint64_t>{1, 2, 3}));

  // A conflicting append from index 2 drops 2 and 3.
  log.append({entry(3, 2, "x")});
  EXPECT_EQ(log.last_index(), LogIndex(2));
  EXPECT_EQ(*log.term(LogIndex(2)), Term(3));
  EXPECT_EQ(log.stored().back().payload, "x");
  log.append({});
  EXPECT_EQ(log.last_index(), LogIndex(2));
}

TEST(MemoryLogTest, EntriesStopAtMaxBytesButReturnAtLeastOne) {
  MemoryLog log;
  log.append({entry(1, 1, std::string(100, 'a')), entry(1, 2, std::string(100, 'b')),
              entry(1, 3, std::string(100, 'c'))});
  const uint64_t one = log.stored()[0].size_bytes();  // 132 with the per-entry overhead.
  EXPECT_EQ(indexes(*log.entries(LogIndex(1), LogIndex(4), 1)), (std::vector<uint64_t>{1}));
  EXPECT_EQ(indexes(*log.entries(LogIndex(1), LogIndex(4), 2 * one)),
            (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(indexes(*log.entries(LogIndex(1), LogIndex(4), 2 * one + 1)),
            (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(indexes(*log.entries(LogIndex(2), LogIndex(3), 0)), (std::vector<uint64_t>{2}));
}

TEST(MemoryLogTest, CompactKeepsTheSnapshotPointTerm) {
  MemoryLog log;
  log.append({entry(1, 1), entry(2, 2), entry(2, 3), entry(3, 4)});
  log.compact(LogIndex(2));
  EXPECT_EQ(log.snapshot_point(), (EntryId{LogIndex(2), Term(2)}));
  EXPECT_EQ(log.last_index(), LogIndex(4));
  EXPECT_EQ(*log.term(LogIndex(2)), Term(2));
  EXPECT_EQ(log.term(LogIndex(1)).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(indexes(*log.entries(LogIndex(3), LogIndex(5), 1 << 20)),
            (std::vector<uint64_t>{3, 4}));
  log.compact(LogIndex(1));  // Already compacted: nothing to do.
  EXPECT_EQ(log.snapshot_point().index, LogIndex(2));
  log.compact(LogIndex(4));
  EXPECT_EQ(log.snapshot_point(), (EntryId{LogIndex(4), Term(3)}));
  EXPECT_EQ(log.last_index(), LogIndex(4));
  EXPECT_TRUE(log.stored().empty());
  log.append({entry(3, 5)});
  EXPECT_EQ(log.last_index(), LogIndex(5));
}

TEST(MemoryLogTest, ResetAndTruncate) {
  MemoryLog log;
  log.append({entry(1, 1), entry(1, 2), entry(1, 3)});
  log.truncate_after(LogIndex(1));
  EXPECT_EQ(log.last_index(), LogIndex(1));
  log.truncate_after(LogIndex(5));
  EXPECT_EQ(log.last_index(), LogIndex(1));
  log.reset(EntryId{LogIndex(10), Term(4)});
  EXPECT_EQ(log.last_index(), LogIndex(10));
  EXPECT_EQ(*log.term(LogIndex(10)), Term(4));
  EXPECT_EQ(log.term(LogIndex(9)).status().code(), StatusCode::kOutOfRange);
  log.append({entry(4, 11)});
  EXPECT_EQ(log.last_index(), LogIndex(11));
}

TEST(MemoryLogDeathTest, AppendThatLeavesAGapIsABug) {
  MemoryLog log;
  log.append({entry(1, 1)});
  EXPECT_DEATH(log.append({entry(1, 3)}), "append at 3");
}

}  // namespace
}  // namespace tessera::raft
