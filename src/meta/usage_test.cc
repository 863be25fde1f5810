// The usage counters (docs/design/2026-12-06-filesystem-usage.md) against one bucket's state
// machine: what each operation adds and takes away, and the read that reports them. The
// cross-bucket tests check the counters against the inodes after every test
// (memory_buckets_test.h), transactions included.
#include <cerrno>
#include <cstdint>
#include <limits>

#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

constexpr uint32_t kSetSize = 8;  // FUSE_SET_ATTR_SIZE

class UsageTest : public NamespaceTest {
 protected:
  proto::MetaResult truncate(InodeId inode, uint64_t size) {
    proto::MetaCommand command;
    command.mutable_setattr()->set_inode(inode.value());
    command.mutable_setattr()->set_valid(kSetSize);
    command.mutable_setattr()->set_size(size);
    return apply(std::move(command));
  }
  // This filesystem's row of the usage read: {files, size_bytes}; {0, 0} when it has none.
  std::pair<uint64_t, uint64_t> usage() {
    proto::MetaRead op;
    op.mutable_usage();
    proto::MetaResult answer = read(op);
    EXPECT_EQ(answer.errno_value(), 0) << answer.message();
    for (const proto::MetaUsageRow& row : answer.usage()) {
      if (row.fs() == kFs.value()) return {row.usage().files(), row.usage().size_bytes()};
    }
    return {0, 0};
  }
};

TEST_F(UsageTest, TheRootAloneCountsNothing) {
  EXPECT_EQ(usage(), std::make_pair(uint64_t{0}, uint64_t{0}));
  // Nothing is stored for an empty filesystem, so a bucket's read lists only filesystems in use.
  proto::MetaRead op;
  op.mutable_usage();
  EXPECT_EQ(read(op).usage_size(), 0);
}

TEST_F(UsageTest, EveryInodeCountsAndRegularFilesAddTheirSize) {
  auto dir = mkdir(root_, "d");
  auto file = mkfile(id(dir), "f");
  ASSERT_EQ(symlink(root_, "l", "a/long/target").errno_value(), 0);
  ASSERT_EQ(create(root_, "fifo", proto::FILE_TYPE_FIFO).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{4}, uint64_t{0}));

  ASSERT_EQ(truncate(id(file), 10'000).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{4}, uint64_t{10'000}));
  ASSERT_EQ(truncate(id(file), 4'000).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{4}, uint64_t{4'000}));

  ASSERT_EQ(remove(id(dir), "f", false).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{3}, uint64_t{0}));
  ASSERT_EQ(remove(root_, "d", true).errno_value(), 0);
  ASSERT_EQ(remove(root_, "l", false).errno_value(), 0);
  ASSERT_EQ(remove(root_, "fifo", false).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{0}, uint64_t{0}));
  EXPECT_FALSE(store_.get(usage_key(kBucket, kFs)).value().has_value()) << "an empty counter kept";
}

TEST_F(UsageTest, AHardLinkIsOneFileUntilItsLastLinkGoes) {
  auto file = mkfile(root_, "f");
  ASSERT_EQ(truncate(id(file), 100).errno_value(), 0);
  proto::MetaCommand command;
  command.mutable_link()->set_inode(id(file).value());
  command.mutable_link()->set_new_parent(root_.value());
  command.mutable_link()->set_new_name("g");
  ASSERT_EQ(apply(command).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{1}, uint64_t{100}));
  ASSERT_EQ(remove(root_, "f", false).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{1}, uint64_t{100}));
  ASSERT_EQ(remove(root_, "g", false).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{0}, uint64_t{0}));
}

TEST_F(UsageTest, ARenameOverAFileUncountsTheReplacedOne) {
  auto a = mkfile(root_, "a");
  auto b = mkfile(root_, "b");
  ASSERT_EQ(truncate(id(a), 7).errno_value(), 0);
  ASSERT_EQ(truncate(id(b), 5).errno_value(), 0);
  proto::MetaCommand command;
  proto::MetaRename& op = *command.mutable_rename();
  op.set_parent(root_.value());
  op.set_name("a");
  op.set_new_parent(root_.value());
  op.set_new_name("b");
  ASSERT_EQ(apply(command).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{1}, uint64_t{7}));
}

// The sizes of a bucket's files are counted in 64 bits: growth past that is refused (EFBIG) and
// changes nothing, rather than wrap the counter.
TEST_F(UsageTest, SizesThatWouldOverflowTheCounterAreRefused) {
  constexpr uint64_t kMaxSize = std::numeric_limits<int64_t>::max();
  auto a = mkfile(root_, "a");
  auto b = mkfile(root_, "b");
  auto c = mkfile(root_, "c");
  ASSERT_EQ(truncate(id(a), kMaxSize).errno_value(), 0);
  ASSERT_EQ(truncate(id(b), kMaxSize).errno_value(), 0);
  EXPECT_EQ(truncate(id(c), 2).errno_value(), EFBIG);
  EXPECT_EQ(getattr(id(c)).inode().size(), 0u);
  ASSERT_EQ(truncate(id(c), 1).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{3}, std::numeric_limits<uint64_t>::max()));
  // Shrinking is always allowed.
  ASSERT_EQ(truncate(id(a), 0).errno_value(), 0);
  EXPECT_EQ(usage(), std::make_pair(uint64_t{3}, kMaxSize + 1));
}

TEST_F(UsageTest, OnlyRootReadsEveryFilesystemsUsage) {
  ASSERT_EQ(mkfile(root_, "f").errno_value(), 0);
  act_as(user(1000, 1000));
  proto::MetaRead op;
  op.mutable_usage();
  EXPECT_EQ(read(op).errno_value(), EPERM);
}

// A counter that disagrees with the inodes (here: removed behind the namespace's back) stops the
// replica rather than wrap below zero.
TEST_F(UsageTest, ACounterBelowZeroIsCorruption) {
  ASSERT_EQ(mkfile(root_, "f").errno_value(), 0);
  store_.erase(usage_key(kBucket, kFs));
  proto::MetaCommand command;
  command.mutable_unlink()->set_parent(root_.value());
  command.mutable_unlink()->set_name("f");
  auto result = machine_.apply(store_, ++index_, wrap(command, next_request()).SerializeAsString());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kCorruption) << result.status().to_string();
}

}  // namespace
}  // namespace tessera::meta
