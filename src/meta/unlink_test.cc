// unlink and rmdir against one bucket's state machine.
#include <cerrno>

#include "meta/names.h"
#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

class UnlinkTest : public NamespaceTest {
 protected:
  proto::MetaResult unlink(InodeId parent, std::string_view name) {
    return remove(parent, name, /*directory=*/false);
  }
  proto::MetaResult rmdir(InodeId parent, std::string_view name) {
    return remove(parent, name, /*directory=*/true);
  }
  proto::MetaResult link(InodeId inode, InodeId new_parent, std::string_view new_name) {
    proto::MetaCommand command;
    proto::MetaLink& op = *command.mutable_link();
    op.set_inode(inode.value());
    op.set_new_parent(new_parent.value());
    op.set_new_name(std::string(new_name));
    return apply(std::move(command));
  }
  // Xattrs are written straight into the store: what is checked is that they go with the inode.
  void put_xattr(InodeId inode, std::string_view name) {
    store_.put(xattr_key(kBucket, kFs, inode, name), "value");
  }
  size_t xattr_count(InodeId inode) {
    auto& contents = store_.contents();
    auto begin = contents.lower_bound(xattrs_begin(kBucket, kFs, inode));
    auto end = contents.lower_bound(xattrs_end(kBucket, kFs, inode));
    return static_cast<size_t>(std::distance(begin, end));
  }
  // An entry whose inode lives in another bucket (a directory hashed there), which this bucket
  // cannot create by itself.
  void put_remote_entry(InodeId dir, std::string_view name) {
    proto::DirEntry entry;
    entry.set_inode(make_inode_id(BucketId(kBucket.value() + 1), 20).value());
    entry.set_type(proto::FILE_TYPE_DIRECTORY);
    store_.put(entry_key(kBucket, kFs, dir, name), entry.SerializeAsString());
  }
};

TEST_F(UnlinkTest, UnlinkOfTheLastLinkRemovesTheEntryAndReleasesTheInode) {
  auto file = mkfile(root_, "f");
  ASSERT_EQ(file.errno_value(), 0);
  auto removed = unlink(root_, "f");
  ASSERT_EQ(removed.errno_value(), 0) << removed.message();
  EXPECT_EQ(lookup(root_, "f").errno_value(), ENOENT);
  EXPECT_EQ(getattr(id(file)).errno_value(), ENOENT);
  ASSERT_TRUE(removed.has_released());
  EXPECT_EQ(removed.released().id(), file.inode().id());
  EXPECT_EQ(removed.released().nlink(), 0u);
  EXPECT_EQ(removed.released().type(), proto::FILE_TYPE_REGULAR);
}

TEST_F(UnlinkTest, UnlinkOfOneOfTwoLinksKeepsTheInode) {
  auto file = mkfile(root_, "a");
  ASSERT_EQ(link(id(file), root_, "b").errno_value(), 0);
  auto before = getattr(id(file)).inode();
  auto removed = unlink(root_, "a");
  ASSERT_EQ(removed.errno_value(), 0) << removed.message();
  EXPECT_FALSE(removed.has_released());
  auto after = getattr(id(file));
  ASSERT_EQ(after.errno_value(), 0);
  EXPECT_EQ(after.inode().nlink(), 1u);
  EXPECT_GT(after.inode().ctime_ns(), before.ctime_ns());
  EXPECT_EQ(after.inode().mtime_ns(), before.mtime_ns());
  EXPECT_EQ(lookup(root_, "a").errno_value(), ENOENT);
  EXPECT_EQ(lookup(root_, "b").entries(0).inode(), file.inode().id());
}

TEST_F(UnlinkTest, UnlinkMovesTheParentTimesButNotItsLinks) {
  ASSERT_EQ(mkfile(root_, "f").errno_value(), 0);
  auto before = getattr(root_).inode();
  ASSERT_EQ(unlink(root_, "f").errno_value(), 0);
  auto after = getattr(root_).inode();
  EXPECT_GT(after.mtime_ns(), before.mtime_ns());
  EXPECT_GT(after.ctime_ns(), before.ctime_ns());
  EXPECT_EQ(after.nlink(), before.nlink());
}

TEST_F(UnlinkTest, UnlinkErasesTheXattrsOfTheReleasedInodeOnly) {
  auto file = mkfile(root_, "f");
  auto other = mkfile(root_, "other");
  put_xattr(id(file), "user.a");
  put_xattr(id(file), "user.b");
  put_xattr(id(other), "user.a");
  ASSERT_EQ(unlink(root_, "f").errno_value(), 0);
  EXPECT_EQ(xattr_count(id(file)), 0u);
  EXPECT_EQ(xattr_count(id(other)), 1u);
}

TEST_F(UnlinkTest, UnlinkKeepsTheXattrsWhileLinksRemain) {
  auto file = mkfile(root_, "a");
  ASSERT_EQ(link(id(file), root_, "b").errno_value(), 0);
  put_xattr(id(file), "user.a");
  ASSERT_EQ(unlink(root_, "a").errno_value(), 0);
  EXPECT_EQ(xattr_count(id(file)), 1u);
}

TEST_F(UnlinkTest, UnlinkRemovesSymlinksAndSpecialFiles) {
  ASSERT_EQ(symlink(root_, "l", "target").errno_value(), 0);
  ASSERT_EQ(create(root_, "p", proto::FILE_TYPE_FIFO).errno_value(), 0);
  EXPECT_EQ(unlink(root_, "l").released().type(), proto::FILE_TYPE_SYMLINK);
  EXPECT_EQ(unlink(root_, "p").released().type(), proto::FILE_TYPE_FIFO);
  EXPECT_EQ(lookup(root_, "l").errno_value(), ENOENT);
  EXPECT_EQ(lookup(root_, "p").errno_value(), ENOENT);
}

TEST_F(UnlinkTest, RmdirRemovesAnEmptyDirectoryAndItsParentLink) {
  auto dir = mkdir(root_, "d");
  ASSERT_EQ(dir.errno_value(), 0);
  auto before = getattr(root_).inode();
  ASSERT_EQ(before.nlink(), 3u);
  auto removed = rmdir(root_, "d");
  ASSERT_EQ(removed.errno_value(), 0) << removed.message();
  EXPECT_EQ(lookup(root_, "d").errno_value(), ENOENT);
  EXPECT_EQ(getattr(id(dir)).errno_value(), ENOENT);
  EXPECT_EQ(removed.released().id(), dir.inode().id());
  EXPECT_EQ(removed.released().type(), proto::FILE_TYPE_DIRECTORY);
  EXPECT_EQ(removed.released().nlink(), 0u);
  auto after = getattr(root_).inode();
  EXPECT_EQ(after.nlink(), 2u);
  EXPECT_GT(after.mtime_ns(), before.mtime_ns());
  EXPECT_GT(after.ctime_ns(), before.ctime_ns());
}

TEST_F(UnlinkTest, RmdirErasesTheDirectorysXattrs) {
  auto dir = mkdir(root_, "d");
  put_xattr(id(dir), "user.a");
  ASSERT_EQ(rmdir(root_, "d").errno_value(), 0);
  EXPECT_EQ(xattr_count(id(dir)), 0u);
}

TEST_F(UnlinkTest, RmdirOfANonEmptyDirectoryIsENOTEMPTY) {
  auto dir = mkdir(root_, "d");
  ASSERT_EQ(mkfile(id(dir), "f").errno_value(), 0);
  EXPECT_EQ(rmdir(root_, "d").errno_value(), ENOTEMPTY);
  EXPECT_EQ(getattr(id(dir)).errno_value(), 0);
  EXPECT_EQ(getattr(root_).inode().nlink(), 3u);
  ASSERT_EQ(unlink(id(dir), "f").errno_value(), 0);
  EXPECT_EQ(rmdir(root_, "d").errno_value(), 0);
}

TEST_F(UnlinkTest, RmdirOfANonDirectoryIsENOTDIR) {
  ASSERT_EQ(mkfile(root_, "f").errno_value(), 0);
  EXPECT_EQ(rmdir(root_, "f").errno_value(), ENOTDIR);
  EXPECT_EQ(lookup(root_, "f").errno_value(), 0);
}

TEST_F(UnlinkTest, UnlinkOfADirectoryIsEISDIR) {
  auto dir = mkdir(root_, "d");
  EXPECT_EQ(unlink(root_, "d").errno_value(), EISDIR);
  EXPECT_EQ(getattr(id(dir)).errno_value(), 0);
  EXPECT_EQ(getattr(root_).inode().nlink(), 3u);
}

TEST_F(UnlinkTest, AMissingNameIsENOENT) {
  EXPECT_EQ(unlink(root_, "nothing").errno_value(), ENOENT);
  EXPECT_EQ(rmdir(root_, "nothing").errno_value(), ENOENT);
}

TEST_F(UnlinkTest, NamesAreChecked) {
  EXPECT_EQ(unlink(root_, "").errno_value(), EINVAL);
  EXPECT_EQ(unlink(root_, ".").errno_value(), EINVAL);
  EXPECT_EQ(rmdir(root_, "..").errno_value(), EINVAL);
  EXPECT_EQ(unlink(root_, "a/b").errno_value(), EINVAL);
  EXPECT_EQ(unlink(root_, std::string(kMaxNameBytes + 1, 'n')).errno_value(), ENAMETOOLONG);
}

TEST_F(UnlinkTest, ParentMustBeAnExistingLocalDirectory) {
  auto file = mkfile(root_, "f");
  EXPECT_EQ(unlink(id(file), "x").errno_value(), ENOTDIR);
  EXPECT_EQ(unlink(make_inode_id(kBucket, 999), "x").errno_value(), ENOENT);
  auto elsewhere = unlink(make_inode_id(BucketId(kBucket.value() + 1), 20), "x");
  EXPECT_EQ(elsewhere.errno_value(), EXDEV);
  EXPECT_TRUE(elsewhere.cross_bucket());
}

TEST_F(UnlinkTest, AChildInAnotherBucketIsCrossBucket) {
  put_remote_entry(root_, "remote");
  auto removed = rmdir(root_, "remote");
  EXPECT_EQ(removed.errno_value(), EXDEV);
  EXPECT_TRUE(removed.cross_bucket());
  EXPECT_EQ(lookup(root_, "remote").errno_value(), 0);
}

TEST_F(UnlinkTest, WithoutWritePermissionOnTheParentIsEACCES) {
  auto dir = mkdir(root_, "d", 0755);
  ASSERT_EQ(mkfile(id(dir), "f").errno_value(), 0);
  act_as(user(1000, 1000));
  EXPECT_EQ(unlink(id(dir), "f").errno_value(), EACCES);
  EXPECT_EQ(lookup(id(dir), "f").errno_value(), 0);
}

TEST_F(UnlinkTest, AMissingNameIsENOENTEvenWithoutWritePermission) {
  auto dir = mkdir(root_, "d", 0755);
  act_as(user(1000, 1000));
  EXPECT_EQ(unlink(id(dir), "nothing").errno_value(), ENOENT);
}

TEST_F(UnlinkTest, TheStickyBitKeepsOtherUsersEntries) {
  auto tmp = mkdir(root_, "tmp", 01777);
  act_as(user(1000, 1000));
  ASSERT_EQ(mkfile(id(tmp), "mine").errno_value(), 0);
  ASSERT_EQ(mkdir(id(tmp), "mydir").errno_value(), 0);
  act_as(user(1001, 1001));
  EXPECT_EQ(unlink(id(tmp), "mine").errno_value(), EPERM);
  EXPECT_EQ(rmdir(id(tmp), "mydir").errno_value(), EPERM);
  act_as(user(1000, 1000));
  EXPECT_EQ(unlink(id(tmp), "mine").errno_value(), 0);
  EXPECT_EQ(rmdir(id(tmp), "mydir").errno_value(), 0);
}

TEST_F(UnlinkTest, TheStickyBitLetsTheDirectoryOwnerRemoveAnyEntry) {
  auto home = mkdir(root_, "home", 0777);
  act_as(user(1000, 1000));
  auto tmp = mkdir(id(home), "tmp", 01777);
  ASSERT_EQ(tmp.errno_value(), 0);
  act_as(user(1001, 1001));
  ASSERT_EQ(mkfile(id(tmp), "theirs").errno_value(), 0);
  act_as(user(1000, 1000));
  EXPECT_EQ(unlink(id(tmp), "theirs").errno_value(), 0);
}

TEST_F(UnlinkTest, TheStickyBitLetsRootRemoveAnyEntry) {
  auto tmp = mkdir(root_, "tmp", 01777);
  act_as(user(1001, 1001));
  ASSERT_EQ(mkfile(id(tmp), "theirs").errno_value(), 0);
  act_as(user(0, 0));
  EXPECT_EQ(unlink(id(tmp), "theirs").errno_value(), 0);
}

TEST_F(UnlinkTest, ARetriedUnlinkAnswersItsFirstResult) {
  auto file = mkfile(root_, "once");
  proto::MetaCommand command;
  command.mutable_unlink()->set_parent(root_.value());
  command.mutable_unlink()->set_name("once");
  proto::BucketCommand wrapped = wrap(command, next_request());
  auto first = apply_as_is(wrapped);
  ASSERT_EQ(first.errno_value(), 0);
  auto retry = apply_as_is(wrapped);
  EXPECT_EQ(retry.errno_value(), 0) << "a retry must not answer ENOENT";
  EXPECT_EQ(retry.released().id(), file.inode().id());
  EXPECT_EQ(unlink(root_, "once").errno_value(), ENOENT);
}

TEST_F(UnlinkTest, ARetriedRmdirTakesOneParentLinkOnly) {
  ASSERT_EQ(mkdir(root_, "d").errno_value(), 0);
  ASSERT_EQ(mkdir(root_, "e").errno_value(), 0);
  proto::MetaCommand command;
  command.mutable_unlink()->set_parent(root_.value());
  command.mutable_unlink()->set_name("d");
  command.mutable_unlink()->set_directory(true);
  proto::BucketCommand wrapped = wrap(command, next_request());
  ASSERT_EQ(apply_as_is(wrapped).errno_value(), 0);
  EXPECT_EQ(apply_as_is(wrapped).errno_value(), 0);
  EXPECT_EQ(getattr(root_).inode().nlink(), 3u);
}

}  // namespace
}  // namespace tessera::meta
