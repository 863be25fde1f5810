// Cross-bucket operations end to end on four in-memory buckets: each operation goes to the bucket
// bucket_for() names, as the client library sends it, and, when that bucket answers
// cross_bucket, is planned and run as a transaction (plan.h, txn_runner.h) over a transport that
// calls the buckets' state machines directly. After every test the namespace is checked whole:
// every entry names an existing inode, nlink equals the entries (plus subdirectories), parents
// match, and no lock or intent is left.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <random>
#include <set>

#include "bucket/keys.h"
#include "bucket/kv_state_machine.h"
#include "meta/keys.h"
#include "meta/namespace_handler.h"
#include "meta/plan.h"
#include "meta/routing.h"
#include "meta/txn_recovery.h"
#include "meta/txn_runner.h"
#include "testing/testing.h"

namespace tessera::meta {
namespace {

constexpr uint32_t kBuckets = 4;
constexpr FilesystemId kFs{5};

class MemoryBuckets final : public MetaTransport {
 public:
  MemoryBuckets() {
    for (uint32_t b = 0; b < kBuckets; ++b) {
      machines_.push_back(std::make_unique<bucket::KvStateMachine>(BucketId(b), &handler_));
    }
  }

  Task<Result<proto::MetaResult>> txn(BucketId bucket, proto::MetaTxnCommand command,
                                      Deadline) override {
    proto::BucketCommand wrapped;
    *wrapped.mutable_meta_txn() = std::move(command);
    co_return apply(bucket, std::move(wrapped));
  }
  Task<Result<proto::MetaResult>> read(BucketId bucket, proto::MetaRead read, Deadline) override {
    auto result = machines_.at(bucket.value())->meta_read(store_, read);
    if (!result.ok()) co_return result.status();
    co_return std::move(*result->mutable_meta());
  }
  Result<proto::MetaResult> apply(BucketId bucket, proto::BucketCommand command) {
    command.set_log_time_ms(1000 + ++index_);
    auto result = machines_.at(bucket.value())->apply(store_, index_, command.SerializeAsString());
    if (!result.ok()) return result.status();
    if (result->status_code() != 0) return bucket::status_of(*result);
    return std::move(*result->mutable_meta());
  }

  bucket::MemoryStateStore& store() { return store_; }

 private:
  bucket::MemoryStateStore store_;
  NamespaceHandler handler_;
  std::vector<std::unique_ptr<bucket::KvStateMachine>> machines_;
  uint64_t index_ = 0;
};

class CrossBucketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    proto::MetaCommand command;
    command.mutable_make_root()->set_mode(0755);
    auto root = mutate(command);
    ASSERT_EQ(root.errno_value(), 0);
    root_ = InodeId(root.inode().id());
  }
  void TearDown() override { check_namespace(); }

  // A mutation as the client library runs it.
  proto::MetaResult mutate(proto::MetaCommand command) {
    command.set_fs(kFs.value());
    if (command.has_create() && command.create().type() == proto::FILE_TYPE_DIRECTORY) {
      command.mutable_create()->set_directory_bucket(
          directory_bucket(kFs, InodeId(command.create().parent()), command.create().name(),
                           kBuckets)
              .value());
    }
    uint64_t request = ++request_;
    proto::BucketCommand wrapped;
    wrapped.mutable_header()->set_session(1);
    wrapped.mutable_header()->set_request(request);
    *wrapped.mutable_meta() = command;
    auto first = buckets_.apply(bucket_for(command, kBuckets), wrapped);
    EXPECT_TRUE(first.ok()) << first.status().to_string();
    if (!first.ok() || !first->cross_bucket()) return first.ok() ? *first : proto::MetaResult();
    ++transactions_;
    auto answer = testing::run_task(
        run_cross_bucket(buckets_, kBuckets, command, 1, request, Deadline::never()));
    EXPECT_TRUE(answer.ok()) << answer.status().to_string();
    return answer.ok() ? *answer : proto::MetaResult();
  }
  // A cross-bucket command's single-bucket attempt (it must answer cross_bucket) and its plan,
  // whose begin answers that request: the first half of mutate(), for tests that run the rest
  // step by step.
  Plan attempt_and_plan(proto::MetaCommand command) {
    command.set_fs(kFs.value());
    proto::BucketCommand wrapped;
    wrapped.mutable_header()->set_session(1);
    wrapped.mutable_header()->set_request(++request_);
    *wrapped.mutable_meta() = command;
    auto first = buckets_.apply(bucket_for(command, kBuckets), wrapped);
    EXPECT_TRUE(first.ok() && first->cross_bucket());
    auto plan = testing::run_task(plan_transaction(buckets_, kBuckets, command, Deadline::never()));
    EXPECT_TRUE(plan.ok() && plan->begin.has_value());
    if (!plan.ok() || !plan->begin) return Plan{};
    plan->begin->set_session(1);
    plan->begin->set_request(request_);
    return std::move(*plan);
  }
  proto::MetaResult read(proto::MetaRead read) {
    read.set_fs(kFs.value());
    auto answer = testing::run_task(buckets_.read(bucket_for(read), read, Deadline::never()));
    EXPECT_TRUE(answer.ok());
    return answer.ok() ? *answer : proto::MetaResult();
  }

  proto::MetaResult mkdir(InodeId parent, const std::string& name) {
    proto::MetaCommand command;
    proto::MetaCreate& op = *command.mutable_create();
    op.set_parent(parent.value());
    op.set_name(name);
    op.set_type(proto::FILE_TYPE_DIRECTORY);
    op.set_mode(0755);
    return mutate(command);
  }
  proto::MetaResult mkfile(InodeId parent, const std::string& name) {
    proto::MetaCommand command;
    proto::MetaCreate& op = *command.mutable_create();
    op.set_parent(parent.value());
    op.set_name(name);
    op.set_type(proto::FILE_TYPE_REGULAR);
    op.set_mode(0644);
    op.set_exclusive(true);
    return mutate(command);
  }
  proto::MetaResult remove(InodeId parent, const std::string& name, bool directory) {
    proto::MetaCommand command;
    command.mutable_unlink()->set_parent(parent.value());
    command.mutable_unlink()->set_name(name);
    command.mutable_unlink()->set_directory(directory);
    return mutate(command);
  }
  proto::MetaResult rename(InodeId parent, const std::string& name, InodeId new_parent,
                           const std::string& new_name, uint32_t flags = 0) {
    proto::MetaCommand command;
    proto::MetaRename& op = *command.mutable_rename();
    op.set_parent(parent.value());
    op.set_name(name);
    op.set_new_parent(new_parent.value());
    op.set_new_name(new_name);
    op.set_flags(flags);
    return mutate(command);
  }
  proto::MetaResult link(InodeId inode, InodeId new_parent, const std::string& new_name) {
    proto::MetaCommand command;
    command.mutable_link()->set_inode(inode.value());
    command.mutable_link()->set_new_parent(new_parent.value());
    command.mutable_link()->set_new_name(new_name);
    return mutate(command);
  }
  proto::MetaResult lookup(InodeId parent, const std::string& name) {
    proto::MetaRead op;
    op.mutable_lookup()->set_parent(parent.value());
    op.mutable_lookup()->set_name(name);
    return read(op);
  }
  proto::Inode getattr(InodeId inode) {
    proto::MetaRead op;
    op.mutable_getattr()->set_inode(inode.value());
    auto answer = read(op);
    EXPECT_EQ(answer.errno_value(), 0) << answer.message();
    return answer.inode();
  }
  // A name under `parent` whose new directory lands in another bucket than the parent's.
  std::string remote_name(InodeId parent, const std::string& stem) {
    for (int i = 0;; ++i) {
      std::string name = fmt::format("{}{}", stem, i);
      if (directory_bucket(kFs, parent, name, kBuckets) != bucket_of(parent)) return name;
    }
  }
  static InodeId id(const proto::MetaResult& result) { return InodeId(result.inode().id()); }

  // The checker's rules over the whole store.
  void check_namespace() {
    std::map<uint64_t, proto::Inode> inodes;
    std::map<uint64_t, uint32_t> links;    // Entries naming each inode.
    std::map<uint64_t, uint32_t> subdirs;  // Subdirectories of each directory.
    std::map<uint64_t, uint64_t> parent_of;
    for (const auto& [key, value] : buckets_.store().contents()) {
      char kind = key[4];
      EXPECT_NE(kind, static_cast<char>(bucket::KeyKind::kTxnLock)) << "a lock was left";
      EXPECT_NE(kind, static_cast<char>(bucket::KeyKind::kTxnIntent)) << "an intent was left";
      if (kind == static_cast<char>(bucket::KeyKind::kInode)) {
        proto::Inode inode;
        ASSERT_TRUE(inode.ParseFromString(value));
        inodes[inode.id()] = inode;
      } else if (kind == static_cast<char>(bucket::KeyKind::kDirEntry)) {
        proto::DirEntry entry;
        ASSERT_TRUE(entry.ParseFromString(value));
        uint64_t dir = bucket::key_u64(key, 9);
        ++links[entry.inode()];
        if (entry.type() == proto::FILE_TYPE_DIRECTORY) {
          ++subdirs[dir];
          parent_of[entry.inode()] = dir;
        }
      }
    }
    for (const auto& [inode, count] : links) {
      ASSERT_TRUE(inodes.contains(inode)) << "an entry names missing inode " << inode;
    }
    for (const auto& [id, inode] : inodes) {
      if (inode.type() == proto::FILE_TYPE_DIRECTORY) {
        EXPECT_EQ(inode.nlink(), 2 + subdirs[id]) << "directory " << id;
        if (id != root_.value()) {
          EXPECT_EQ(inode.parent(), parent_of[id]) << "directory " << id;
          EXPECT_EQ(links[id], 1u) << "directory " << id;
        }
      } else {
        EXPECT_EQ(inode.nlink(), links[id]) << "inode " << id;
        EXPECT_GT(links[id], 0u) << "an unreferenced inode " << id;
      }
    }
  }

  MemoryBuckets buckets_;
  InodeId root_;
  uint64_t request_ = 0;
  int transactions_ = 0;
};

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
class DeadDriverTest : public CrossBucketTest {
 protected:
  // Sends the mkdir's single-bucket attempt and begins its transaction; returns the id and
  // the plan.
  std::pair<proto::TxnId, proto::TxnBegin> begin_mkdir(const std::string& name) {
    proto::MetaCommand command;
    command.set_fs(kFs.value());
    proto::MetaCreate& op = *command.mutable_create();
    op.set_parent(root_.value());
    op.set_name(name);
    op.set_type(proto::FILE_TYPE_DIRECTORY);
    op.set_mode(0755);
    op.set_directory_bucket(directory_bucket(kFs, root_, name, kBuckets).value());
    proto::BucketCommand wrapped;
    wrapped.mutable_header()->set_session(1);
    wrapped.mutable_header()->set_request(++request_);
    *wrapped.mutable_meta() = command;
    EXPECT_TRUE(buckets_.apply(bucket_of(root_), wrapped)->cross_bucket());
    auto plan = testing::run_task(plan_transaction(buckets_, kBuckets, command, Deadline::never()));
    EXPECT_TRUE(plan.ok() && plan->begin.has_value());
    proto::TxnBegin begin = *plan->begin;
    begin.set_session(1);
    begin.set_request(request_);
    proto::MetaTxnCommand start;
    start.set_fs(kFs.value());
    *start.mutable_begin() = begin;
    auto pending = testing::run_task(buckets_.txn(bucket_of(root_), start, Deadline::never()));
    EXPECT_TRUE(pending.ok() && pending->has_pending());
    return {pending->pending(), begin};
  }
  proto::MetaResult prepare(const proto::TxnId& id, const proto::TxnPart& part) {
    proto::MetaTxnCommand command;
    command.set_fs(kFs.value());
    *command.mutable_prepare()->mutable_id() = id;
    *command.mutable_prepare()->mutable_part() = part;
    return *testing::run_task(buckets_.txn(BucketId(part.bucket()), command, Deadline::never()));
  }
  void decide(const proto::TxnId& id, uint64_t created) {
    proto::MetaTxnCommand command;
    command.set_fs(kFs.value());
    *command.mutable_decide()->mutable_id() = id;
    command.mutable_decide()->set_commit(true);
    command.mutable_decide()->set_created_inode(created);
    EXPECT_TRUE(testing::run_task(buckets_.txn(bucket_of(root_), command, Deadline::never())).ok());
  }
  // One recovery round on every bucket; the counts summed.
  RecoveryCounts recover_all() {
    RecoveryCounts total;
    for (uint32_t b = 0; b < kBuckets; ++b) {
      auto counts = testing::run_task(
          recover_transactions(buckets_, BucketId(b), UINT64_MAX, Deadline::never()));
      EXPECT_TRUE(counts.ok()) << counts.status().to_string();
      if (!counts.ok()) continue;
      total.aborted += counts->aborted;
      total.finished += counts->finished;
      total.waiting += counts->waiting;
    }
    return total;
  }
};

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
