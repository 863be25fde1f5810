// link against one bucket's state machine.
#include <cerrno>

#include "meta/names.h"
#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

class LinkTest : public NamespaceTest {
 protected:
  proto::MetaResult link(InodeId inode, InodeId new_parent, std::string_view new_name) {
    proto::MetaCommand command;
    proto::MetaLink& op = *command.mutable_link();
    op.set_inode(inode.value());
    op.set_new_parent(new_parent.value());
    op.set_new_name(std::string(new_name));
    return apply(std::move(command));
  }
  // Rewrites an inode's record in place: states (65,000 links, no links) that would take too
  // long or cannot be reached through commands yet.
  void rewrite(const proto::Inode& inode) {
    store_.put(inode_key(kBucket, kFs, InodeId(inode.id())), inode.SerializeAsString());
  }
  static InodeId elsewhere() { return make_inode_id(BucketId(kBucket.value() + 1), 20); }
};

TEST_F(LinkTest, LinkAddsANameAndALink) {
  auto file = mkfile(root_, "a");
  ASSERT_EQ(file.errno_value(), 0);
  auto linked = link(id(file), root_, "b");
  ASSERT_EQ(linked.errno_value(), 0) << linked.message();
  EXPECT_EQ(linked.inode().id(), file.inode().id());
  EXPECT_EQ(linked.inode().nlink(), 2u);
  EXPECT_GT(linked.inode().ctime_ns(), file.inode().ctime_ns());
  EXPECT_EQ(linked.inode().mtime_ns(), file.inode().mtime_ns());
  EXPECT_EQ(getattr(id(file)).inode().SerializeAsString(), linked.inode().SerializeAsString());
  auto found = lookup(root_, "b");
  ASSERT_EQ(found.errno_value(), 0);
  EXPECT_EQ(found.entries(0).inode(), file.inode().id());
  EXPECT_EQ(found.entries(0).type(), proto::FILE_TYPE_REGULAR);
  EXPECT_EQ(lookup(root_, "a").entries(0).inode(), file.inode().id());
}

TEST_F(LinkTest, LinkMovesTheNewParentsTimesButNotItsLinks) {
  auto dir = mkdir(root_, "d");
  auto file = mkfile(root_, "f");
  auto before = getattr(id(dir)).inode();
  auto root_before = getattr(root_).inode();
  ASSERT_EQ(link(id(file), id(dir), "g").errno_value(), 0);
  auto after = getattr(id(dir)).inode();
  EXPECT_GT(after.mtime_ns(), before.mtime_ns());
  EXPECT_GT(after.ctime_ns(), before.ctime_ns());
  EXPECT_EQ(after.nlink(), 2u);
  EXPECT_EQ(getattr(root_).inode().mtime_ns(), root_before.mtime_ns());
  EXPECT_EQ(lookup(id(dir), "g").entries(0).inode(), file.inode().id());
}

TEST_F(LinkTest, TheNewEntryHasTheInodesType) {
  auto target = symlink(root_, "l", "somewhere");
  ASSERT_EQ(link(id(target), root_, "l2").errno_value(), 0);
  EXPECT_EQ(lookup(root_, "l2").entries(0).type(), proto::FILE_TYPE_SYMLINK);
}

TEST_F(LinkTest, ADirectoryCannotBeLinked) {
  auto dir = mkdir(root_, "d");
  EXPECT_EQ(link(id(dir), root_, "d2").errno_value(), EPERM);
  EXPECT_EQ(lookup(root_, "d2").errno_value(), ENOENT);
  EXPECT_EQ(getattr(id(dir)).inode().nlink(), 2u);
}

TEST_F(LinkTest, AnExistingNameIsEEXIST) {
  auto file = mkfile(root_, "a");
  auto other = mkfile(root_, "b");
  EXPECT_EQ(link(id(file), root_, "b").errno_value(), EEXIST);
  EXPECT_EQ(link(id(file), root_, "a").errno_value(), EEXIST);
  EXPECT_EQ(getattr(id(file)).inode().nlink(), 1u);
  EXPECT_EQ(lookup(root_, "b").entries(0).inode(), other.inode().id());
}

TEST_F(LinkTest, AMissingInodeIsENOENT) {
  EXPECT_EQ(link(make_inode_id(kBucket, 999), root_, "x").errno_value(), ENOENT);
  EXPECT_EQ(lookup(root_, "x").errno_value(), ENOENT);
}

TEST_F(LinkTest, AnInodeWithoutLinksCannotGetANameBack) {
  auto file = mkfile(root_, "f");
  proto::Inode unlinked = file.inode();
  unlinked.set_nlink(0);
  rewrite(unlinked);
  EXPECT_EQ(link(id(file), root_, "again").errno_value(), ENOENT);
}

TEST_F(LinkTest, TheLinkLimitIsEMLINK) {
  auto file = mkfile(root_, "f");
  proto::Inode many = file.inode();
  many.set_nlink(kMaxLinks - 1);
  rewrite(many);
  auto last = link(id(file), root_, "last");
  ASSERT_EQ(last.errno_value(), 0) << last.message();
  EXPECT_EQ(last.inode().nlink(), kMaxLinks);
  EXPECT_EQ(link(id(file), root_, "one-too-many").errno_value(), EMLINK);
  EXPECT_EQ(lookup(root_, "one-too-many").errno_value(), ENOENT);
}

TEST_F(LinkTest, AnInodeInAnotherBucketIsCrossBucket) {
  auto linked = link(elsewhere(), root_, "x");
  EXPECT_EQ(linked.errno_value(), EXDEV);
  EXPECT_TRUE(linked.cross_bucket());
}

TEST_F(LinkTest, ADirectoryInAnotherBucketIsCrossBucket) {
  auto file = mkfile(root_, "f");
  auto linked = link(id(file), elsewhere(), "x");
  EXPECT_EQ(linked.errno_value(), EXDEV);
  EXPECT_TRUE(linked.cross_bucket());
  EXPECT_EQ(getattr(id(file)).inode().nlink(), 1u);
}

TEST_F(LinkTest, NamesAreChecked) {
  auto file = mkfile(root_, "f");
  EXPECT_EQ(link(id(file), root_, "").errno_value(), EINVAL);
  EXPECT_EQ(link(id(file), root_, "..").errno_value(), EINVAL);
  EXPECT_EQ(link(id(file), root_, "a/b").errno_value(), EINVAL);
  EXPECT_EQ(link(id(file), root_, std::string(kMaxNameBytes + 1, 'n')).errno_value(), ENAMETOOLONG);
  EXPECT_EQ(getattr(id(file)).inode().nlink(), 1u);
}

TEST_F(LinkTest, TheNewParentMustBeAnExistingDirectory) {
  auto file = mkfile(root_, "f");
  EXPECT_EQ(link(id(file), id(file), "x").errno_value(), ENOTDIR);
  EXPECT_EQ(link(id(file), make_inode_id(kBucket, 999), "x").errno_value(), ENOENT);
}

TEST_F(LinkTest, WithoutWritePermissionOnTheNewParentIsEACCES) {
  auto dir = mkdir(root_, "d", 0755);
  auto file = mkfile(root_, "f", 0666);
  act_as(user(1000, 1000));
  EXPECT_EQ(link(id(file), id(dir), "x").errno_value(), EACCES);
  act_as(proto::Caller());
  EXPECT_EQ(getattr(id(file)).inode().nlink(), 1u);
}

TEST_F(LinkTest, ARetriedLinkAnswersItsFirstResult) {
  auto file = mkfile(root_, "a");
  proto::MetaCommand command;
  command.mutable_link()->set_inode(file.inode().id());
  command.mutable_link()->set_new_parent(root_.value());
  command.mutable_link()->set_new_name("b");
  proto::BucketCommand wrapped = wrap(command, next_request());
  ASSERT_EQ(apply_as_is(wrapped).errno_value(), 0);
  auto retry = apply_as_is(wrapped);
  EXPECT_EQ(retry.errno_value(), 0) << "a retry must not answer EEXIST";
  EXPECT_EQ(retry.inode().nlink(), 2u);
  EXPECT_EQ(getattr(id(file)).inode().nlink(), 2u);
  EXPECT_EQ(link(id(file), root_, "b").errno_value(), EEXIST);
}

}  // namespace
}  // namespace tessera::meta
