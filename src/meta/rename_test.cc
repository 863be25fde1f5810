// rename, with RENAME_NOREPLACE and RENAME_EXCHANGE, against one bucket's state machine.
#include <cerrno>

#include "meta/names.h"
#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

constexpr uint32_t kNoReplace = 1;
constexpr uint32_t kExchange = 2;

class RenameTest : public NamespaceTest {
 protected:
  static proto::MetaCommand rename_command(InodeId parent, std::string_view name,
                                           InodeId new_parent, std::string_view new_name,
                                           uint32_t flags) {
    proto::MetaCommand command;
    proto::MetaRename& op = *command.mutable_rename();
    op.set_parent(parent.value());
    op.set_name(std::string(name));
    op.set_new_parent(new_parent.value());
    op.set_new_name(std::string(new_name));
    op.set_flags(flags);
    return command;
  }
  proto::MetaResult rename(InodeId parent, std::string_view name, InodeId new_parent,
                           std::string_view new_name, uint32_t flags = 0) {
    return apply(rename_command(parent, name, new_parent, new_name, flags));
  }
  proto::MetaResult link(InodeId inode, InodeId new_parent, std::string_view new_name) {
    proto::MetaCommand command;
    proto::MetaLink& op = *command.mutable_link();
    op.set_inode(inode.value());
    op.set_new_parent(new_parent.value());
    op.set_new_name(std::string(new_name));
    return apply(std::move(command));
  }
  // The inode `name` in `dir` names, or 0 when there is no such entry.
  uint64_t entry(InodeId dir, std::string_view name) {
    auto found = lookup(dir, name);
    return found.errno_value() == 0 ? found.entries(0).inode() : 0;
  }
  proto::FileType entry_type(InodeId dir, std::string_view name) {
    return lookup(dir, name).entries(0).type();
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
  // An entry whose inode lives in another bucket, which this bucket cannot create by itself.
  void put_remote_entry(InodeId dir, std::string_view name) {
    proto::DirEntry remote;
    remote.set_inode(elsewhere().value());
    remote.set_type(proto::FILE_TYPE_REGULAR);
    store_.put(entry_key(kBucket, kFs, dir, name), remote.SerializeAsString());
  }
  static InodeId elsewhere() { return make_inode_id(BucketId(kBucket.value() + 1), 20); }
  static void expect_cross_bucket(const proto::MetaResult& result) {
    EXPECT_EQ(result.errno_value(), EXDEV) << result.message();
    EXPECT_TRUE(result.cross_bucket());
  }
};

TEST_F(RenameTest, RenameMovesTheEntryWithinADirectory) {
  auto file = mkfile(root_, "a");
  auto before = getattr(root_).inode();
  auto moved = rename(root_, "a", root_, "b");
  ASSERT_EQ(moved.errno_value(), 0) << moved.message();
  EXPECT_EQ(entry(root_, "a"), 0u);
  EXPECT_EQ(entry(root_, "b"), file.inode().id());
  EXPECT_EQ(entry_type(root_, "b"), proto::FILE_TYPE_REGULAR);
  EXPECT_EQ(moved.inode().id(), file.inode().id());
  EXPECT_EQ(moved.inode().nlink(), 1u);
  EXPECT_GT(moved.inode().ctime_ns(), file.inode().ctime_ns());
  EXPECT_EQ(moved.inode().mtime_ns(), file.inode().mtime_ns());
  EXPECT_EQ(getattr(id(file)).inode().SerializeAsString(), moved.inode().SerializeAsString());
  EXPECT_FALSE(moved.has_released());
  auto after = getattr(root_).inode();
  EXPECT_GT(after.mtime_ns(), before.mtime_ns());
  EXPECT_GT(after.ctime_ns(), before.ctime_ns());
  EXPECT_EQ(after.nlink(), before.nlink());
}

TEST_F(RenameTest, RenameMovesAFileToAnotherDirectoryAndBothParentsTimes) {
  auto from = mkdir(root_, "from");
  auto to = mkdir(root_, "to");
  auto file = mkfile(id(from), "f");
  auto from_before = getattr(id(from)).inode();
  auto to_before = getattr(id(to)).inode();
  ASSERT_EQ(rename(id(from), "f", id(to), "g").errno_value(), 0);
  EXPECT_EQ(entry(id(from), "f"), 0u);
  EXPECT_EQ(entry(id(to), "g"), file.inode().id());
  auto from_after = getattr(id(from)).inode();
  auto to_after = getattr(id(to)).inode();
  EXPECT_GT(from_after.mtime_ns(), from_before.mtime_ns());
  EXPECT_GT(from_after.ctime_ns(), from_before.ctime_ns());
  EXPECT_GT(to_after.mtime_ns(), to_before.mtime_ns());
  EXPECT_GT(to_after.ctime_ns(), to_before.ctime_ns());
  EXPECT_EQ(from_after.nlink(), 2u);
  EXPECT_EQ(to_after.nlink(), 2u);
}

TEST_F(RenameTest, ReplacingTheLastLinkOfAFileReleasesIt) {
  auto a = mkfile(root_, "a");
  auto b = mkfile(root_, "b");
  put_xattr(id(b), "user.x");
  put_xattr(id(a), "user.x");
  auto moved = rename(root_, "a", root_, "b");
  ASSERT_EQ(moved.errno_value(), 0) << moved.message();
  EXPECT_EQ(entry(root_, "b"), a.inode().id());
  EXPECT_EQ(entry(root_, "a"), 0u);
  ASSERT_TRUE(moved.has_released());
  EXPECT_EQ(moved.released().id(), b.inode().id());
  EXPECT_EQ(moved.released().nlink(), 0u);
  EXPECT_EQ(getattr(id(b)).errno_value(), ENOENT);
  EXPECT_EQ(xattr_count(id(b)), 0u);
  EXPECT_EQ(xattr_count(id(a)), 1u);
}

TEST_F(RenameTest, ReplacingOneOfTwoLinksKeepsTheReplacedInode) {
  auto a = mkfile(root_, "a");
  auto b = mkfile(root_, "b");
  ASSERT_EQ(link(id(b), root_, "b2").errno_value(), 0);
  auto before = getattr(id(b)).inode();
  auto moved = rename(root_, "a", root_, "b");
  ASSERT_EQ(moved.errno_value(), 0) << moved.message();
  EXPECT_FALSE(moved.has_released());
  auto after = getattr(id(b)).inode();
  EXPECT_EQ(after.nlink(), 1u);
  EXPECT_GT(after.ctime_ns(), before.ctime_ns());
  EXPECT_EQ(entry(root_, "b2"), b.inode().id());
  EXPECT_EQ(entry(root_, "b"), a.inode().id());
}

TEST_F(RenameTest, ADirectoryRenamedWithinItsParentKeepsItsContentsAndLinks) {
  auto dir = mkdir(root_, "d");
  auto inner = mkfile(id(dir), "inner");
  auto moved = rename(root_, "d", root_, "e");
  ASSERT_EQ(moved.errno_value(), 0) << moved.message();
  EXPECT_EQ(entry(root_, "e"), dir.inode().id());
  EXPECT_EQ(entry_type(root_, "e"), proto::FILE_TYPE_DIRECTORY);
  EXPECT_EQ(entry(id(dir), "inner"), inner.inode().id());
  EXPECT_EQ(moved.inode().parent(), root_.value());
  EXPECT_EQ(moved.inode().nlink(), 2u);
  EXPECT_EQ(getattr(root_).inode().nlink(), 3u);
}

TEST_F(RenameTest, ADirectoryOverAnEmptyDirectoryRemovesIt) {
  auto d = mkdir(root_, "d");
  auto empty = mkdir(root_, "empty");
  put_xattr(id(empty), "user.x");
  ASSERT_EQ(getattr(root_).inode().nlink(), 4u);
  auto moved = rename(root_, "d", root_, "empty");
  ASSERT_EQ(moved.errno_value(), 0) << moved.message();
  EXPECT_EQ(entry(root_, "empty"), d.inode().id());
  EXPECT_EQ(entry(root_, "d"), 0u);
  EXPECT_EQ(moved.released().id(), empty.inode().id());
  EXPECT_EQ(moved.released().nlink(), 0u);
  EXPECT_EQ(getattr(id(empty)).errno_value(), ENOENT);
  EXPECT_EQ(xattr_count(id(empty)), 0u);
  EXPECT_EQ(getattr(root_).inode().nlink(), 3u);  // 2 + the one directory left.
}

TEST_F(RenameTest, ADirectoryOverANonEmptyDirectoryIsENOTEMPTY) {
  auto d = mkdir(root_, "d");
  auto full = mkdir(root_, "full");
  ASSERT_EQ(mkfile(id(full), "f").errno_value(), 0);
  EXPECT_EQ(rename(root_, "d", root_, "full").errno_value(), ENOTEMPTY);
  EXPECT_EQ(entry(root_, "full"), full.inode().id());
  EXPECT_EQ(entry(root_, "d"), d.inode().id());
}

TEST_F(RenameTest, ADirectoryOverANonDirectoryIsENOTDIR) {
  auto d = mkdir(root_, "d");
  auto f = mkfile(root_, "f");
  EXPECT_EQ(rename(root_, "d", root_, "f").errno_value(), ENOTDIR);
  EXPECT_EQ(entry(root_, "f"), f.inode().id());
  EXPECT_EQ(entry(root_, "d"), d.inode().id());
}

TEST_F(RenameTest, ANonDirectoryOverADirectoryIsEISDIR) {
  auto d = mkdir(root_, "d");
  auto f = mkfile(root_, "f");
  EXPECT_EQ(rename(root_, "f", root_, "d").errno_value(), EISDIR);
  EXPECT_EQ(entry(root_, "d"), d.inode().id());
  EXPECT_EQ(entry(root_, "f"), f.inode().id());
}

TEST_F(RenameTest, ADirectoryChangingParentIsCrossBucket) {
  auto d = mkdir(root_, "d");
  auto other = mkdir(root_, "other");
  expect_cross_bucket(rename(root_, "d", id(other), "d"));
  EXPECT_EQ(entry(root_, "d"), d.inode().id());
  EXPECT_EQ(entry(id(other), "d"), 0u);
}

TEST_F(RenameTest, ADirectoryIntoItselfIsEINVAL) {
  auto d = mkdir(root_, "d");
  EXPECT_EQ(rename(root_, "d", id(d), "x").errno_value(), EINVAL);
  EXPECT_EQ(rename(root_, "d", id(d), "x", kExchange).errno_value(), ENOENT);
  ASSERT_EQ(mkfile(id(d), "x").errno_value(), 0);
  EXPECT_EQ(rename(root_, "d", id(d), "x", kExchange).errno_value(), EINVAL);
  EXPECT_EQ(entry(root_, "d"), d.inode().id());
}

TEST_F(RenameTest, RenamingAnEntryOntoItselfChangesNothing) {
  auto file = mkfile(root_, "a");
  auto before = getattr(root_).inode();
  auto same = rename(root_, "a", root_, "a");
  ASSERT_EQ(same.errno_value(), 0) << same.message();
  EXPECT_EQ(same.inode().id(), file.inode().id());
  EXPECT_EQ(entry(root_, "a"), file.inode().id());
  EXPECT_EQ(getattr(root_).inode().mtime_ns(), before.mtime_ns());
  EXPECT_EQ(getattr(id(file)).inode().ctime_ns(), file.inode().ctime_ns());
}

TEST_F(RenameTest, RenamingOntoAnotherLinkOfTheSameInodeChangesNothing) {
  auto file = mkfile(root_, "a");
  ASSERT_EQ(link(id(file), root_, "b").errno_value(), 0);
  auto before = getattr(id(file)).inode();
  auto same = rename(root_, "a", root_, "b");
  ASSERT_EQ(same.errno_value(), 0) << same.message();
  EXPECT_FALSE(same.has_released());
  EXPECT_EQ(entry(root_, "a"), file.inode().id());
  EXPECT_EQ(entry(root_, "b"), file.inode().id());
  EXPECT_EQ(getattr(id(file)).inode().SerializeAsString(), before.SerializeAsString());
}

TEST_F(RenameTest, NoReplaceRefusesAnExistingDestination) {
  auto a = mkfile(root_, "a");
  auto b = mkfile(root_, "b");
  EXPECT_EQ(rename(root_, "a", root_, "b", kNoReplace).errno_value(), EEXIST);
  EXPECT_EQ(entry(root_, "a"), a.inode().id());
  EXPECT_EQ(entry(root_, "b"), b.inode().id());
  // As on Linux, even when the destination is the source itself.
  EXPECT_EQ(rename(root_, "a", root_, "a", kNoReplace).errno_value(), EEXIST);
}

TEST_F(RenameTest, NoReplaceMovesToANewName) {
  auto a = mkfile(root_, "a");
  ASSERT_EQ(rename(root_, "a", root_, "c", kNoReplace).errno_value(), 0);
  EXPECT_EQ(entry(root_, "c"), a.inode().id());
  EXPECT_EQ(entry(root_, "a"), 0u);
}

TEST_F(RenameTest, ExchangeSwapsTwoEntriesWithTheirTypes) {
  auto file = mkfile(root_, "f");
  auto dir = mkdir(root_, "d");
  auto before = getattr(root_).inode();
  auto swapped = rename(root_, "f", root_, "d", kExchange);
  ASSERT_EQ(swapped.errno_value(), 0) << swapped.message();
  EXPECT_EQ(entry(root_, "f"), dir.inode().id());
  EXPECT_EQ(entry_type(root_, "f"), proto::FILE_TYPE_DIRECTORY);
  EXPECT_EQ(entry(root_, "d"), file.inode().id());
  EXPECT_EQ(entry_type(root_, "d"), proto::FILE_TYPE_REGULAR);
  EXPECT_EQ(swapped.inode().id(), file.inode().id());
  EXPECT_FALSE(swapped.has_released());
  EXPECT_GT(getattr(id(file)).inode().ctime_ns(), file.inode().ctime_ns());
  EXPECT_GT(getattr(id(dir)).inode().ctime_ns(), dir.inode().ctime_ns());
  auto after = getattr(root_).inode();
  EXPECT_EQ(after.nlink(), before.nlink());
  EXPECT_GT(after.mtime_ns(), before.mtime_ns());
}

TEST_F(RenameTest, ExchangeSwapsFilesAcrossDirectories) {
  auto one = mkdir(root_, "one");
  auto two = mkdir(root_, "two");
  auto a = mkfile(id(one), "a");
  auto b = symlink(id(two), "b", "target");
  auto two_before = getattr(id(two)).inode();
  ASSERT_EQ(rename(id(one), "a", id(two), "b", kExchange).errno_value(), 0);
  EXPECT_EQ(entry(id(one), "a"), b.inode().id());
  EXPECT_EQ(entry_type(id(one), "a"), proto::FILE_TYPE_SYMLINK);
  EXPECT_EQ(entry(id(two), "b"), a.inode().id());
  EXPECT_EQ(getattr(id(a)).inode().nlink(), 1u);
  EXPECT_EQ(getattr(id(b)).inode().nlink(), 1u);
  EXPECT_GT(getattr(id(two)).inode().mtime_ns(), two_before.mtime_ns());
}

TEST_F(RenameTest, ExchangeNeedsADestination) {
  auto a = mkfile(root_, "a");
  EXPECT_EQ(rename(root_, "a", root_, "missing", kExchange).errno_value(), ENOENT);
  EXPECT_EQ(entry(root_, "a"), a.inode().id());
  EXPECT_EQ(entry(root_, "missing"), 0u);
}

TEST_F(RenameTest, ExchangingADirectoryAcrossParentsIsCrossBucket) {
  auto one = mkdir(root_, "one");
  auto d = mkdir(root_, "d");
  auto f = mkfile(id(one), "f");
  expect_cross_bucket(rename(id(one), "f", root_, "d", kExchange));
  EXPECT_EQ(entry(root_, "d"), d.inode().id());
  EXPECT_EQ(entry(id(one), "f"), f.inode().id());
}

TEST_F(RenameTest, UnknownOrConflictingFlagsAreEINVAL) {
  auto a = mkfile(root_, "a");
  EXPECT_EQ(rename(root_, "a", root_, "b", 4).errno_value(), EINVAL);
  EXPECT_EQ(rename(root_, "a", root_, "b", kNoReplace | kExchange).errno_value(), EINVAL);
  EXPECT_EQ(entry(root_, "a"), a.inode().id());
}

TEST_F(RenameTest, AMissingSourceIsENOENT) {
  ASSERT_EQ(mkfile(root_, "b").errno_value(), 0);
  EXPECT_EQ(rename(root_, "a", root_, "b").errno_value(), ENOENT);
  EXPECT_NE(entry(root_, "b"), 0u);
}

TEST_F(RenameTest, NamesAreChecked) {
  ASSERT_EQ(mkfile(root_, "a").errno_value(), 0);
  EXPECT_EQ(rename(root_, "a", root_, "").errno_value(), EINVAL);
  EXPECT_EQ(rename(root_, "a", root_, "..").errno_value(), EINVAL);
  EXPECT_EQ(rename(root_, ".", root_, "b").errno_value(), EINVAL);
  EXPECT_EQ(rename(root_, "a", root_, "x/y").errno_value(), EINVAL);
  EXPECT_EQ(rename(root_, "a", root_, std::string(kMaxNameBytes + 1, 'n')).errno_value(),
            ENAMETOOLONG);
  EXPECT_NE(entry(root_, "a"), 0u);
}

TEST_F(RenameTest, ParentsMustBeExistingDirectories) {
  auto file = mkfile(root_, "f");
  EXPECT_EQ(rename(root_, "f", id(file), "g").errno_value(), ENOTDIR);
  EXPECT_EQ(rename(id(file), "x", root_, "g").errno_value(), ENOTDIR);
  EXPECT_EQ(rename(root_, "f", make_inode_id(kBucket, 999), "g").errno_value(), ENOENT);
  EXPECT_EQ(entry(root_, "f"), file.inode().id());
}

TEST_F(RenameTest, AParentInAnotherBucketIsCrossBucket) {
  ASSERT_EQ(mkfile(root_, "f").errno_value(), 0);
  expect_cross_bucket(rename(root_, "f", elsewhere(), "g"));
  expect_cross_bucket(rename(elsewhere(), "f", root_, "g"));
  EXPECT_NE(entry(root_, "f"), 0u);
}

TEST_F(RenameTest, ASourceInodeInAnotherBucketIsCrossBucket) {
  put_remote_entry(root_, "remote");
  expect_cross_bucket(rename(root_, "remote", root_, "moved"));
  EXPECT_EQ(entry(root_, "remote"), elsewhere().value());
  EXPECT_EQ(entry(root_, "moved"), 0u);
}

TEST_F(RenameTest, ADestinationInodeInAnotherBucketIsCrossBucket) {
  auto file = mkfile(root_, "f");
  put_remote_entry(root_, "remote");
  expect_cross_bucket(rename(root_, "f", root_, "remote"));
  expect_cross_bucket(rename(root_, "f", root_, "remote", kExchange));
  EXPECT_EQ(entry(root_, "f"), file.inode().id());
  EXPECT_EQ(entry(root_, "remote"), elsewhere().value());
}

TEST_F(RenameTest, WithoutWritePermissionOnTheSourceDirectoryIsEACCES) {
  auto from = mkdir(root_, "from", 0755);
  auto to = mkdir(root_, "to", 0777);
  auto file = mkfile(id(from), "f");
  act_as(user(1000, 1000));
  EXPECT_EQ(rename(id(from), "f", id(to), "g").errno_value(), EACCES);
  EXPECT_EQ(entry(id(from), "f"), file.inode().id());
}

TEST_F(RenameTest, WithoutWritePermissionOnTheDestinationDirectoryIsEACCES) {
  auto from = mkdir(root_, "from", 0777);
  auto to = mkdir(root_, "to", 0755);
  auto file = mkfile(id(from), "f");
  act_as(user(1000, 1000));
  EXPECT_EQ(rename(id(from), "f", id(to), "g").errno_value(), EACCES);
  EXPECT_EQ(entry(id(from), "f"), file.inode().id());
}

TEST_F(RenameTest, AMissingSourceIsENOENTEvenWithoutWritePermission) {
  auto dir = mkdir(root_, "d", 0755);
  act_as(user(1000, 1000));
  EXPECT_EQ(rename(id(dir), "missing", id(dir), "g").errno_value(), ENOENT);
}

TEST_F(RenameTest, TheStickyBitKeepsOtherUsersSourceEntries) {
  auto tmp = mkdir(root_, "tmp", 01777);
  act_as(user(1000, 1000));
  ASSERT_EQ(mkfile(id(tmp), "mine").errno_value(), 0);
  act_as(user(1001, 1001));
  EXPECT_EQ(rename(id(tmp), "mine", id(tmp), "stolen").errno_value(), EPERM);
  act_as(user(1000, 1000));
  EXPECT_EQ(rename(id(tmp), "mine", id(tmp), "renamed").errno_value(), 0);
}

TEST_F(RenameTest, TheStickyBitKeepsOtherUsersDestinationEntries) {
  auto tmp = mkdir(root_, "tmp", 01777);
  act_as(user(1000, 1000));
  ASSERT_EQ(mkfile(id(tmp), "mine").errno_value(), 0);
  act_as(user(1001, 1001));
  ASSERT_EQ(mkfile(id(tmp), "theirs").errno_value(), 0);
  EXPECT_EQ(rename(id(tmp), "theirs", id(tmp), "mine").errno_value(), EPERM);
  EXPECT_EQ(rename(id(tmp), "theirs", id(tmp), "mine", kExchange).errno_value(), EPERM);
  act_as(user(1000, 1000));
  EXPECT_EQ(rename(id(tmp), "mine", id(tmp), "theirs", kExchange).errno_value(), EPERM);
}

TEST_F(RenameTest, ARetriedRenameAnswersItsFirstResult) {
  auto file = mkfile(root_, "a");
  proto::BucketCommand wrapped = wrap(rename_command(root_, "a", root_, "b", 0), next_request());
  ASSERT_EQ(apply_as_is(wrapped).errno_value(), 0);
  auto retry = apply_as_is(wrapped);
  EXPECT_EQ(retry.errno_value(), 0) << "a retry must not answer ENOENT";
  EXPECT_EQ(retry.inode().id(), file.inode().id());
  EXPECT_EQ(rename(root_, "a", root_, "b").errno_value(), ENOENT);
}

TEST_F(RenameTest, ARetriedExchangeDoesNotSwapBack) {
  auto a = mkfile(root_, "a");
  auto b = mkfile(root_, "b");
  proto::BucketCommand wrapped =
      wrap(rename_command(root_, "a", root_, "b", kExchange), next_request());
  ASSERT_EQ(apply_as_is(wrapped).errno_value(), 0);
  ASSERT_EQ(apply_as_is(wrapped).errno_value(), 0);
  EXPECT_EQ(entry(root_, "a"), b.inode().id());
  EXPECT_EQ(entry(root_, "b"), a.inode().id());
}

TEST_F(RenameTest, DirectoryLinkCountsStayTwoPlusSubdirectories) {
  ASSERT_EQ(mkdir(root_, "a").errno_value(), 0);
  ASSERT_EQ(mkdir(root_, "b").errno_value(), 0);
  ASSERT_EQ(mkdir(root_, "c").errno_value(), 0);
  ASSERT_EQ(mkfile(root_, "f").errno_value(), 0);
  ASSERT_EQ(rename(root_, "a", root_, "b").errno_value(), 0);  // b is replaced.
  ASSERT_EQ(rename(root_, "b", root_, "f", kExchange).errno_value(), 0);
  ASSERT_EQ(rename(root_, "c", root_, "c2").errno_value(), 0);
  EXPECT_EQ(getattr(root_).inode().nlink(), 2u + 2u);  // f (once a) and c2.
}

}  // namespace
}  // namespace tessera::meta
