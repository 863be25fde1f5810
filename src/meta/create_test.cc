// create, mknod, mkdir, symlink, lookup and getattr against one bucket's state machine.
#include <cerrno>

#include "meta/names.h"
#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

using CreateTest = NamespaceTest;

TEST_F(CreateTest, RootIsADirectoryThatIsItsOwnParent) {
  auto root = getattr(root_);
  ASSERT_EQ(root.errno_value(), 0) << root.message();
  EXPECT_EQ(root.inode().type(), proto::FILE_TYPE_DIRECTORY);
  EXPECT_EQ(root.inode().mode(), 0755u);
  EXPECT_EQ(root.inode().nlink(), 2u);
  EXPECT_EQ(root.inode().parent(), root_.value());
  EXPECT_EQ(root_, make_inode_id(kBucket, kRootInodeSequence));
}

TEST_F(CreateTest, MakeRootAgainAnswersTheExistingRoot) {
  auto file = mkfile(root_, "a");
  ASSERT_EQ(file.errno_value(), 0);
  proto::MetaCommand again;
  again.mutable_make_root()->set_mode(0700);
  auto root = apply(again);
  ASSERT_EQ(root.errno_value(), 0);
  EXPECT_EQ(root.inode().mode(), 0755u);
  EXPECT_EQ(root.inode().mtime_ns(), getattr(root_).inode().mtime_ns());
}

TEST_F(CreateTest, CreatedFileIsFoundWithItsAttributes) {
  auto file = mkfile(root_, "notes.txt", 0640);
  ASSERT_EQ(file.errno_value(), 0) << file.message();
  EXPECT_EQ(bucket_of(id(file)), kBucket);
  EXPECT_GE(sequence_of(id(file)), kFirstInodeSequence);
  EXPECT_EQ(file.inode().type(), proto::FILE_TYPE_REGULAR);
  EXPECT_EQ(file.inode().mode(), 0640u);
  EXPECT_EQ(file.inode().nlink(), 1u);
  EXPECT_EQ(file.inode().size(), 0u);

  auto found = lookup(root_, "notes.txt");
  ASSERT_EQ(found.errno_value(), 0) << found.message();
  ASSERT_EQ(found.entries_size(), 1);
  EXPECT_EQ(found.entries(0).inode(), file.inode().id());
  EXPECT_EQ(found.entries(0).type(), proto::FILE_TYPE_REGULAR);
  EXPECT_EQ(found.entries(0).cookie(), cookie_of("notes.txt"));
  EXPECT_EQ(found.inode().SerializeAsString(), file.inode().SerializeAsString());
  EXPECT_EQ(lookup(root_, "other").errno_value(), ENOENT);
}

TEST_F(CreateTest, EveryCreateGetsANewInode) {
  auto a = mkfile(root_, "a");
  auto b = mkfile(root_, "b");
  auto c = mkdir(root_, "c");
  EXPECT_NE(id(a), id(b));
  EXPECT_NE(id(b), id(c));
  EXPECT_NE(id(a), id(c));
}

TEST_F(CreateTest, ParentTimesMoveAndMkdirCountsALink) {
  auto before = getattr(root_).inode();
  auto dir = mkdir(root_, "d", 0750);
  ASSERT_EQ(dir.errno_value(), 0) << dir.message();
  EXPECT_EQ(dir.inode().nlink(), 2u);
  EXPECT_EQ(dir.inode().parent(), root_.value());
  auto after = getattr(root_).inode();
  EXPECT_EQ(after.nlink(), before.nlink() + 1);
  EXPECT_GT(after.mtime_ns(), before.mtime_ns());
  EXPECT_GT(after.ctime_ns(), before.ctime_ns());
  auto file = mkfile(id(dir), "inner");
  ASSERT_EQ(file.errno_value(), 0);
  EXPECT_EQ(getattr(id(dir)).inode().nlink(), 2u);
}

TEST_F(CreateTest, AnExistingNameIsRefusedOrOpened) {
  auto file = mkfile(root_, "x");
  ASSERT_EQ(file.errno_value(), 0);
  EXPECT_EQ(mkfile(root_, "x").errno_value(), EEXIST);
  EXPECT_EQ(mkdir(root_, "x").errno_value(), EEXIST);
  EXPECT_EQ(create(root_, "x", proto::FILE_TYPE_FIFO).errno_value(), EEXIST);
  auto opened = create(root_, "x", proto::FILE_TYPE_REGULAR, 0600, /*exclusive=*/false);
  ASSERT_EQ(opened.errno_value(), 0);
  EXPECT_EQ(id(opened), id(file));
  EXPECT_EQ(opened.inode().mode(), 0644u);
  ASSERT_EQ(mkdir(root_, "d").errno_value(), 0);
  EXPECT_EQ(create(root_, "d", proto::FILE_TYPE_REGULAR, 0600, false).errno_value(), EISDIR);
}

TEST_F(CreateTest, NamesAreChecked) {
  EXPECT_EQ(mkfile(root_, std::string(kMaxNameBytes, 'n')).errno_value(), 0);
  EXPECT_EQ(mkfile(root_, std::string(kMaxNameBytes + 1, 'n')).errno_value(), ENAMETOOLONG);
  EXPECT_EQ(mkfile(root_, "").errno_value(), EINVAL);
  EXPECT_EQ(mkfile(root_, ".").errno_value(), EINVAL);
  EXPECT_EQ(mkfile(root_, "..").errno_value(), EINVAL);
  EXPECT_EQ(mkfile(root_, "a/b").errno_value(), EINVAL);
  EXPECT_EQ(mkfile(root_, std::string("a\0b", 3)).errno_value(), EINVAL);
  EXPECT_EQ(lookup(root_, std::string(kMaxNameBytes + 1, 'n')).errno_value(), ENAMETOOLONG);
}

TEST_F(CreateTest, ParentMustBeAnExistingLocalDirectory) {
  auto file = mkfile(root_, "f");
  EXPECT_EQ(mkfile(id(file), "child").errno_value(), ENOTDIR);
  EXPECT_EQ(lookup(id(file), "child").errno_value(), ENOTDIR);
  EXPECT_EQ(mkfile(make_inode_id(kBucket, 999), "child").errno_value(), ENOENT);
  auto elsewhere = mkfile(make_inode_id(BucketId(8), 20), "child");
  EXPECT_EQ(elsewhere.errno_value(), EXDEV);
  EXPECT_TRUE(elsewhere.cross_bucket());
}

TEST_F(CreateTest, ADirectoryHashedToAnotherBucketIsCrossBucket) {
  proto::MetaCommand command;
  proto::MetaCreate& op = *command.mutable_create();
  op.set_parent(root_.value());
  op.set_name("elsewhere");
  op.set_type(proto::FILE_TYPE_DIRECTORY);
  op.set_mode(0755);
  op.set_directory_bucket(kBucket.value() + 1);
  auto result = apply(command);
  EXPECT_EQ(result.errno_value(), EXDEV);
  EXPECT_TRUE(result.cross_bucket());
  EXPECT_EQ(lookup(root_, "elsewhere").errno_value(), ENOENT);
}

TEST_F(CreateTest, SpecialFilesKeepTheirTypeAndDevice) {
  proto::MetaCommand command;
  proto::MetaCreate& op = *command.mutable_create();
  op.set_parent(root_.value());
  op.set_name("tty");
  op.set_type(proto::FILE_TYPE_CHAR_DEVICE);
  op.set_mode(0620);
  op.set_rdev_major(4);
  op.set_rdev_minor(1);
  auto device = apply(command);
  ASSERT_EQ(device.errno_value(), 0);
  EXPECT_EQ(getattr(id(device)).inode().rdev_major(), 4u);
  EXPECT_EQ(getattr(id(device)).inode().rdev_minor(), 1u);
  EXPECT_EQ(create(root_, "pipe", proto::FILE_TYPE_FIFO).inode().type(), proto::FILE_TYPE_FIFO);
  EXPECT_EQ(create(root_, "sock", proto::FILE_TYPE_SOCKET).inode().type(), proto::FILE_TYPE_SOCKET);
  EXPECT_EQ(create(root_, "what", proto::FILE_TYPE_UNSPECIFIED).errno_value(), EINVAL);
}

TEST_F(CreateTest, SymlinksKeepTheirTargetWithinLimits) {
  auto link = symlink(root_, "l", "../target");
  ASSERT_EQ(link.errno_value(), 0);
  EXPECT_EQ(link.inode().type(), proto::FILE_TYPE_SYMLINK);
  EXPECT_EQ(link.inode().mode(), 0777u);
  EXPECT_EQ(link.inode().size(), 9u);
  EXPECT_EQ(link.inode().symlink_target(), "../target");
  EXPECT_EQ(symlink(root_, "empty", "").errno_value(), ENOENT);
  EXPECT_EQ(symlink(root_, "long", std::string(kMaxSymlinkBytes + 1, 't')).errno_value(),
            ENAMETOOLONG);
  EXPECT_EQ(symlink(root_, "max", std::string(kMaxSymlinkBytes, 't')).errno_value(), 0);
}

TEST_F(CreateTest, ARetriedCreateAnswersItsFirstResult) {
  proto::MetaCommand command;
  proto::MetaCreate& op = *command.mutable_create();
  op.set_parent(root_.value());
  op.set_name("once");
  op.set_type(proto::FILE_TYPE_REGULAR);
  op.set_mode(0644);
  op.set_exclusive(true);
  proto::BucketCommand wrapped = wrap(command, next_request());
  auto first = apply_as_is(wrapped);
  ASSERT_EQ(first.errno_value(), 0);
  auto retry = apply_as_is(wrapped);
  EXPECT_EQ(retry.errno_value(), 0) << "a retry must not answer EEXIST";
  EXPECT_EQ(id(retry), id(first));
  EXPECT_EQ(mkfile(root_, "once").errno_value(), EEXIST);
}

TEST_F(CreateTest, PermissionsAreCheckedForCallersThatAskForIt) {
  auto dir = mkdir(root_, "private", 0700);
  ASSERT_EQ(dir.errno_value(), 0);
  act_as(user(1000, 1000));
  EXPECT_EQ(mkfile(id(dir), "x").errno_value(), EACCES);
  EXPECT_EQ(lookup(id(dir), "x").errno_value(), EACCES);
  EXPECT_EQ(mkfile(root_, "x").errno_value(), EACCES);  // / is 0755, owned by root.
  act_as(proto::Caller());
  auto shared = mkdir(root_, "shared", 0777);
  act_as(user(1000, 1000));
  auto mine = mkfile(id(shared), "mine");
  ASSERT_EQ(mine.errno_value(), 0);
  EXPECT_EQ(mine.inode().uid(), 1000u);
  EXPECT_EQ(mine.inode().gid(), 1000u);
}

TEST_F(CreateTest, ASetGroupIdDirectoryPassesItsGroupOn) {
  auto dir = mkdir(root_, "team", 02777);
  ASSERT_EQ(dir.errno_value(), 0);
  act_as(user(1000, 1000));
  auto file = mkfile(id(dir), "f");
  auto sub = mkdir(id(dir), "sub");
  EXPECT_EQ(file.inode().gid(), 0u);
  EXPECT_EQ(sub.inode().gid(), 0u);
  EXPECT_NE(sub.inode().mode() & S_ISGID, 0u);
  EXPECT_EQ(file.inode().mode() & S_ISGID, 0u);
}

}  // namespace
}  // namespace tessera::meta
