// The namespace checker on four in-memory buckets (memory_buckets_test.h): clean trees are clean,
// and each kind of damage, made by writing the store directly as a bug would, is found and named;
// a damage that disappears between the two passes is unsettled, not reported; stale intents are
// repaired by recovery.
#include "meta/namespace_check.h"

#include <functional>

#include "meta/memory_buckets_test.h"

namespace tessera::meta {
namespace {

// The buckets, with a hook called before every read (a test changes the namespace mid-check).
class HookedTransport final : public MetaTransport {
 public:
  explicit HookedTransport(MetaTransport& inner) : inner_(inner) {}
  Task<Result<proto::MetaResult>> txn(BucketId bucket, proto::MetaTxnCommand command,
                                      Deadline deadline) override {
    co_return co_await inner_.txn(bucket, std::move(command), deadline);
  }
  Task<Result<proto::MetaResult>> read(BucketId bucket, proto::MetaRead read,
                                       Deadline deadline) override {
    if (before_read) before_read(bucket, read);
    co_return co_await inner_.read(bucket, std::move(read), deadline);
  }
  std::function<void(BucketId, const proto::MetaRead&)> before_read;

 private:
  MetaTransport& inner_;
};

class NamespaceCheckTest : public DeadDriverTest {
 protected:
  CheckReport check(bool repair = false) {
    CheckOptions options;
    options.fs = kFs;
    options.bucket_count = kBuckets;
    // Log times in these buckets are 1000 ms plus the index: an hour later, every intent is old.
    options.unix_ms = [] { return uint64_t{3'600'000}; };
    options.repair = repair;
    options.page = 3;  // Several pages per directory.
    auto report = testing::run_task(meta::check_namespace(transport_, options, Deadline::never()));
    EXPECT_TRUE(report.ok()) << report.status().to_string();
    return report.ok() ? std::move(*report) : CheckReport();
  }
  static uint64_t count(const CheckReport& report, FindingKind kind) {
    return report.findings_by_kind[static_cast<int>(kind)];
  }
  static std::string describe(const CheckReport& report) {
    std::string out;
    for (const Finding& finding : report.findings) out += finding.identity() + "\n";
    return out;
  }

  // A small tree over several buckets: /a (remote) holding f, g (a second link of f) and a
  // subdirectory, /h, and /s a symlink.
  void make_tree() {
    a_ = id(mkdir(root_, remote_name(root_, "a")));
    f_ = id(mkfile(a_, "f"));
    ASSERT_EQ(link(f_, a_, "g").errno_value(), 0);
    sub_ = id(mkdir(a_, remote_name(a_, "sub")));
    h_ = id(mkfile(root_, "h"));
    for (int i = 0; i < 7; ++i) ASSERT_EQ(mkfile(sub_, fmt::format("x{}", i)).errno_value(), 0);
  }

  std::string& stored(const std::string& key) {
    auto& contents = buckets_.store().contents();
    auto found = contents.find(key);
    EXPECT_NE(found, contents.end());
    return found->second;
  }
  void change_inode(InodeId inode, const std::function<void(proto::Inode&)>& change) {
    expect_consistent_ = false;
    std::string& value = stored(inode_key(bucket_of(inode), kFs, inode));
    proto::Inode record;
    ASSERT_TRUE(record.ParseFromString(value));
    change(record);
    value = record.SerializeAsString();
  }
  std::string entry_of(InodeId dir, const std::string& name) {
    return entry_key(bucket_of(dir), kFs, dir, name);
  }

  HookedTransport transport_{buckets_};
  InodeId a_, f_, sub_, h_;
};

TEST_F(NamespaceCheckTest, AFilesystemNeverUsedHasNoRootAndIsClean) {
  buckets_.store().contents().clear();
  CheckReport report = check();
  EXPECT_FALSE(report.root_exists);
  EXPECT_TRUE(report.clean()) << describe(report);
  EXPECT_EQ(report.inodes_listed, 0u);
}

TEST_F(NamespaceCheckTest, ATreeOverSeveralBucketsIsClean) {
  make_tree();
  CheckReport report = check();
  EXPECT_TRUE(report.root_exists);
  EXPECT_TRUE(report.clean()) << describe(report);
  EXPECT_EQ(report.passes, 1u);
  EXPECT_EQ(report.directories, 3u);
  EXPECT_EQ(report.files, 9u);     // f (once), h, x0..x6.
  EXPECT_EQ(report.entries, 12u);  // a, h; f, g, sub; x0..x6.
  EXPECT_EQ(report.inodes_listed, 12u);
}

TEST_F(NamespaceCheckTest, AnEntryWhoseInodeIsGoneIsDangling) {
  make_tree();
  expect_consistent_ = false;
  buckets_.store().erase(inode_key(bucket_of(h_), kFs, h_));
  CheckReport report = check();
  EXPECT_EQ(report.findings_total, 1u) << describe(report);
  ASSERT_EQ(count(report, FindingKind::kDanglingEntry), 1u);
  EXPECT_EQ(report.findings[0].inode, h_);
  EXPECT_EQ(report.findings[0].dir, root_);
  EXPECT_EQ(report.findings[0].name, "h");
  EXPECT_EQ(report.passes, 2u);
}

TEST_F(NamespaceCheckTest, ALinkCountThatIsNotTheEntriesIsWrong) {
  make_tree();
  change_inode(f_, [](proto::Inode& inode) { inode.set_nlink(3); });
  change_inode(sub_, [](proto::Inode& inode) { inode.set_nlink(5); });
  CheckReport report = check();
  EXPECT_EQ(report.findings_total, 2u) << describe(report);
  EXPECT_EQ(count(report, FindingKind::kWrongLinkCount), 2u) << describe(report);
}

TEST_F(NamespaceCheckTest, AFileWithoutEntriesIsUnreachable) {
  make_tree();
  expect_consistent_ = false;
  buckets_.store().erase(entry_of(root_, "h"));
  CheckReport report = check();
  EXPECT_EQ(report.findings_total, 1u) << describe(report);
  ASSERT_EQ(count(report, FindingKind::kUnreachableInode), 1u);
  EXPECT_EQ(report.findings[0].inode, h_);
}

TEST_F(NamespaceCheckTest, ADirectoryWithAnotherParentOrASecondEntryIsFound) {
  make_tree();
  change_inode(sub_, [&](proto::Inode& inode) { inode.set_parent(root_.value()); });
  // A second entry naming `a` inside `sub`: a cycle a -> sub -> a.
  proto::DirEntry loop;
  loop.set_inode(a_.value());
  loop.set_type(proto::FILE_TYPE_DIRECTORY);
  buckets_.store().put(entry_of(sub_, "loop"), loop.SerializeAsString());
  CheckReport report = check();
  EXPECT_EQ(count(report, FindingKind::kWrongParent), 1u) << describe(report);
  EXPECT_EQ(count(report, FindingKind::kDirectoryLinkedTwice), 1u) << describe(report);
  // sub gained a subdirectory entry its nlink does not count.
  EXPECT_EQ(count(report, FindingKind::kWrongLinkCount), 1u) << describe(report);
}

TEST_F(NamespaceCheckTest, AnEntryOfAnotherTypeThanItsInodeIsFound) {
  make_tree();
  expect_consistent_ = false;
  proto::DirEntry wrong;
  wrong.set_inode(h_.value());
  wrong.set_type(proto::FILE_TYPE_SYMLINK);
  stored(entry_of(root_, "h")) = wrong.SerializeAsString();
  CheckReport report = check();
  EXPECT_EQ(report.findings_total, 1u) << describe(report);
  EXPECT_EQ(count(report, FindingKind::kTypeMismatch), 1u) << describe(report);
}

TEST_F(NamespaceCheckTest, DamageUndoneBeforeTheSecondPassIsUnsettled) {
  make_tree();
  std::string key = entry_of(root_, "h");
  std::string value = stored(key);
  buckets_.store().erase(key);
  // The entry comes back after the first pass's walk, as it lists the last bucket's inodes.
  transport_.before_read = [&](BucketId bucket, const proto::MetaRead& read) {
    if (read.has_list_inodes() && bucket == BucketId(kBuckets - 1)) {
      buckets_.store().put(key, value);
      transport_.before_read = nullptr;
    }
  };
  CheckReport report = check();
  EXPECT_EQ(report.passes, 2u);
  EXPECT_TRUE(report.clean()) << describe(report);
  EXPECT_EQ(report.unsettled, 1u);
}

TEST_F(NamespaceCheckTest, OnlyRootListsInodes) {
  make_tree();
  proto::MetaRead list;
  list.set_fs(kFs.value());
  list.mutable_list_inodes()->set_limit(2);
  list.mutable_caller()->set_uid(1000);
  list.mutable_caller()->set_check_permissions(true);
  auto refused = testing::run_task(buckets_.read(bucket_of(sub_), list, Deadline::never()));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->errno_value(), EPERM);
  list.mutable_caller()->set_uid(0);
  auto first = testing::run_task(buckets_.read(bucket_of(sub_), list, Deadline::never()));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->inodes_size(), 2);
  EXPECT_FALSE(first->end());
  EXPECT_LT(first->inodes(0).id(), first->inodes(1).id());
  list.mutable_list_inodes()->set_after(first->inodes(1).id());
  list.mutable_list_inodes()->set_limit(1000);
  auto rest = testing::run_task(buckets_.read(bucket_of(sub_), list, Deadline::never()));
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(rest->end());
  for (const proto::Inode& inode : rest->inodes()) {
    EXPECT_GT(inode.id(), first->inodes(1).id());
    EXPECT_EQ(bucket_of(InodeId(inode.id())), bucket_of(sub_));
  }
}

// A transaction whose driver died holds its locks until recovery: the check lists its intents,
// cannot walk past its locks, and with repair ends it first.
TEST_F(DeadDriverTest, NamespaceCheckRepairsAStaleIntentByRecoveringIt) {
  auto [id, begin] = begin_mkdir(remote_name(root_, "d"));
  ASSERT_TRUE(prepare(id, begin.parts(1)).txn().yes());
  CheckOptions options;
  options.fs = kFs;
  options.bucket_count = kBuckets;
  options.lock_wait = std::chrono::milliseconds(50);
  options.unix_ms = [] { return uint64_t{1000}; };  // Written "now": not stale yet.
  auto fresh = testing::run_task(meta::check_namespace(buckets_, options, Deadline::never()));
  ASSERT_FALSE(fresh.ok());
  EXPECT_EQ(fresh.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(fresh.status().message().find("stale"), std::string::npos) << fresh.status().message();

  options.unix_ms = [] { return uint64_t{3'600'000}; };
  auto stale = testing::run_task(meta::check_namespace(buckets_, options, Deadline::never()));
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.status().message().find("2 stale intents"), std::string::npos)
      << stale.status().message();

  options.repair = true;
  auto repaired = testing::run_task(meta::check_namespace(buckets_, options, Deadline::never()));
  ASSERT_TRUE(repaired.ok()) << repaired.status().to_string();
  // The coordinator's PREPARING intent and the participant's PREPARED one, both ended.
  EXPECT_EQ(repaired->findings_by_kind[static_cast<int>(FindingKind::kStaleIntent)], 2u);
  EXPECT_EQ(repaired->findings_total, 2u);
  EXPECT_EQ(repaired->repaired.aborted, 1u);
  options.repair = false;
  auto after = testing::run_task(meta::check_namespace(buckets_, options, Deadline::never()));
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->clean());
}

}  // namespace
}  // namespace tessera::meta
