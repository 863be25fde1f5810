// Namespace tests on four in-memory buckets (tests only): each operation goes to the bucket
// bucket_for() names, as the client library sends it, and, when that bucket answers
// cross_bucket, is planned and run as a transaction (plan.h, txn_runner.h) over a transport that
// calls the buckets' state machines directly. After every test the namespace is checked whole
// from the store: every entry names an existing inode, nlink equals the entries (plus
// subdirectories), parents match, and no lock or intent is left (a test that damages the
// namespace on purpose turns this off).
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

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

inline constexpr uint32_t kBuckets = 4;
inline constexpr FilesystemId kFs{5};

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
  void TearDown() override {
    if (expect_consistent_) check_namespace();
  }

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
    // Usage counters by (bucket, fs): as the inodes add up, and as stored.
    std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, uint64_t>> counted;
    std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, uint64_t>> stored;
    for (const auto& [key, value] : buckets_.store().contents()) {
      char kind = key[4];
      std::pair<uint32_t, uint32_t> bucket_fs{bucket::key_u32(key, 0), bucket::key_u32(key, 5)};
      if (kind == static_cast<char>(bucket::KeyKind::kFilesystemUsage)) {
        proto::FilesystemUsage usage;
        ASSERT_TRUE(usage.ParseFromString(value));
        stored[bucket_fs] = {usage.files(), usage.size_bytes()};
      }
      EXPECT_NE(kind, static_cast<char>(bucket::KeyKind::kTxnLock)) << "a lock was left";
      EXPECT_NE(kind, static_cast<char>(bucket::KeyKind::kTxnIntent)) << "an intent was left";
      if (kind == static_cast<char>(bucket::KeyKind::kInode)) {
        proto::Inode inode;
        ASSERT_TRUE(inode.ParseFromString(value));
        inodes[inode.id()] = inode;
        if (inode.id() != root_.value()) {
          ++counted[bucket_fs].first;
          if (inode.type() == proto::FILE_TYPE_REGULAR) counted[bucket_fs].second += inode.size();
        }
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
    EXPECT_EQ(stored, counted) << "the usage counters (files, bytes by bucket and fs) disagree "
                                  "with the inodes";
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
  bool expect_consistent_ = true;
};

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

}  // namespace tessera::meta
