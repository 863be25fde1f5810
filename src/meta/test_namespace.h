// A test fixture for namespace operations: one bucket's state in memory with the real state
// machine (KvStateMachine + NamespaceHandler), so every mutation goes through the session and
// result table as in a replica, and helpers to build commands. Tests only.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "bucket/kv_state_machine.h"
#include "bucket/state_store.h"
#include "meta/keys.h"
#include "meta/namespace_handler.h"

namespace tessera::meta {

class NamespaceTest : public ::testing::Test {
 protected:
  static constexpr BucketId kBucket{7};
  static constexpr FilesystemId kFs{3};

  NamespaceTest() : machine_(kBucket, &handler_) {}

  void SetUp() override {
    proto::MetaCommand command;
    command.mutable_make_root()->set_mode(0755);
    proto::MetaResult made = apply(command);
    ASSERT_EQ(made.errno_value(), 0) << made.message();
    root_ = InodeId(made.inode().id());
  }

  // The caller of the next commands and reads: root without permission checks by default.
  static proto::Caller user(uint32_t uid, uint32_t gid) {
    proto::Caller caller;
    caller.set_uid(uid);
    caller.set_gid(gid);
    caller.set_check_permissions(true);
    return caller;
  }
  void act_as(const proto::Caller& caller) { caller_ = caller; }

  // Applies a mutation as the next request of the test's session; the clock moves 1 ms a command.
  proto::MetaResult apply(proto::MetaCommand command) {
    proto::BucketCommand bucket_command = wrap(std::move(command), ++request_);
    return apply_as_is(bucket_command);
  }
  // Applies exactly this command again (a retry keeps its request id).
  proto::MetaResult apply_as_is(const proto::BucketCommand& command) {
    auto result = machine_.apply(store_, ++index_, command.SerializeAsString());
    EXPECT_TRUE(result.ok()) << result.status().to_string();
    if (!result.ok()) return {};
    EXPECT_EQ(result->status_code(), 0u) << result->message();
    return result->meta();
  }
  proto::BucketCommand wrap(proto::MetaCommand command, uint64_t request) {
    command.set_fs(kFs.value());
    if (!command.has_caller()) *command.mutable_caller() = caller_;
    proto::BucketCommand bucket_command;
    bucket_command.mutable_header()->set_session(1);
    bucket_command.mutable_header()->set_request(request);
    // The session keeps the results of the last 512 requests (a test retries recent ones), so
    // long tests stay below the bucket's limit on stored results.
    bucket_command.mutable_header()->set_acked_below(request > 512 ? request - 512 : 0);
    bucket_command.set_log_time_ms(1000 + index_);
    *bucket_command.mutable_meta() = std::move(command);
    return bucket_command;
  }
  uint64_t next_request() { return ++request_; }

  proto::MetaResult read(proto::MetaRead read) {
    read.set_fs(kFs.value());
    if (!read.has_caller()) *read.mutable_caller() = caller_;
    auto result = machine_.meta_read(store_, read);
    EXPECT_TRUE(result.ok()) << result.status().to_string();
    if (!result.ok()) return {};
    return result->meta();
  }

  // Shorthands. Each answers the MetaResult (check errno_value).
  proto::MetaResult create(InodeId parent, std::string_view name, proto::FileType type,
                           uint32_t mode = 0644, bool exclusive = true) {
    proto::MetaCommand command;
    proto::MetaCreate& op = *command.mutable_create();
    op.set_parent(parent.value());
    op.set_name(std::string(name));
    op.set_type(type);
    op.set_mode(mode);
    op.set_exclusive(exclusive);
    op.set_directory_bucket(kBucket.value());
    return apply(std::move(command));
  }
  proto::MetaResult mkfile(InodeId parent, std::string_view name, uint32_t mode = 0644) {
    return create(parent, name, proto::FILE_TYPE_REGULAR, mode);
  }
  proto::MetaResult mkdir(InodeId parent, std::string_view name, uint32_t mode = 0755) {
    return create(parent, name, proto::FILE_TYPE_DIRECTORY, mode);
  }
  proto::MetaResult symlink(InodeId parent, std::string_view name, std::string_view target) {
    proto::MetaCommand command;
    proto::MetaCreate& op = *command.mutable_create();
    op.set_parent(parent.value());
    op.set_name(std::string(name));
    op.set_type(proto::FILE_TYPE_SYMLINK);
    op.set_symlink_target(std::string(target));
    return apply(std::move(command));
  }
  // unlink (directory false) or rmdir.
  proto::MetaResult remove(InodeId parent, std::string_view name, bool directory) {
    proto::MetaCommand command;
    proto::MetaUnlink& op = *command.mutable_unlink();
    op.set_parent(parent.value());
    op.set_name(std::string(name));
    op.set_directory(directory);
    return apply(std::move(command));
  }
  proto::MetaResult lookup(InodeId parent, std::string_view name) {
    proto::MetaRead op;
    op.mutable_lookup()->set_parent(parent.value());
    op.mutable_lookup()->set_name(std::string(name));
    return read(std::move(op));
  }
  proto::MetaResult getattr(InodeId inode) {
    proto::MetaRead op;
    op.mutable_getattr()->set_inode(inode.value());
    return read(std::move(op));
  }
  static InodeId id(const proto::MetaResult& result) { return InodeId(result.inode().id()); }

  bucket::MemoryStateStore store_;
  NamespaceHandler handler_;
  bucket::KvStateMachine machine_;
  proto::Caller caller_;
  InodeId root_;
  uint64_t index_ = 1;
  uint64_t request_ = 0;
};

}  // namespace tessera::meta
