// Cross-bucket operations end to end on four in-memory buckets (memory_buckets_test.h), the
// namespace checked whole after each test.
#include "meta/memory_buckets_test.h"

namespace tessera::meta {
namespace {

TEST_F(CrossBucketTest, MkdirPlacesTheDirectoryInItsHashedBucket) {
  std::string name = remote_name(root_, "d");
  auto made = mkdir(root_, name);
  ASSERT_EQ(made.errno_value(), 0) << made.message();
  EXPECT_EQ(transactions_, 1);
  EXPECT_EQ(bucket_of(id(made)), directory_bucket(kFs, root_, name, kBuckets));
  EXPECT_EQ(lookup(root_, name).entries(0).inode(), id(made).value());
  EXPECT_EQ(getattr(id(made)).parent(), root_.value());
  EXPECT_EQ(getattr(root_).nlink(), 3u);
  auto inner = mkfile(id(made), "f");
  EXPECT_EQ(inner.errno_value(), 0);
  EXPECT_EQ(bucket_of(id(inner)), bucket_of(id(made)));
  EXPECT_EQ(mkdir(root_, name).errno_value(), EEXIST);
}

TEST_F(CrossBucketTest, RmdirRemovesAnEmptyDirectoryOnly) {
  std::string name = remote_name(root_, "d");
  InodeId dir = id(mkdir(root_, name));
  ASSERT_EQ(mkfile(dir, "f").errno_value(), 0);
  EXPECT_EQ(remove(root_, name, true).errno_value(), ENOTEMPTY);
  EXPECT_EQ(remove(root_, name, false).errno_value(), EISDIR);
  ASSERT_EQ(remove(dir, "f", false).errno_value(), 0);
  EXPECT_EQ(remove(root_, name, true).errno_value(), 0);
  EXPECT_EQ(lookup(root_, name).errno_value(), ENOENT);
  EXPECT_EQ(getattr(root_).nlink(), 2u);
}

TEST_F(CrossBucketTest, AFileMovesBetweenDirectoriesOfDifferentBuckets) {
  InodeId a = id(mkdir(root_, remote_name(root_, "a")));
  InodeId b;
  for (int i = 0; !b.value() || bucket_of(b) == bucket_of(a); ++i) {
    auto made = mkdir(root_, fmt::format("b{}", i));
    b = id(made);
  }
  InodeId file = id(mkfile(a, "f"));
  ASSERT_EQ(mkfile(b, "old").errno_value(), 0);
  auto moved = rename(a, "f", b, "old");
  ASSERT_EQ(moved.errno_value(), 0) << moved.message();
  EXPECT_EQ(lookup(a, "f").errno_value(), ENOENT);
  EXPECT_EQ(lookup(b, "old").entries(0).inode(), file.value());
  // Then it is linked back into its first directory and unlinked from both.
  ASSERT_EQ(link(file, a, "again").errno_value(), 0);
  EXPECT_EQ(getattr(file).nlink(), 2u);
  ASSERT_EQ(remove(b, "old", false).errno_value(), 0);
  ASSERT_EQ(remove(a, "again", false).errno_value(), 0);
  proto::MetaRead gone;
  gone.mutable_getattr()->set_inode(file.value());
  EXPECT_EQ(read(gone).errno_value(), ENOENT);
}

TEST_F(CrossBucketTest, ADirectoryMovesUnderANewParentButNeverIntoItself) {
  std::string a_name = remote_name(root_, "a");
  InodeId a = id(mkdir(root_, a_name));
  InodeId inner = id(mkdir(a, remote_name(a, "inner")));
  InodeId c = id(mkdir(root_, remote_name(root_, "c")));
  EXPECT_EQ(rename(root_, a_name, inner, "x").errno_value(), EINVAL);
  EXPECT_EQ(rename(root_, a_name, a, "x").errno_value(), EINVAL);
  auto moved = rename(root_, a_name, c, "a");
  ASSERT_EQ(moved.errno_value(), 0) << moved.message();
  EXPECT_EQ(getattr(a).parent(), c.value());
  EXPECT_EQ(getattr(c).nlink(), 3u);
  EXPECT_EQ(getattr(root_).nlink(), 3u);
  EXPECT_EQ(getattr(inner).parent(), a.value());
}

TEST_F(CrossBucketTest, RenameExchangeSwapsTwoEntries) {
  InodeId a = id(mkdir(root_, remote_name(root_, "a")));
  InodeId file = id(mkfile(root_, "f"));
  InodeId other = id(mkfile(a, "g"));
  auto swapped = rename(root_, "f", a, "g", /*RENAME_EXCHANGE=*/2);
  ASSERT_EQ(swapped.errno_value(), 0) << swapped.message();
  EXPECT_EQ(lookup(root_, "f").entries(0).inode(), other.value());
  EXPECT_EQ(lookup(a, "g").entries(0).inode(), file.value());
  EXPECT_EQ(rename(root_, "f", a, "g", /*RENAME_NOREPLACE=*/1).errno_value(), EEXIST);
}

// A client that dies part way: its transaction is left to the buckets' recovery.
TEST_F(DeadDriverTest, APreparedTransactionWithoutItsDriverIsAborted) {
  std::string name = remote_name(root_, "d");
  auto [id, begin] = begin_mkdir(name);
  ASSERT_TRUE(prepare(id, begin.parts(1)).txn().yes());
  EXPECT_TRUE(lookup(root_, name).locked());
  RecoveryCounts counts = recover_all();
  EXPECT_GE(counts.aborted, 1u);
  EXPECT_EQ(lookup(root_, name).errno_value(), ENOENT);
  EXPECT_EQ(mkdir(root_, name).errno_value(), 0) << "the name is free again";
}

TEST_F(DeadDriverTest, ADecidedTransactionWithoutItsDriverIsFinished) {
  std::string name = remote_name(root_, "d");
  auto [id, begin] = begin_mkdir(name);
  auto vote = prepare(id, begin.parts(1));
  ASSERT_TRUE(vote.txn().yes());
  decide(id, vote.txn().created_inode());
  RecoveryCounts counts = recover_all();
  EXPECT_GE(counts.finished, 1u);
  auto found = lookup(root_, name);
  ASSERT_EQ(found.errno_value(), 0);
  EXPECT_EQ(getattr(InodeId(found.entries(0).inode())).type(), proto::FILE_TYPE_DIRECTORY);
}

TEST_F(DeadDriverTest, APrepareAfterTheAbortIsAbortedWhenItsBucketAsks) {
  std::string name = remote_name(root_, "d");
  auto [id, begin] = begin_mkdir(name);
  // Recovery aborts at the coordinator before the prepare lands.
  auto first = testing::run_task(
      recover_transactions(buckets_, bucket_of(root_), UINT64_MAX, Deadline::never()));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->aborted, 1u);
  ASSERT_TRUE(prepare(id, begin.parts(1)).txn().yes());
  RecoveryCounts counts = recover_all();
  EXPECT_EQ(counts.aborted, 1u) << "the participant asked and aborted";
  EXPECT_EQ(lookup(root_, name).errno_value(), ENOENT);
}

// The new directory's inode does not exist in its bucket until the decision reaches it there,
// though the coordinator already names it: until then it answers `locked`, not ENOENT (the
// namespace simulation found a create in such a directory refused).
TEST_F(DeadDriverTest, ACreatedInodeIsLockedUntilItsBucketHearsTheDecision) {
  std::string name = remote_name(root_, "d");
  auto [id, begin] = begin_mkdir(name);
  auto vote = prepare(id, begin.parts(1));
  ASSERT_TRUE(vote.txn().yes());
  InodeId created(vote.txn().created_inode());
  proto::MetaRead stat;
  stat.mutable_getattr()->set_inode(created.value());
  EXPECT_TRUE(read(stat).locked());
  decide(id, created.value());
  EXPECT_EQ(lookup(root_, name).entries(0).inode(), created.value());
  EXPECT_TRUE(read(stat).locked()) << "decided, but not yet finished in the inode's bucket";
  EXPECT_TRUE(mkfile(created, "f").locked());
  EXPECT_GE(recover_all().finished, 1u);
  EXPECT_EQ(read(stat).errno_value(), 0);
  EXPECT_EQ(mkfile(created, "f").errno_value(), 0);
}

// A link being added in another bucket holds the inode: unlinking its last other name waits
// (the simulation found the inode removed under the transaction, which then broke its bucket).
TEST_F(CrossBucketTest, UnlinkWaitsForALinkBeingAddedElsewhere) {
  InodeId a = id(mkdir(root_, remote_name(root_, "a")));
  InodeId file = id(mkfile(root_, "f"));
  ASSERT_NE(bucket_of(a), bucket_of(file));
  proto::MetaCommand command;
  command.mutable_link()->set_inode(file.value());
  command.mutable_link()->set_new_parent(a.value());
  command.mutable_link()->set_new_name("g");
  Plan plan = attempt_and_plan(command);
  ASSERT_TRUE(plan.begin.has_value());
  proto::TxnBegin begin = *plan.begin;
  proto::MetaTxnCommand start;
  start.set_fs(kFs.value());
  *start.mutable_begin() = begin;
  auto pending = testing::run_task(buckets_.txn(bucket_of(a), start, Deadline::never()));
  ASSERT_TRUE(pending.ok() && pending->has_pending());
  proto::MetaTxnCommand prepare;
  prepare.set_fs(kFs.value());
  *prepare.mutable_prepare()->mutable_id() = pending->pending();
  *prepare.mutable_prepare()->mutable_part() = begin.parts(1);
  auto vote = testing::run_task(buckets_.txn(bucket_of(file), prepare, Deadline::never()));
  ASSERT_TRUE(vote.ok() && vote->txn().yes());
  EXPECT_TRUE(remove(root_, "f", false).locked());
  ASSERT_TRUE(testing::run_task(finish_transaction(buckets_, kFs, pending->pending(), begin.parts(),
                                                   /*commit=*/false, Deadline::never()))
                  .ok());
  proto::MetaTxnCommand abort;
  abort.set_fs(kFs.value());
  *abort.mutable_decide()->mutable_id() = pending->pending();
  ASSERT_TRUE(testing::run_task(buckets_.txn(bucket_of(a), abort, Deadline::never())).ok());
  EXPECT_EQ(remove(root_, "f", false).errno_value(), 0);
}

// A plain rename replaces whatever its destination names when it runs: a destination created
// after the plan makes the plan stale (`locked`: plan again), not the rename EEXIST.
TEST_F(CrossBucketTest, ARenameOverANameCreatedAfterItsPlanReplacesIt) {
  InodeId a = id(mkdir(root_, remote_name(root_, "a")));
  InodeId file = id(mkfile(root_, "f"));
  proto::MetaCommand command;
  proto::MetaRename& op = *command.mutable_rename();
  op.set_parent(root_.value());
  op.set_name("f");
  op.set_new_parent(a.value());
  op.set_new_name("g");
  Plan plan = attempt_and_plan(command);
  ASSERT_TRUE(plan.begin.has_value());
  InodeId late = id(mkfile(a, "g"));
  auto stale = testing::run_task(
      run_transaction(buckets_, kFs, *plan.begin, plan.cycle_checks, Deadline::never()));
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(stale->locked()) << stale->ShortDebugString();
  auto moved = rename(root_, "f", a, "g");
  ASSERT_EQ(moved.errno_value(), 0) << moved.message();
  EXPECT_EQ(lookup(a, "g").entries(0).inode(), file.value());
  proto::MetaRead gone;
  gone.mutable_getattr()->set_inode(late.value());
  EXPECT_EQ(read(gone).errno_value(), ENOENT);
}

// Two directory moves planned together, each into the other: the plans' own walks saw no cycle,
// and the second, walking again under the rename lock, refuses (the namespace simulation found
// the cycle committed).
TEST_F(CrossBucketTest, TwoCrossedDirectoryMovesNeverMakeACycle) {
  std::string x_name = remote_name(root_, "x");
  std::string y_name = remote_name(root_, "y");
  InodeId x = id(mkdir(root_, x_name));
  InodeId y = id(mkdir(root_, y_name));
  auto plan_move = [&](const std::string& name, InodeId into) {
    proto::MetaCommand command;
    proto::MetaRename& op = *command.mutable_rename();
    op.set_parent(root_.value());
    op.set_name(name);
    op.set_new_parent(into.value());
    op.set_new_name(name);
    return attempt_and_plan(command);
  };
  Plan x_into_y = plan_move(x_name, y);
  Plan y_into_x = plan_move(y_name, x);
  auto first = testing::run_task(
      run_transaction(buckets_, kFs, *x_into_y.begin, x_into_y.cycle_checks, Deadline::never()));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->errno_value(), 0) << first->message();
  auto second = testing::run_task(
      run_transaction(buckets_, kFs, *y_into_x.begin, y_into_x.cycle_checks, Deadline::never()));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->errno_value(), EINVAL) << second->message();
  EXPECT_EQ(getattr(x).parent(), y.value());
  EXPECT_EQ(getattr(y).parent(), root_.value());
}

// Random operations over a small tree spread over every bucket: the checker's rules hold after
// all of them (TearDown), and every answer is a POSIX one.
TEST_F(CrossBucketTest, RandomOperationsKeepTheNamespaceConsistent) {
  std::mt19937_64 random(7);
  std::vector<InodeId> dirs = {root_};
  const std::vector<std::string> names = {"a", "b", "c", "d", "e"};
  auto pick_dir = [&] { return dirs[random() % dirs.size()]; };
  auto pick_name = [&] { return names[random() % names.size()]; };
  std::set<int> allowed = {0, EEXIST, ENOENT, ENOTDIR, EISDIR, ENOTEMPTY, EINVAL, EPERM};
  for (int step = 0; step < 400; ++step) {
    proto::MetaResult answer;
    switch (random() % 6) {
      case 0: {
        answer = mkdir(pick_dir(), pick_name());
        if (answer.errno_value() == 0) dirs.push_back(id(answer));
        break;
      }
      case 1:
        answer = mkfile(pick_dir(), pick_name());
        break;
      case 2:
        answer = remove(pick_dir(), pick_name(), random() % 2 == 0);
        break;
      case 3:
        answer = rename(pick_dir(), pick_name(), pick_dir(), pick_name(),
                        static_cast<uint32_t>(random() % 3));
        break;
      case 4: {
        auto found = lookup(pick_dir(), pick_name());
        if (found.errno_value() == 0)
          answer = link(InodeId(found.entries(0).inode()), pick_dir(), pick_name());
        break;
      }
      default:
        answer = lookup(pick_dir(), pick_name());
        break;
    }
    ASSERT_TRUE(allowed.contains(answer.errno_value()))
        << "step " << step << ": " << answer.errno_value() << " " << answer.message();
    // Directories removed or moved stay in `dirs`: operations on them answer ENOENT.
  }
  EXPECT_GT(transactions_, 50);
}

}  // namespace
}  // namespace tessera::meta
