// setattr (chmod, chown, truncate, utimensat) against one bucket's state machine.
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <string_view>

#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

// MetaSetattr.valid: FUSE_SET_ATTR_* of <fuse_lowlevel.h>, written out so that the bucket moving
// away from FUSE's numbers fails these tests.
constexpr uint32_t kMode = 1;
constexpr uint32_t kUid = 2;
constexpr uint32_t kGid = 4;
constexpr uint32_t kSize = 8;
constexpr uint32_t kAtime = 16;
constexpr uint32_t kMtime = 32;
constexpr uint32_t kAtimeNow = 128;
constexpr uint32_t kMtimeNow = 256;
constexpr uint32_t kCtime = 1024;

class SetattrTest : public NamespaceTest {
 protected:
  void SetUp() override {
    NamespaceTest::SetUp();
    shared_ = id(mkdir(root_, "shared", 0777));
  }

  static proto::MetaCommand command_for(InodeId inode, uint32_t valid) {
    proto::MetaCommand command;
    command.mutable_setattr()->set_inode(inode.value());
    command.mutable_setattr()->set_valid(valid);
    return command;
  }
  proto::MetaResult chmod(InodeId inode, uint32_t mode) {
    proto::MetaCommand command = command_for(inode, kMode);
    command.mutable_setattr()->set_mode(mode);
    return apply(command);
  }
  proto::MetaResult chown(InodeId inode, uint32_t uid, uint32_t gid) {
    proto::MetaCommand command = command_for(inode, kUid | kGid);
    command.mutable_setattr()->set_uid(uid);
    command.mutable_setattr()->set_gid(gid);
    return apply(command);
  }
  proto::MetaResult chown_uid(InodeId inode, uint32_t uid) {
    proto::MetaCommand command = command_for(inode, kUid);
    command.mutable_setattr()->set_uid(uid);
    return apply(command);
  }
  proto::MetaResult chgrp(InodeId inode, uint32_t gid) {
    proto::MetaCommand command = command_for(inode, kGid);
    command.mutable_setattr()->set_gid(gid);
    return apply(command);
  }
  proto::MetaResult truncate(InodeId inode, uint64_t size) {
    proto::MetaCommand command = command_for(inode, kSize);
    command.mutable_setattr()->set_size(size);
    return apply(command);
  }
  proto::MetaResult utimes(InodeId inode, int64_t atime_ns, int64_t mtime_ns) {
    proto::MetaCommand command = command_for(inode, kAtime | kMtime);
    command.mutable_setattr()->set_atime_ns(atime_ns);
    command.mutable_setattr()->set_mtime_ns(mtime_ns);
    return apply(command);
  }
  // utimensat(NULL) as FUSE sends it: each time with its NOW bit.
  proto::MetaResult touch_now(InodeId inode) {
    return apply(command_for(inode, kAtime | kMtime | kAtimeNow | kMtimeNow));
  }

  // A file of uid 1000 and gid 1000, created by that user; the caller stays root.
  InodeId users_file(std::string_view name, uint32_t mode) {
    act_as(user(1000, 1000));
    auto made = mkfile(shared_, name, mode);
    act_as(proto::Caller());
    EXPECT_EQ(made.errno_value(), 0) << made.message();
    return id(made);
  }
  // A file of root with `mode`, set-id bits included.
  InodeId roots_file(std::string_view name, uint32_t mode) {
    auto made = mkfile(shared_, name, mode);
    EXPECT_EQ(made.errno_value(), 0) << made.message();
    return id(made);
  }
  static proto::Caller user_in(uint32_t uid, uint32_t gid, uint32_t group) {
    proto::Caller caller = user(uid, gid);
    caller.add_groups(group);
    return caller;
  }
  proto::Inode attributes(InodeId inode) { return getattr(inode).inode(); }

  InodeId shared_;
};

TEST_F(SetattrTest, ChmodKeepsOnlyPermissionBitsAndMovesCtime) {
  InodeId file = roots_file("f", 0644);
  proto::Inode before = attributes(file);
  auto changed = chmod(file, S_IFREG | 04751);
  ASSERT_EQ(changed.errno_value(), 0) << changed.message();
  EXPECT_EQ(changed.inode().mode(), 04751u);
  EXPECT_GT(changed.inode().ctime_ns(), before.ctime_ns());
  EXPECT_EQ(changed.inode().mtime_ns(), before.mtime_ns());
  EXPECT_EQ(attributes(file).SerializeAsString(), changed.inode().SerializeAsString());
}

TEST_F(SetattrTest, TheOwnerMayChmod) {
  InodeId file = users_file("f", 0644);
  act_as(user(1000, 1000));
  auto changed = chmod(file, 0600);
  ASSERT_EQ(changed.errno_value(), 0) << changed.message();
  EXPECT_EQ(attributes(file).mode(), 0600u);
}

TEST_F(SetattrTest, AnotherUserMayNotChmod) {
  InodeId file = users_file("f", 0666);
  act_as(user(1001, 1000));
  EXPECT_EQ(chmod(file, 0777).errno_value(), EPERM);
  EXPECT_EQ(attributes(file).mode(), 0666u);
}

TEST_F(SetattrTest, RootWithChecksMayChmodAnyFile) {
  InodeId file = users_file("f", 0600);
  act_as(user(0, 0));
  ASSERT_EQ(chmod(file, 0640).errno_value(), 0);
  EXPECT_EQ(attributes(file).mode(), 0640u);
}

TEST_F(SetattrTest, ChmodDropsSetGroupIdWhenTheOwnerIsNotInTheGroup) {
  InodeId file = users_file("f", 0755);
  ASSERT_EQ(chgrp(file, 2000).errno_value(), 0);
  act_as(user(1000, 1000));
  auto changed = chmod(file, 02755);
  ASSERT_EQ(changed.errno_value(), 0) << changed.message();
  EXPECT_EQ(changed.inode().mode(), 0755u);
}

TEST_F(SetattrTest, ChmodKeepsSetGroupIdForAMemberOfTheGroup) {
  InodeId file = users_file("f", 0755);
  ASSERT_EQ(chgrp(file, 2000).errno_value(), 0);
  act_as(user_in(1000, 1000, 2000));
  ASSERT_EQ(chmod(file, 02755).errno_value(), 0);
  EXPECT_EQ(attributes(file).mode(), 02755u);
}

TEST_F(SetattrTest, RootKeepsSetGroupIdOfAnyGroup) {
  InodeId file = users_file("f", 0755);
  ASSERT_EQ(chgrp(file, 2000).errno_value(), 0);
  act_as(user(0, 0));
  ASSERT_EQ(chmod(file, 02755).errno_value(), 0);
  EXPECT_EQ(attributes(file).mode(), 02755u);
}

TEST_F(SetattrTest, RootChownsToAnyUserAndGroup) {
  InodeId file = roots_file("f", 0644);
  act_as(user(0, 0));
  auto changed = chown(file, 1234, 5678);
  ASSERT_EQ(changed.errno_value(), 0) << changed.message();
  EXPECT_EQ(changed.inode().uid(), 1234u);
  EXPECT_EQ(changed.inode().gid(), 5678u);
  EXPECT_EQ(attributes(file).uid(), 1234u);
}

TEST_F(SetattrTest, OnlyRootGivesAFileAway) {
  InodeId file = users_file("f", 0644);
  act_as(user(1000, 1000));
  EXPECT_EQ(chown_uid(file, 1001).errno_value(), EPERM);
  EXPECT_EQ(attributes(file).uid(), 1000u);
}

TEST_F(SetattrTest, TheOwnerMayChownToItself) {
  InodeId file = users_file("f", 0644);
  act_as(user(1000, 1000));
  EXPECT_EQ(chown(file, 1000, 1000).errno_value(), 0);
}

TEST_F(SetattrTest, AnotherUserMayNotChownEvenToTheSameOwner) {
  InodeId file = users_file("f", 0644);
  act_as(user(1001, 1000));
  EXPECT_EQ(chown_uid(file, 1000).errno_value(), EPERM);
}

TEST_F(SetattrTest, TheOwnerMayChgrpToAGroupItIsIn) {
  InodeId file = users_file("f", 0644);
  act_as(user_in(1000, 1000, 2000));
  ASSERT_EQ(chgrp(file, 2000).errno_value(), 0);
  EXPECT_EQ(attributes(file).gid(), 2000u);
}

TEST_F(SetattrTest, TheOwnerMayNotChgrpToAGroupItIsNotIn) {
  InodeId file = users_file("f", 0644);
  act_as(user_in(1000, 1000, 2000));
  EXPECT_EQ(chgrp(file, 3000).errno_value(), EPERM);
  EXPECT_EQ(attributes(file).gid(), 1000u);
}

TEST_F(SetattrTest, AMemberOfTheGroupWhoIsNotTheOwnerMayNotChgrp) {
  InodeId file = users_file("f", 0666);
  act_as(user_in(1001, 1000, 2000));
  EXPECT_EQ(chgrp(file, 2000).errno_value(), EPERM);
}

TEST_F(SetattrTest, ChownOfAnExecutableClearsItsSetIdBits) {
  InodeId file = roots_file("f", 06755);
  auto changed = chown(file, 1000, 1000);
  ASSERT_EQ(changed.errno_value(), 0) << changed.message();
  EXPECT_EQ(changed.inode().mode(), 0755u);
}

TEST_F(SetattrTest, ChgrpAloneAlsoClearsSetUserId) {
  InodeId file = roots_file("f", 04755);
  ASSERT_EQ(chgrp(file, 2000).errno_value(), 0);
  EXPECT_EQ(attributes(file).mode(), 0755u);
}

TEST_F(SetattrTest, ChownKeepsSetGroupIdWithoutGroupExecute) {
  // S_ISGID without S_IXGRP marks mandatory locking, not a privilege.
  InodeId file = roots_file("f", 02644);
  ASSERT_EQ(chown(file, 1000, 1000).errno_value(), 0);
  EXPECT_EQ(attributes(file).mode(), 02644u);
}

TEST_F(SetattrTest, ChownOfADirectoryKeepsItsSetGroupId) {
  auto dir = mkdir(root_, "d", 02775);
  ASSERT_EQ(dir.errno_value(), 0);
  ASSERT_EQ(chown(id(dir), 1000, 1000).errno_value(), 0);
  EXPECT_EQ(attributes(id(dir)).mode(), 02775u);
}

TEST_F(SetattrTest, AModeGivenWithAChownCannotKeepSetUserId) {
  InodeId file = roots_file("f", 0755);
  proto::MetaCommand command = command_for(file, kMode | kUid);
  command.mutable_setattr()->set_mode(04755);
  command.mutable_setattr()->set_uid(1000);
  auto changed = apply(command);
  ASSERT_EQ(changed.errno_value(), 0) << changed.message();
  EXPECT_EQ(changed.inode().mode(), 0755u);
  EXPECT_EQ(changed.inode().uid(), 1000u);
}

TEST_F(SetattrTest, TruncateSetsTheSizeMtimeAndCtime) {
  InodeId file = roots_file("f", 0644);
  proto::Inode before = attributes(file);
  auto changed = truncate(file, 1 << 20);
  ASSERT_EQ(changed.errno_value(), 0) << changed.message();
  EXPECT_EQ(changed.inode().size(), 1u << 20);
  EXPECT_GT(changed.inode().mtime_ns(), before.mtime_ns());
  EXPECT_EQ(changed.inode().ctime_ns(), changed.inode().mtime_ns());
  EXPECT_EQ(changed.inode().atime_ns(), before.atime_ns());
  ASSERT_EQ(truncate(file, 10).errno_value(), 0);
  EXPECT_EQ(attributes(file).size(), 10u);
}

TEST_F(SetattrTest, TruncateOfADirectoryIsEISDIR) {
  EXPECT_EQ(truncate(root_, 0).errno_value(), EISDIR);
}

TEST_F(SetattrTest, TruncateOfASymlinkOrFifoIsEINVAL) {
  auto link = symlink(root_, "l", "target");
  auto fifo = create(root_, "p", proto::FILE_TYPE_FIFO);
  EXPECT_EQ(truncate(id(link), 0).errno_value(), EINVAL);
  EXPECT_EQ(truncate(id(fifo), 0).errno_value(), EINVAL);
}

TEST_F(SetattrTest, TruncateBeyondOffTIsEINVAL) {
  InodeId file = roots_file("f", 0644);
  EXPECT_EQ(truncate(file, uint64_t{1} << 63).errno_value(), EINVAL);
  EXPECT_EQ(truncate(file, (uint64_t{1} << 63) - 1).errno_value(), 0);
}

TEST_F(SetattrTest, TruncateNeedsWritePermission) {
  InodeId readonly = users_file("readonly", 0644);
  InodeId writable = users_file("writable", 0666);
  act_as(user(1001, 1001));
  EXPECT_EQ(truncate(readonly, 0).errno_value(), EACCES);
  EXPECT_EQ(truncate(writable, 7).errno_value(), 0);
  EXPECT_EQ(attributes(writable).size(), 7u);
}

TEST_F(SetattrTest, ExplicitTimesAreSetAndCtimeMovesToNow) {
  InodeId file = roots_file("f", 0644);
  proto::Inode before = attributes(file);
  auto changed = utimes(file, 111, 222);
  ASSERT_EQ(changed.errno_value(), 0) << changed.message();
  EXPECT_EQ(changed.inode().atime_ns(), 111);
  EXPECT_EQ(changed.inode().mtime_ns(), 222);
  EXPECT_GT(changed.inode().ctime_ns(), before.ctime_ns());
}

TEST_F(SetattrTest, TheOwnerMaySetExplicitTimes) {
  InodeId file = users_file("f", 0444);
  act_as(user(1000, 1000));
  ASSERT_EQ(utimes(file, 5, 6).errno_value(), 0);
  EXPECT_EQ(attributes(file).mtime_ns(), 6);
}

TEST_F(SetattrTest, ExplicitTimesOfAnotherUsersFileAreEPERMEvenIfWritable) {
  InodeId file = users_file("f", 0666);
  act_as(user(1001, 1001));
  EXPECT_EQ(utimes(file, 5, 6).errno_value(), EPERM);
}

TEST_F(SetattrTest, TouchingSetsEveryTimeToNow) {
  InodeId file = roots_file("f", 0644);
  proto::Inode before = attributes(file);
  auto changed = touch_now(file);
  ASSERT_EQ(changed.errno_value(), 0) << changed.message();
  EXPECT_GT(changed.inode().atime_ns(), before.atime_ns());
  EXPECT_EQ(changed.inode().mtime_ns(), changed.inode().atime_ns());
  EXPECT_EQ(changed.inode().ctime_ns(), changed.inode().atime_ns());
}

TEST_F(SetattrTest, NowWinsOverTheValueSentWithIt) {
  InodeId file = roots_file("f", 0644);
  proto::MetaCommand command = command_for(file, kAtime | kAtimeNow);
  command.mutable_setattr()->set_atime_ns(5);
  auto changed = apply(command);
  ASSERT_EQ(changed.errno_value(), 0);
  EXPECT_EQ(changed.inode().atime_ns(), changed.inode().ctime_ns());
}

TEST_F(SetattrTest, AWriterWhoIsNotTheOwnerMayTouch) {
  InodeId file = users_file("f", 0666);
  act_as(user(1001, 1001));
  EXPECT_EQ(touch_now(file).errno_value(), 0);
}

TEST_F(SetattrTest, TouchingWithoutWritePermissionIsEACCES) {
  InodeId file = users_file("f", 0644);
  act_as(user(1001, 1001));
  EXPECT_EQ(touch_now(file).errno_value(), EACCES);
}

TEST_F(SetattrTest, AnExplicitTimeBesideNowStillNeedsOwnership) {
  InodeId file = users_file("f", 0666);
  act_as(user(1001, 1001));
  proto::MetaCommand command = command_for(file, kAtime | kMtime | kMtimeNow);
  command.mutable_setattr()->set_atime_ns(5);
  EXPECT_EQ(apply(command).errno_value(), EPERM);
}

TEST_F(SetattrTest, AGivenCtimeIsKept) {
  InodeId file = roots_file("f", 0644);
  proto::MetaCommand command = command_for(file, kMode | kCtime);
  command.mutable_setattr()->set_mode(0600);
  command.mutable_setattr()->set_ctime_ns(42);
  auto changed = apply(command);
  ASSERT_EQ(changed.errno_value(), 0);
  EXPECT_EQ(changed.inode().ctime_ns(), 42);
  EXPECT_EQ(attributes(file).ctime_ns(), 42);
}

TEST_F(SetattrTest, ARefusedSetattrChangesNothing) {
  // The size alone would be allowed (the file is writable), the mode is not.
  InodeId file = users_file("f", 0666);
  proto::Inode before = attributes(file);
  act_as(user(1001, 1001));
  proto::MetaCommand command = command_for(file, kSize | kMode);
  command.mutable_setattr()->set_size(100);
  command.mutable_setattr()->set_mode(0777);
  EXPECT_EQ(apply(command).errno_value(), EPERM);
  EXPECT_EQ(attributes(file).SerializeAsString(), before.SerializeAsString());
}

TEST_F(SetattrTest, AMissingInodeIsENOENTAndOneElsewhereIsCrossBucket) {
  EXPECT_EQ(chmod(make_inode_id(kBucket, 999), 0644).errno_value(), ENOENT);
  auto elsewhere = chmod(make_inode_id(BucketId(8), 20), 0644);
  EXPECT_EQ(elsewhere.errno_value(), EXDEV);
  EXPECT_TRUE(elsewhere.cross_bucket());
}

TEST_F(SetattrTest, AnInodeLockedByATransactionMakesTheCallerRetry) {
  InodeId file = roots_file("f", 0644);
  proto::TxnLock held;
  held.mutable_id()->set_coordinator(kBucket.value() + 1);
  store_.put(inode_lock_key(kBucket, kFs, file), held.SerializeAsString());
  auto refused = chmod(file, 0600);
  EXPECT_EQ(refused.errno_value(), EAGAIN);
  EXPECT_TRUE(refused.locked());
  store_.erase(inode_lock_key(kBucket, kFs, file));
  EXPECT_EQ(attributes(file).mode(), 0644u);
}

TEST_F(SetattrTest, ARetriedSetattrAnswersItsFirstResult) {
  InodeId file = roots_file("f", 0644);
  proto::MetaCommand command = command_for(file, kSize);
  command.mutable_setattr()->set_size(10);
  proto::BucketCommand wrapped = wrap(command, next_request());
  auto first = apply_as_is(wrapped);
  ASSERT_EQ(first.errno_value(), 0);
  ASSERT_EQ(truncate(file, 20).errno_value(), 0);
  auto retry = apply_as_is(wrapped);
  EXPECT_EQ(retry.inode().SerializeAsString(), first.inode().SerializeAsString());
  EXPECT_EQ(attributes(file).size(), 20u) << "a retry must not truncate again";
}

}  // namespace
}  // namespace tessera::meta
