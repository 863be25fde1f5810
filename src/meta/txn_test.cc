// Cross-bucket transactions (docs/design/2026-12-05-cross-bucket-transactions.md) on buckets 7
// and 8 of one in-memory store, each with the real state machine. The test plays the driver:
// it sends begin, prepare, decide, finish and forget itself, in orders a real driver may produce
// after crashes and retries, and checks what readers and other writers see at every step.
#include <cerrno>

#include "bucket/keys.h"
#include "meta/keys.h"
#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

constexpr BucketId kOther{8};

class TxnTest : public NamespaceTest {
 protected:
  TxnTest() : other_(kOther, &handler_) {}

  // Runs a transaction command on `bucket` (7: the fixture's own, or 8).
  proto::MetaResult txn(BucketId bucket, proto::MetaTxnCommand command) {
    command.set_fs(kFs.value());
    proto::BucketCommand wrapped;
    wrapped.set_log_time_ms(1000 + ++index_);
    *wrapped.mutable_meta_txn() = std::move(command);
    auto& machine = bucket == kBucket ? machine_ : other_;
    auto result = machine.apply(store_, index_, wrapped.SerializeAsString());
    EXPECT_TRUE(result.ok()) << result.status().to_string();
    if (!result.ok()) return {};
    EXPECT_EQ(result->status_code(), 0u) << result->message();
    return result->meta();
  }
  proto::MetaResult read_in(BucketId bucket, proto::MetaRead read) {
    read.set_fs(kFs.value());
    auto& machine = bucket == kBucket ? machine_ : other_;
    auto result = machine.meta_read(store_, read);
    EXPECT_TRUE(result.ok());
    return result.ok() ? result->meta() : proto::MetaResult();
  }
  proto::MetaResult getattr_in(BucketId bucket, InodeId inode) {
    proto::MetaRead read;
    read.mutable_getattr()->set_inode(inode.value());
    return read_in(bucket, read);
  }
  // A directory in bucket 8 with an entry in the root (bucket 7), made by a committed
  // transaction; returns its inode id.
  InodeId remote_directory(const std::string& name) {
    auto request = start_mkdir(name);
    proto::TxnId id = begin(request, mkdir_parts(name)).pending();
    auto vote = prepare(id, mkdir_parts(name)[1]);
    EXPECT_TRUE(vote.txn().yes());
    decide(id, true, vote.txn().created_inode());
    finish(kOther, id, true);
    forget(id);
    return InodeId(vote.txn().created_inode());
  }

  // The client's request: a mkdir whose directory hashes to bucket 8 (answers cross_bucket).
  uint64_t start_mkdir(const std::string& name) {
    proto::MetaCommand command;
    proto::MetaCreate& op = *command.mutable_create();
    op.set_parent(root_.value());
    op.set_name(name);
    op.set_type(proto::FILE_TYPE_DIRECTORY);
    op.set_mode(0755);
    op.set_directory_bucket(kOther.value());
    uint64_t request = next_request();
    auto first = apply_as_is(wrap(command, request));
    EXPECT_TRUE(first.cross_bucket());
    return request;
  }
  // The plan of that mkdir: the entry and root's link in bucket 7, the inode in bucket 8.
  std::vector<proto::TxnPart> mkdir_parts(const std::string& name) {
    proto::TxnPart coordinator;
    coordinator.set_bucket(kBucket.value());
    proto::TxnEntryChange& entry = *coordinator.add_entries();
    entry.set_dir(root_.value());
    entry.set_name(name);
    entry.set_new_inode_created(true);
    entry.set_new_type(proto::FILE_TYPE_DIRECTORY);
    entry.set_dir_nlink_delta(1);
    proto::TxnPart participant;
    participant.set_bucket(kOther.value());
    proto::Inode& inode = *participant.mutable_create();
    inode.set_type(proto::FILE_TYPE_DIRECTORY);
    inode.set_mode(0755);
    inode.set_nlink(2);
    inode.set_parent(root_.value());
    return {coordinator, participant};
  }
  // rmdir of `name` (directory `dir` in bucket 8) from the root.
  std::vector<proto::TxnPart> rmdir_parts(const std::string& name, InodeId dir) {
    proto::TxnPart coordinator;
    coordinator.set_bucket(kBucket.value());
    proto::TxnEntryChange& entry = *coordinator.add_entries();
    entry.set_dir(root_.value());
    entry.set_name(name);
    entry.set_expect_inode(dir.value());
    entry.set_dir_nlink_delta(-1);
    proto::TxnPart participant;
    participant.set_bucket(kOther.value());
    proto::TxnInodeChange& change = *participant.add_inodes();
    change.set_inode(dir.value());
    change.set_remove_directory(true);
    return {coordinator, participant};
  }
  uint64_t start_rmdir(const std::string& name) {
    proto::MetaCommand command;
    command.mutable_unlink()->set_parent(root_.value());
    command.mutable_unlink()->set_name(name);
    command.mutable_unlink()->set_directory(true);
    uint64_t request = next_request();
    auto first = apply_as_is(wrap(command, request));
    EXPECT_TRUE(first.cross_bucket()) << first.message();
    return request;
  }

  proto::MetaResult begin(uint64_t request, const std::vector<proto::TxnPart>& parts) {
    proto::MetaTxnCommand command;
    proto::TxnBegin& op = *command.mutable_begin();
    op.set_session(1);
    op.set_request(request);
    for (const auto& part : parts) *op.add_parts() = part;
    op.mutable_answer()->mutable_inode()->set_type(proto::FILE_TYPE_DIRECTORY);
    return txn(kBucket, command);
  }
  proto::MetaResult prepare(const proto::TxnId& id, const proto::TxnPart& part) {
    proto::MetaTxnCommand command;
    *command.mutable_prepare()->mutable_id() = id;
    *command.mutable_prepare()->mutable_part() = part;
    return txn(BucketId(part.bucket()), command);
  }
  proto::MetaResult decide(const proto::TxnId& id, bool commit, uint64_t created = 0,
                           int refusal = 0) {
    proto::MetaTxnCommand command;
    *command.mutable_decide()->mutable_id() = id;
    command.mutable_decide()->set_commit(commit);
    command.mutable_decide()->set_created_inode(created);
    if (refusal != 0) command.mutable_decide()->mutable_refusal()->set_errno_value(refusal);
    return txn(kBucket, command);
  }
  proto::MetaResult finish(BucketId bucket, const proto::TxnId& id, bool commit) {
    proto::MetaTxnCommand command;
    *command.mutable_finish()->mutable_id() = id;
    command.mutable_finish()->set_commit(commit);
    return txn(bucket, command);
  }
  proto::MetaResult forget(const proto::TxnId& id) {
    proto::MetaTxnCommand command;
    *command.mutable_forget()->mutable_id() = id;
    return txn(kBucket, command);
  }
  proto::TxnState status(const proto::TxnId& id) {
    proto::MetaRead read;
    *read.mutable_txn_status()->mutable_id() = id;
    return read_in(kBucket, read).txn().state();
  }
  // What the client's request answers now.
  proto::MetaResult answer_of(uint64_t request) {
    auto stored = bucket::stored_result(store_, kBucket, 1, request);
    EXPECT_TRUE(stored.ok() && stored->has_value());
    return stored.ok() && stored->has_value() ? (*stored)->meta() : proto::MetaResult();
  }
  size_t keys_of_kind(BucketId bucket, bucket::KeyKind kind) {
    std::string prefix = bucket::kind_prefix(bucket, kind);
    size_t n = 0;
    for (const auto& [key, value] : store_.contents()) n += key.starts_with(prefix) ? 1 : 0;
    return n;
  }

  bucket::KvStateMachine other_;
};

TEST_F(TxnTest, ACommittedMkdirIsVisibleInBothBucketsAndAnswersTheClient) {
  uint32_t root_links = getattr(root_).inode().nlink();
  uint64_t request = start_mkdir("d");
  auto pending = begin(request, mkdir_parts("d"));
  ASSERT_TRUE(pending.has_pending()) << pending.message();
  EXPECT_TRUE(answer_of(request).has_pending());
  auto vote = prepare(pending.pending(), mkdir_parts("d")[1]);
  ASSERT_TRUE(vote.txn().yes()) << vote.message();
  InodeId created(vote.txn().created_inode());
  EXPECT_EQ(bucket_of(created), kOther);
  EXPECT_EQ(decide(pending.pending(), true, created.value()).txn().state(),
            proto::TXN_STATE_COMMITTED);

  auto answer = answer_of(request);
  EXPECT_EQ(answer.errno_value(), 0);
  EXPECT_EQ(answer.inode().id(), created.value());
  auto found = lookup(root_, "d");
  ASSERT_EQ(found.errno_value(), 0) << found.message();
  EXPECT_EQ(found.entries(0).inode(), created.value());
  EXPECT_FALSE(found.has_inode()) << "the inode is in the other bucket";
  EXPECT_EQ(getattr(root_).inode().nlink(), root_links + 1);
  // The participant has not finished: its new inode is not there yet, and its id is locked
  // until it is (the coordinator's answer names it already).
  EXPECT_TRUE(getattr_in(kOther, created).locked());
  finish(kOther, pending.pending(), true);
  auto inode = getattr_in(kOther, created);
  ASSERT_EQ(inode.errno_value(), 0);
  EXPECT_EQ(inode.inode().type(), proto::FILE_TYPE_DIRECTORY);
  EXPECT_EQ(inode.inode().parent(), root_.value());
  EXPECT_EQ(status(pending.pending()), proto::TXN_STATE_COMMITTED);
  forget(pending.pending());
  EXPECT_EQ(status(pending.pending()), proto::TXN_STATE_UNSPECIFIED);
  EXPECT_EQ(keys_of_kind(kBucket, bucket::KeyKind::kTxnIntent), 0u);
  EXPECT_EQ(keys_of_kind(kOther, bucket::KeyKind::kTxnIntent), 0u);
  EXPECT_EQ(keys_of_kind(kBucket, bucket::KeyKind::kTxnLock), 0u);
  EXPECT_EQ(keys_of_kind(kOther, bucket::KeyKind::kTxnLock), 0u);
}

TEST_F(TxnTest, KeysOfAnUndecidedTransactionAreLockedForReadersAndWriters) {
  uint64_t request = start_mkdir("d");
  proto::TxnId id = begin(request, mkdir_parts("d")).pending();
  auto seen = lookup(root_, "d");
  EXPECT_EQ(seen.errno_value(), EAGAIN);
  EXPECT_TRUE(seen.locked());
  EXPECT_TRUE(mkfile(root_, "d").locked());
  EXPECT_EQ(mkfile(root_, "e").errno_value(), 0) << "other names of the directory are free";
  decide(id, false, 0, EEXIST);
  EXPECT_EQ(lookup(root_, "d").errno_value(), ENOENT);
  EXPECT_EQ(mkfile(root_, "d").errno_value(), 0);
}

TEST_F(TxnTest, EveryStepAskedTwiceAnswersAsTheFirstTime) {
  uint64_t request = start_mkdir("d");
  auto first = begin(request, mkdir_parts("d"));
  auto again = begin(request, mkdir_parts("d"));
  ASSERT_TRUE(again.has_pending());
  EXPECT_EQ(again.pending().begin_index(), first.pending().begin_index())
      << "a second begin for one request joins the first transaction";
  proto::TxnId id = first.pending();
  auto vote = prepare(id, mkdir_parts("d")[1]);
  auto vote_again = prepare(id, mkdir_parts("d")[1]);
  EXPECT_TRUE(vote_again.txn().yes());
  EXPECT_EQ(vote_again.txn().created_inode(), vote.txn().created_inode());
  decide(id, true, vote.txn().created_inode());
  EXPECT_EQ(decide(id, true, vote.txn().created_inode()).txn().state(), proto::TXN_STATE_COMMITTED);
  uint32_t root_links = getattr(root_).inode().nlink();
  EXPECT_EQ(decide(id, false).txn().state(), proto::TXN_STATE_COMMITTED)
      << "a decision cannot be taken back";
  EXPECT_EQ(getattr(root_).inode().nlink(), root_links);
  finish(kOther, id, true);
  auto inode = getattr_in(kOther, InodeId(vote.txn().created_inode()));
  finish(kOther, id, true);
  EXPECT_EQ(getattr_in(kOther, InodeId(vote.txn().created_inode())).inode().SerializeAsString(),
            inode.inode().SerializeAsString());
  forget(id);
  forget(id);
  EXPECT_EQ(answer_of(request).inode().id(), vote.txn().created_inode());
  EXPECT_EQ(begin(request, mkdir_parts("d")).inode().id(), vote.txn().created_inode())
      << "a begin after the end answers the outcome";
}

TEST_F(TxnTest, AParticipantsNoAbortsAndAnswersItsErrno) {
  InodeId dir = remote_directory("d");
  ASSERT_EQ(create(make_inode_id(kOther, 1), "x", proto::FILE_TYPE_REGULAR).errno_value(), EXDEV);
  // Make the directory non-empty: an entry of it in bucket 8, written as that bucket would.
  proto::DirEntry child;
  child.set_inode(make_inode_id(kOther, 500).value());
  child.set_type(proto::FILE_TYPE_REGULAR);
  store_.put(entry_key(kOther, kFs, dir, "child"), child.SerializeAsString());

  uint64_t request = start_rmdir("d");
  proto::TxnId id = begin(request, rmdir_parts("d", dir)).pending();
  auto vote = prepare(id, rmdir_parts("d", dir)[1]);
  EXPECT_FALSE(vote.txn().yes());
  EXPECT_EQ(vote.errno_value(), ENOTEMPTY);
  decide(id, false, 0, vote.errno_value());
  EXPECT_EQ(answer_of(request).errno_value(), ENOTEMPTY);
  EXPECT_EQ(lookup(root_, "d").entries(0).inode(), dir.value());
  EXPECT_EQ(keys_of_kind(kBucket, bucket::KeyKind::kTxnLock), 0u);
  EXPECT_EQ(keys_of_kind(kOther, bucket::KeyKind::kTxnLock), 0u);
  EXPECT_EQ(keys_of_kind(kBucket, bucket::KeyKind::kTxnIntent), 0u);
}

TEST_F(TxnTest, ARemovedDirectoryIsFencedWhilePreparedAndGoneAfter) {
  InodeId dir = remote_directory("d");
  uint32_t root_links = getattr(root_).inode().nlink();
  uint64_t request = start_rmdir("d");
  proto::TxnId id = begin(request, rmdir_parts("d", dir)).pending();
  ASSERT_TRUE(prepare(id, rmdir_parts("d", dir)[1]).txn().yes());
  // A create in the dying directory (its entries live in bucket 8) must wait.
  proto::MetaCommand create_in;
  proto::MetaCreate& op = *create_in.mutable_create();
  op.set_parent(dir.value());
  op.set_name("late");
  op.set_type(proto::FILE_TYPE_REGULAR);
  op.set_mode(0644);
  proto::BucketCommand wrapped = wrap(create_in, next_request());
  auto late = other_.apply(store_, ++index_, wrapped.SerializeAsString());
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->meta().locked()) << late->meta().message();

  decide(id, true);
  finish(kOther, id, true);
  forget(id);
  EXPECT_EQ(answer_of(request).errno_value(), 0);
  EXPECT_EQ(lookup(root_, "d").errno_value(), ENOENT);
  EXPECT_EQ(getattr(root_).inode().nlink(), root_links - 1);
  EXPECT_EQ(getattr_in(kOther, dir).errno_value(), ENOENT);
  wrapped = wrap(create_in, next_request());
  auto after = other_.apply(store_, ++index_, wrapped.SerializeAsString());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->meta().errno_value(), ENOENT);
}

TEST_F(TxnTest, APrepareThatArrivesAfterTheAbortIsAbortedByAskingTheCoordinator) {
  uint64_t request = start_mkdir("d");
  proto::TxnId id = begin(request, mkdir_parts("d")).pending();
  EXPECT_EQ(status(id), proto::TXN_STATE_PREPARING);
  decide(id, false, 0, ETIMEDOUT);  // The coordinator gave up on the participant.
  EXPECT_EQ(answer_of(request).errno_value(), ETIMEDOUT);
  // The delayed prepare lands: the participant prepares, then asks and learns nothing is there.
  ASSERT_TRUE(prepare(id, mkdir_parts("d")[1]).txn().yes());
  EXPECT_EQ(keys_of_kind(kOther, bucket::KeyKind::kTxnIntent), 1u);
  EXPECT_EQ(status(id), proto::TXN_STATE_UNSPECIFIED);
  finish(kOther, id, false);
  EXPECT_EQ(keys_of_kind(kOther, bucket::KeyKind::kTxnIntent), 0u);
  EXPECT_EQ(keys_of_kind(kOther, bucket::KeyKind::kInode), 0u) << "nothing was created";
}

TEST_F(TxnTest, TwoTransactionsOnOneKeyNeverBothPrepare) {
  InodeId dir = remote_directory("d");
  uint64_t first_request = start_rmdir("d");
  proto::TxnId first = begin(first_request, rmdir_parts("d", dir)).pending();
  // A second client's rmdir of the same name: its single-bucket attempt finds the entry locked,
  // and so would its transaction's begin.
  proto::MetaCommand second_rmdir;
  second_rmdir.mutable_unlink()->set_parent(root_.value());
  second_rmdir.mutable_unlink()->set_name("d");
  second_rmdir.mutable_unlink()->set_directory(true);
  EXPECT_TRUE(apply(second_rmdir).locked());
  uint64_t third_request = next_request();
  proto::BucketCommand wrapped = wrap(second_rmdir, third_request);
  wrapped.mutable_meta()->mutable_unlink()->set_name("other");  // Answers ENOENT, stored.
  (void)apply_as_is(wrapped);
  auto stored = bucket::stored_result(store_, kBucket, 1, third_request);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  proto::BucketResult cross = **stored;
  cross.mutable_meta()->set_cross_bucket(true);  // As if it had needed a transaction.
  ASSERT_TRUE(bucket::replace_stored_result(store_, kBucket, 1, third_request, cross).ok());
  auto second = begin(third_request, rmdir_parts("d", dir));
  EXPECT_TRUE(second.locked());
  EXPECT_TRUE(answer_of(third_request).locked()) << "the request answers locked: retry anew";
  ASSERT_TRUE(prepare(first, rmdir_parts("d", dir)[1]).txn().yes());
  decide(first, true);
  finish(kOther, first, true);
  EXPECT_EQ(answer_of(first_request).errno_value(), 0);
}

TEST_F(TxnTest, AStalePlanIsRefusedAsLocked) {
  InodeId dir = remote_directory("d");
  auto parts = rmdir_parts("d", dir);
  parts[0].mutable_entries(0)->set_expect_inode(make_inode_id(kOther, 999).value());
  uint64_t request = start_rmdir("d");
  auto refused = begin(request, parts);
  EXPECT_TRUE(refused.locked()) << refused.message();
  EXPECT_EQ(lookup(root_, "d").entries(0).inode(), dir.value());
}

}  // namespace
}  // namespace tessera::meta
