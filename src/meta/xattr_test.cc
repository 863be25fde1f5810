// setxattr, removexattr, getxattr and listxattr against one bucket's state machine.
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "meta/names.h"
#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

// setxattr flags, as <sys/xattr.h> numbers them.
constexpr uint32_t kCreate = 1;
constexpr uint32_t kReplace = 2;

class XattrTest : public NamespaceTest {
 protected:
  void SetUp() override {
    NamespaceTest::SetUp();
    shared_ = id(mkdir(root_, "shared", 0777));
  }

  static proto::MetaCommand set_command(InodeId inode, std::string_view name,
                                        std::string_view value, uint32_t flags) {
    proto::MetaCommand command;
    proto::MetaSetxattr& op = *command.mutable_setxattr();
    op.set_inode(inode.value());
    op.set_name(std::string(name));
    op.set_value(std::string(value));
    op.set_flags(flags);
    return command;
  }
  proto::MetaResult set(InodeId inode, std::string_view name, std::string_view value,
                        uint32_t flags = 0) {
    return apply(set_command(inode, name, value, flags));
  }
  proto::MetaResult remove(InodeId inode, std::string_view name) {
    proto::MetaCommand command;
    command.mutable_removexattr()->set_inode(inode.value());
    command.mutable_removexattr()->set_name(std::string(name));
    return apply(command);
  }
  proto::MetaResult get(InodeId inode, std::string_view name) {
    proto::MetaRead op;
    op.mutable_getxattr()->set_inode(inode.value());
    op.mutable_getxattr()->set_name(std::string(name));
    return read(op);
  }
  proto::MetaResult list(InodeId inode) {
    proto::MetaRead op;
    op.mutable_listxattr()->set_inode(inode.value());
    return read(op);
  }
  std::vector<std::string> names(InodeId inode) {
    auto listed = list(inode);
    EXPECT_EQ(listed.errno_value(), 0) << listed.message();
    return {listed.names().begin(), listed.names().end()};
  }

  // A file of uid 1000 and gid 1000, created by that user; the caller stays root.
  InodeId users_file(std::string_view name, uint32_t mode) {
    act_as(user(1000, 1000));
    auto made = mkfile(shared_, name, mode);
    act_as(proto::Caller());
    EXPECT_EQ(made.errno_value(), 0) << made.message();
    return id(made);
  }
  InodeId file(std::string_view name) { return id(mkfile(shared_, name)); }

  InodeId shared_;
};

using Names = std::vector<std::string>;

TEST_F(XattrTest, ASetValueIsReadBackByteForByte) {
  InodeId f = file("f");
  std::string value("bin\0ary\xff", 8);
  ASSERT_EQ(set(f, "user.data", value).errno_value(), 0);
  auto got = get(f, "user.data");
  ASSERT_EQ(got.errno_value(), 0) << got.message();
  EXPECT_EQ(got.value(), value);
}

TEST_F(XattrTest, AnEmptyValueIsAValue) {
  InodeId f = file("f");
  ASSERT_EQ(set(f, "user.flag", "").errno_value(), 0);
  auto got = get(f, "user.flag");
  EXPECT_EQ(got.errno_value(), 0);
  EXPECT_EQ(got.value(), "");
}

TEST_F(XattrTest, SetWithoutFlagsReplacesAValue) {
  InodeId f = file("f");
  ASSERT_EQ(set(f, "user.k", "one").errno_value(), 0);
  ASSERT_EQ(set(f, "user.k", "two").errno_value(), 0);
  EXPECT_EQ(get(f, "user.k").value(), "two");
}

TEST_F(XattrTest, SetAndRemoveMoveCtimeAndNotMtime) {
  InodeId f = file("f");
  proto::Inode before = getattr(f).inode();
  auto set_result = set(f, "user.k", "v");
  ASSERT_EQ(set_result.errno_value(), 0);
  EXPECT_GT(set_result.inode().ctime_ns(), before.ctime_ns());
  EXPECT_EQ(set_result.inode().mtime_ns(), before.mtime_ns());
  EXPECT_EQ(getattr(f).inode().ctime_ns(), set_result.inode().ctime_ns());
  auto removed = remove(f, "user.k");
  ASSERT_EQ(removed.errno_value(), 0);
  EXPECT_GT(getattr(f).inode().ctime_ns(), set_result.inode().ctime_ns());
}

TEST_F(XattrTest, ListAnswersEveryNameInKeyOrder) {
  InodeId f = file("f");
  for (const char* name : {"user.b", "user.a", "security.selinux", "trusted.t", "system.x"}) {
    ASSERT_EQ(set(f, name, "v").errno_value(), 0) << name;
  }
  EXPECT_EQ(names(f), (Names{"security.selinux", "system.x", "trusted.t", "user.a", "user.b"}));
}

TEST_F(XattrTest, XattrsBelongToTheirOwnInode) {
  InodeId a = file("a");
  InodeId b = file("b");
  ASSERT_EQ(set(a, "user.k", "v").errno_value(), 0);
  EXPECT_EQ(names(b), Names{});
  EXPECT_EQ(get(b, "user.k").errno_value(), ENODATA);
}

TEST_F(XattrTest, RemoveDeletesTheXattr) {
  InodeId f = file("f");
  ASSERT_EQ(set(f, "user.a", "1").errno_value(), 0);
  ASSERT_EQ(set(f, "user.b", "2").errno_value(), 0);
  ASSERT_EQ(remove(f, "user.a").errno_value(), 0);
  EXPECT_EQ(get(f, "user.a").errno_value(), ENODATA);
  EXPECT_EQ(names(f), Names{"user.b"});
}

TEST_F(XattrTest, AMissingNameIsENODATA) {
  InodeId f = file("f");
  EXPECT_EQ(get(f, "user.none").errno_value(), ENODATA);
  EXPECT_EQ(remove(f, "user.none").errno_value(), ENODATA);
}

TEST_F(XattrTest, NamesNeedAKnownNamespace) {
  InodeId f = file("f");
  EXPECT_EQ(set(f, "plain", "v").errno_value(), EOPNOTSUPP);
  EXPECT_EQ(set(f, "usr.x", "v").errno_value(), EOPNOTSUPP);
  EXPECT_EQ(get(f, "plain").errno_value(), EOPNOTSUPP);
  EXPECT_EQ(remove(f, "plain").errno_value(), EOPNOTSUPP);
  EXPECT_EQ(names(f), Names{});
}

TEST_F(XattrTest, ANamespaceWithoutANameIsEINVAL) {
  InodeId f = file("f");
  EXPECT_EQ(set(f, "user.", "v").errno_value(), EINVAL);
  EXPECT_EQ(get(f, "trusted.").errno_value(), EINVAL);
}

TEST_F(XattrTest, NamesOfMoreThan255BytesOrNoneAreERANGE) {
  InodeId f = file("f");
  std::string longest = "user." + std::string(kMaxXattrNameBytes - 5, 'n');
  EXPECT_EQ(set(f, longest, "v").errno_value(), 0);
  EXPECT_EQ(set(f, longest + "n", "v").errno_value(), ERANGE);
  EXPECT_EQ(get(f, longest + "n").errno_value(), ERANGE);
  EXPECT_EQ(set(f, "", "v").errno_value(), ERANGE);
}

TEST_F(XattrTest, NamesWithNulAreEINVAL) {
  InodeId f = file("f");
  EXPECT_EQ(set(f, std::string("user.a\0b", 8), "v").errno_value(), EINVAL);
}

TEST_F(XattrTest, AValueAbove64KiBIsE2BIG) {
  InodeId f = file("f");
  EXPECT_EQ(set(f, "user.big", std::string(kMaxXattrValueBytes + 1, 'v')).errno_value(), E2BIG);
  EXPECT_EQ(get(f, "user.big").errno_value(), ENODATA);
  std::string fits(kMaxXattrBytesPerInode - 8, 'v');  // Leaves room for the name.
  EXPECT_EQ(set(f, "user.big", fits).errno_value(), 0);
}

TEST_F(XattrTest, MoreThan64KiBOfXattrsPerInodeIsENOSPC) {
  InodeId f = file("f");
  ASSERT_EQ(set(f, "user.a", std::string(40000, 'a')).errno_value(), 0);
  // 6 + 40000 + 6 + 25525 = 65537 bytes.
  EXPECT_EQ(set(f, "user.b", std::string(25525, 'b')).errno_value(), ENOSPC);
  EXPECT_EQ(get(f, "user.b").errno_value(), ENODATA);
  EXPECT_EQ(set(f, "user.b", std::string(25524, 'b')).errno_value(), 0);
  // Another inode has its own allowance.
  EXPECT_EQ(set(file("g"), "user.b", std::string(40000, 'b')).errno_value(), 0);
}

TEST_F(XattrTest, AReplacedValueCountsOnceTowardsTheLimit) {
  InodeId f = file("f");
  ASSERT_EQ(set(f, "user.a", std::string(40000, 'a')).errno_value(), 0);
  EXPECT_EQ(set(f, "user.a", std::string(60000, 'a')).errno_value(), 0);
  EXPECT_EQ(get(f, "user.a").value().size(), 60000u);
}

TEST_F(XattrTest, CreateRefusesAnExistingName) {
  InodeId f = file("f");
  ASSERT_EQ(set(f, "user.k", "first", kCreate).errno_value(), 0);
  EXPECT_EQ(set(f, "user.k", "second", kCreate).errno_value(), EEXIST);
  EXPECT_EQ(get(f, "user.k").value(), "first");
}

TEST_F(XattrTest, ReplaceRefusesAMissingName) {
  InodeId f = file("f");
  EXPECT_EQ(set(f, "user.k", "v", kReplace).errno_value(), ENODATA);
  EXPECT_EQ(get(f, "user.k").errno_value(), ENODATA);
  ASSERT_EQ(set(f, "user.k", "v").errno_value(), 0);
  EXPECT_EQ(set(f, "user.k", "w", kReplace).errno_value(), 0);
  EXPECT_EQ(get(f, "user.k").value(), "w");
}

TEST_F(XattrTest, BothOrUnknownFlagsAreEINVAL) {
  InodeId f = file("f");
  EXPECT_EQ(set(f, "user.k", "v", kCreate | kReplace).errno_value(), EINVAL);
  EXPECT_EQ(set(f, "user.k", "v", 4).errno_value(), EINVAL);
  EXPECT_EQ(get(f, "user.k").errno_value(), ENODATA);
}

TEST_F(XattrTest, OnlyRootChangesTrustedXattrs) {
  InodeId f = users_file("f", 0644);
  act_as(user(1000, 1000));
  EXPECT_EQ(set(f, "trusted.k", "v").errno_value(), EPERM);
  act_as(user(0, 0));
  ASSERT_EQ(set(f, "trusted.k", "v").errno_value(), 0);
  act_as(user(1000, 1000));
  EXPECT_EQ(remove(f, "trusted.k").errno_value(), EPERM);
}

TEST_F(XattrTest, TrustedXattrsAreHiddenFromOtherUsers) {
  InodeId f = users_file("f", 0644);
  ASSERT_EQ(set(f, "trusted.k", "v").errno_value(), 0);
  ASSERT_EQ(set(f, "user.k", "v").errno_value(), 0);
  act_as(user(1000, 1000));
  EXPECT_EQ(get(f, "trusted.k").errno_value(), ENODATA);
  EXPECT_EQ(names(f), Names{"user.k"});
  act_as(user(0, 0));
  EXPECT_EQ(get(f, "trusted.k").value(), "v");
  EXPECT_EQ(names(f), (Names{"trusted.k", "user.k"}));
}

TEST_F(XattrTest, UserXattrsAreForFilesAndDirectoriesOnly) {
  auto link = symlink(root_, "l", "target");
  auto fifo = create(root_, "p", proto::FILE_TYPE_FIFO, 0666);
  EXPECT_EQ(set(id(link), "user.k", "v").errno_value(), EPERM);
  EXPECT_EQ(set(id(fifo), "user.k", "v").errno_value(), EPERM);
  EXPECT_EQ(get(id(fifo), "user.k").errno_value(), ENODATA);
  EXPECT_EQ(remove(id(fifo), "user.k").errno_value(), EPERM);
  EXPECT_EQ(set(shared_, "user.k", "v").errno_value(), 0);
  EXPECT_EQ(set(id(fifo), "security.k", "v").errno_value(), 0);
}

TEST_F(XattrTest, ChangingUserXattrsNeedsWritePermission) {
  InodeId f = users_file("f", 0644);
  ASSERT_EQ(set(f, "user.k", "v").errno_value(), 0);
  act_as(user(1001, 1001));
  EXPECT_EQ(set(f, "user.k", "w").errno_value(), EACCES);
  EXPECT_EQ(remove(f, "user.k").errno_value(), EACCES);
  EXPECT_EQ(get(f, "user.k").value(), "v");
}

TEST_F(XattrTest, AWriterWhoIsNotTheOwnerMayChangeUserXattrs) {
  InodeId f = users_file("f", 0666);
  act_as(user(1001, 1001));
  EXPECT_EQ(set(f, "user.k", "w").errno_value(), 0);
  EXPECT_EQ(remove(f, "user.k").errno_value(), 0);
}

TEST_F(XattrTest, ReadingUserXattrsNeedsReadPermissionAndListingNone) {
  InodeId f = users_file("f", 0600);
  ASSERT_EQ(set(f, "user.k", "v").errno_value(), 0);
  act_as(user(1001, 1001));
  EXPECT_EQ(get(f, "user.k").errno_value(), EACCES);
  EXPECT_EQ(names(f), Names{"user.k"});
}

TEST_F(XattrTest, OnlyTheOwnerLabelsAStickyDirectory) {
  auto tmp = mkdir(root_, "tmp", 01777);
  ASSERT_EQ(tmp.errno_value(), 0);
  act_as(user(1000, 1000));
  EXPECT_EQ(set(id(tmp), "user.k", "v").errno_value(), EPERM);
  EXPECT_EQ(set(shared_, "user.k", "v").errno_value(), 0);  // 0777, not sticky.
}

TEST_F(XattrTest, SecurityAndSystemXattrsAreChangedByTheOwnerOrRoot) {
  InodeId f = users_file("f", 0666);
  act_as(user(1001, 1001));
  EXPECT_EQ(set(f, "security.k", "v").errno_value(), EPERM);
  EXPECT_EQ(set(f, "system.k", "v").errno_value(), EPERM);
  act_as(user(1000, 1000));
  EXPECT_EQ(set(f, "security.k", "v").errno_value(), 0);
  act_as(user(0, 0));
  EXPECT_EQ(set(f, "system.k", "v").errno_value(), 0);
  act_as(user(1001, 1001));
  EXPECT_EQ(remove(f, "security.k").errno_value(), EPERM);
  EXPECT_EQ(get(f, "security.k").value(), "v");
}

TEST_F(XattrTest, AMissingInodeIsENOENTAndOneElsewhereIsCrossBucket) {
  InodeId missing = make_inode_id(kBucket, 999);
  EXPECT_EQ(set(missing, "user.k", "v").errno_value(), ENOENT);
  EXPECT_EQ(get(missing, "user.k").errno_value(), ENOENT);
  EXPECT_EQ(list(missing).errno_value(), ENOENT);
  EXPECT_EQ(remove(missing, "user.k").errno_value(), ENOENT);
  InodeId elsewhere = make_inode_id(BucketId(8), 20);
  auto refused = set(elsewhere, "user.k", "v");
  EXPECT_EQ(refused.errno_value(), EXDEV);
  EXPECT_TRUE(refused.cross_bucket());
  EXPECT_TRUE(list(elsewhere).cross_bucket());
}

TEST_F(XattrTest, ARetriedCreateAnswersItsFirstResult) {
  InodeId f = file("f");
  proto::BucketCommand wrapped = wrap(set_command(f, "user.k", "v", kCreate), next_request());
  auto first = apply_as_is(wrapped);
  ASSERT_EQ(first.errno_value(), 0);
  auto retry = apply_as_is(wrapped);
  EXPECT_EQ(retry.errno_value(), 0) << "a retry must not answer EEXIST";
  EXPECT_EQ(retry.inode().SerializeAsString(), first.inode().SerializeAsString());
}

TEST_F(XattrTest, ARetriedRemoveAnswersItsFirstResult) {
  InodeId f = file("f");
  ASSERT_EQ(set(f, "user.k", "v").errno_value(), 0);
  proto::MetaCommand command;
  command.mutable_removexattr()->set_inode(f.value());
  command.mutable_removexattr()->set_name("user.k");
  proto::BucketCommand wrapped = wrap(command, next_request());
  ASSERT_EQ(apply_as_is(wrapped).errno_value(), 0);
  EXPECT_EQ(apply_as_is(wrapped).errno_value(), 0) << "a retry must not answer ENODATA";
  EXPECT_EQ(get(f, "user.k").errno_value(), ENODATA);
}

}  // namespace
}  // namespace tessera::meta
