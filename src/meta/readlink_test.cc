// readlink against one bucket's state machine.
#include <cerrno>
#include <string>

#include "meta/names.h"
#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

class ReadlinkTest : public NamespaceTest {
 protected:
  proto::MetaResult readlink(InodeId inode) {
    proto::MetaRead op;
    op.mutable_readlink()->set_inode(inode.value());
    return read(op);
  }
};

TEST_F(ReadlinkTest, ASymlinkAnswersItsTarget) {
  auto link = symlink(root_, "l", "../some/where");
  ASSERT_EQ(link.errno_value(), 0);
  auto target = readlink(id(link));
  ASSERT_EQ(target.errno_value(), 0) << target.message();
  EXPECT_EQ(target.value(), "../some/where");
}

TEST_F(ReadlinkTest, TheLongestTargetComesBackWhole) {
  std::string longest(kMaxSymlinkBytes, 't');
  auto link = symlink(root_, "l", longest);
  ASSERT_EQ(link.errno_value(), 0);
  EXPECT_EQ(readlink(id(link)).value(), longest);
}

TEST_F(ReadlinkTest, AnyUserReadsALink) {
  auto link = symlink(root_, "l", "target");
  act_as(user(1000, 1000));
  EXPECT_EQ(readlink(id(link)).value(), "target");
}

TEST_F(ReadlinkTest, AFileOrDirectoryIsEINVAL) {
  auto file = mkfile(root_, "f");
  EXPECT_EQ(readlink(id(file)).errno_value(), EINVAL);
  EXPECT_EQ(readlink(root_).errno_value(), EINVAL);
}

TEST_F(ReadlinkTest, AMissingInodeIsENOENTAndOneElsewhereIsCrossBucket) {
  EXPECT_EQ(readlink(make_inode_id(kBucket, 999)).errno_value(), ENOENT);
  auto elsewhere = readlink(make_inode_id(BucketId(8), 20));
  EXPECT_EQ(elsewhere.errno_value(), EXDEV);
  EXPECT_TRUE(elsewhere.cross_bucket());
}

}  // namespace
}  // namespace tessera::meta
