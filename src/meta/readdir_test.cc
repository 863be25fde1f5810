// readdir and readdirplus against one bucket's state machine: order, limits, resuming, cookie
// collisions, changes between calls, attributes and permissions.
#include <cerrno>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "meta/names.h"
#include "meta/test_namespace.h"

namespace tessera::meta {
namespace {

class ReaddirTest : public NamespaceTest {
 protected:
  proto::MetaResult readdir(InodeId dir, uint64_t cookie = 0, uint32_t limit = 0,
                            bool plus = false) {
    proto::MetaRead op;
    proto::MetaReaddir& readdir = *op.mutable_readdir();
    readdir.set_dir(dir.value());
    readdir.set_cookie(cookie);
    readdir.set_limit(limit);
    readdir.set_plus(plus);
    return read(op);
  }
  static std::vector<std::string> names_of(const proto::MetaResult& result) {
    std::vector<std::string> names;
    for (const auto& entry : result.entries()) names.push_back(entry.name());
    return names;
  }
  // Every name of `dir`, `limit` at a time, resuming after each answer's last cookie.
  std::vector<std::string> read_all(InodeId dir, uint32_t limit) {
    std::vector<std::string> names;
    uint64_t cookie = 0;
    for (int calls = 0; calls < 1000; ++calls) {
      auto page = readdir(dir, cookie, limit);
      EXPECT_EQ(page.errno_value(), 0) << page.message();
      for (const auto& entry : page.entries()) names.push_back(entry.name());
      if (page.end() || page.entries().empty()) return names;
      cookie = page.entries(page.entries_size() - 1).cookie();
    }
    ADD_FAILURE() << "readdir never ended";
    return names;
  }
  // An entry written directly with the cookie of our choice, as two names whose hashes collide
  // would be stored; it names `target`.
  void put_entry(InodeId dir, uint64_t cookie, std::string_view name, InodeId target) {
    proto::DirEntry entry;
    entry.set_inode(target.value());
    entry.set_type(proto::FILE_TYPE_REGULAR);
    std::string key = entries_from(kBucket, kFs, dir, cookie);
    key.append(name);
    store_.put(key, entry.SerializeAsString());
  }
  void erase_entry(InodeId dir, std::string_view name) {
    ASSERT_EQ(store_.contents().count(entry_key(kBucket, kFs, dir, name)), 1u) << name;
    store_.erase(entry_key(kBucket, kFs, dir, name));
  }
  // What a cross-bucket transaction's prepare leaves on a key it will change.
  void lock(const std::string& lock_key) {
    proto::TxnLock held;
    held.mutable_id()->set_coordinator(kBucket.value() + 1);
    held.mutable_id()->set_begin_index(5);
    store_.put(lock_key, held.SerializeAsString());
  }
  InodeId dir_with_files(std::string_view dir_name, int count) {
    InodeId dir = id(mkdir(root_, dir_name));
    for (int i = 0; i < count; ++i) {
      EXPECT_EQ(mkfile(dir, "f" + std::to_string(i)).errno_value(), 0);
    }
    return dir;
  }
};

TEST_F(ReaddirTest, AnEmptyDirectoryHasNoEntriesAndEnds) {
  auto listed = readdir(root_);
  ASSERT_EQ(listed.errno_value(), 0) << listed.message();
  EXPECT_EQ(listed.entries_size(), 0);
  EXPECT_TRUE(listed.end());
}

TEST_F(ReaddirTest, EntriesComeInCookieOrderWithTheirInodesAndTypes) {
  auto file = mkfile(root_, "file");
  auto dir = mkdir(root_, "dir");
  auto link = symlink(root_, "link", "file");
  std::map<std::string, proto::MetaResult> made{{"file", file}, {"dir", dir}, {"link", link}};
  auto listed = readdir(root_);
  ASSERT_EQ(listed.errno_value(), 0) << listed.message();
  ASSERT_EQ(listed.entries_size(), 3);
  EXPECT_TRUE(listed.end());
  uint64_t previous = 0;
  for (const auto& entry : listed.entries()) {
    ASSERT_EQ(made.count(entry.name()), 1u) << entry.name();
    const proto::Inode& inode = made[entry.name()].inode();
    EXPECT_EQ(entry.inode(), inode.id());
    EXPECT_EQ(entry.type(), inode.type());
    EXPECT_EQ(entry.cookie(), cookie_of(entry.name()));
    EXPECT_GT(entry.cookie(), previous);
    EXPECT_FALSE(entry.has_attributes());
    previous = entry.cookie();
  }
}

TEST_F(ReaddirTest, ALimitedReaddirResumesAfterItsLastCookie) {
  InodeId dir = dir_with_files("d", 10);
  auto first = readdir(dir, 0, 3);
  ASSERT_EQ(first.entries_size(), 3);
  EXPECT_FALSE(first.end());
  auto second = readdir(dir, first.entries(2).cookie(), 3);
  ASSERT_EQ(second.entries_size(), 3);
  EXPECT_GT(second.entries(0).cookie(), first.entries(2).cookie());
  auto names = read_all(dir, 3);
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(names.size(), 10u);
  EXPECT_EQ(unique.size(), 10u);
}

TEST_F(ReaddirTest, TheLastPageEndsEvenWhenItFillsTheLimit) {
  InodeId dir = dir_with_files("d", 4);
  auto first = readdir(dir, 0, 2);
  ASSERT_EQ(first.entries_size(), 2);
  EXPECT_FALSE(first.end());
  auto last = readdir(dir, first.entries(1).cookie(), 2);
  ASSERT_EQ(last.entries_size(), 2);
  EXPECT_TRUE(last.end());
}

TEST_F(ReaddirTest, ALimitOfZeroOrAboveTheMaximumMeansTheMaximum) {
  InodeId dir = dir_with_files("d", kMaxReaddirEntries + 5);
  for (uint32_t limit : {0u, kMaxReaddirEntries + 1, std::numeric_limits<uint32_t>::max()}) {
    auto listed = readdir(dir, 0, limit);
    EXPECT_EQ(listed.entries_size(), static_cast<int>(kMaxReaddirEntries)) << limit;
    EXPECT_FALSE(listed.end()) << limit;
  }
  EXPECT_EQ(read_all(dir, 0).size(), kMaxReaddirEntries + 5);
}

TEST_F(ReaddirTest, DotAndDotDotAreLeftToTheClient) {
  InodeId dir = dir_with_files("d", 3);
  for (uint64_t cookie : {0, 1, 2}) {
    auto listed = readdir(dir, cookie);
    EXPECT_EQ(listed.entries_size(), 3) << cookie;
    for (const auto& entry : listed.entries()) {
      EXPECT_NE(entry.name(), ".");
      EXPECT_NE(entry.name(), "..");
      EXPECT_GE(entry.cookie(), kFirstCookie);
    }
  }
}

TEST_F(ReaddirTest, NothingFollowsTheLastCookie) {
  InodeId dir = dir_with_files("d", 3);
  auto all = readdir(dir);
  ASSERT_EQ(all.entries_size(), 3);
  auto after_last = readdir(dir, all.entries(2).cookie());
  EXPECT_EQ(after_last.entries_size(), 0);
  EXPECT_TRUE(after_last.end());
  auto after_everything = readdir(dir, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(after_everything.errno_value(), 0);
  EXPECT_EQ(after_everything.entries_size(), 0);
  EXPECT_TRUE(after_everything.end());
}

TEST_F(ReaddirTest, NamesSharingACookieAreAnsweredTogether) {
  InodeId dir = id(mkdir(root_, "d"));
  InodeId target = id(mkfile(root_, "target"));
  put_entry(dir, 10, "p", target);
  put_entry(dir, 20, "q", target);
  put_entry(dir, 20, "r", target);
  put_entry(dir, 30, "s", target);
  auto first = readdir(dir, 0, 2);
  EXPECT_EQ(names_of(first), (std::vector<std::string>{"p", "q", "r"}));
  EXPECT_FALSE(first.end());
  EXPECT_EQ(first.entries(2).cookie(), 20u);
  auto rest = readdir(dir, 20, 2);
  EXPECT_EQ(names_of(rest), std::vector<std::string>{"s"});
  EXPECT_TRUE(rest.end());
}

TEST_F(ReaddirTest, AGroupThatStartsAnAnswerIsNotSplitEither) {
  InodeId dir = id(mkdir(root_, "d"));
  InodeId target = id(mkfile(root_, "target"));
  put_entry(dir, 10, "p", target);
  put_entry(dir, 20, "q", target);
  put_entry(dir, 20, "r", target);
  put_entry(dir, 20, "s", target);
  auto group = readdir(dir, 10, 1);
  EXPECT_EQ(names_of(group), (std::vector<std::string>{"q", "r", "s"}));
  EXPECT_TRUE(group.end()) << "nothing follows the group";
}

TEST_F(ReaddirTest, AGroupBeforeMoreEntriesDoesNotEnd) {
  InodeId dir = id(mkdir(root_, "d"));
  InodeId target = id(mkfile(root_, "target"));
  put_entry(dir, 20, "q", target);
  put_entry(dir, 20, "r", target);
  put_entry(dir, 21, "s", target);
  auto group = readdir(dir, 0, 1);
  EXPECT_EQ(names_of(group), (std::vector<std::string>{"q", "r"}));
  EXPECT_FALSE(group.end());
}

TEST_F(ReaddirTest, ChangesBetweenCallsNeitherSkipNorRepeatLastingEntries) {
  InodeId dir = dir_with_files("d", 40);
  std::set<std::string> lasting;
  for (int i = 0; i < 40; ++i) lasting.insert("f" + std::to_string(i));
  std::multiset<std::string> seen;
  uint64_t cookie = 0;
  for (int call = 0;; ++call) {
    ASSERT_LT(call, 100) << "readdir never ended";
    auto page = readdir(dir, cookie, 4);
    ASSERT_EQ(page.errno_value(), 0) << page.message();
    for (const auto& entry : page.entries()) seen.insert(entry.name());
    if (page.end()) break;
    cookie = page.entries(page.entries_size() - 1).cookie();
    // Between calls, another client creates a name and removes one: by turns one already
    // returned and one not yet returned.
    ASSERT_EQ(mkfile(dir, "new" + std::to_string(call)).errno_value(), 0);
    std::string victim;
    for (const std::string& name : lasting) {
      bool returned = seen.count(name) > 0;
      if (returned == (call % 2 == 0)) {
        victim = name;
        break;
      }
    }
    if (victim.empty()) continue;
    erase_entry(dir, victim);
    lasting.erase(victim);
  }
  for (const std::string& name : lasting) EXPECT_EQ(seen.count(name), 1u) << name;
  for (const std::string& name : seen) EXPECT_EQ(seen.count(name), 1u) << name;
}

TEST_F(ReaddirTest, ReaddirPlusCarriesTheAttributesOfLocalChildren) {
  auto file = mkfile(root_, "file", 0640);
  auto dir = mkdir(root_, "dir", 0700);
  auto plus = readdir(root_, 0, 0, /*plus=*/true);
  ASSERT_EQ(plus.entries_size(), 2);
  for (const auto& entry : plus.entries()) {
    ASSERT_TRUE(entry.has_attributes()) << entry.name();
    EXPECT_EQ(entry.attributes().SerializeAsString(),
              getattr(InodeId(entry.inode())).inode().SerializeAsString());
  }
  const auto& first = plus.entries(0).name() == "file" ? plus.entries(0) : plus.entries(1);
  EXPECT_EQ(first.attributes().mode(), 0640u);
  EXPECT_EQ(first.attributes().id(), file.inode().id());
  EXPECT_EQ(dir.errno_value(), 0);
}

TEST_F(ReaddirTest, ReaddirPlusLeavesOutChildrenInOtherBuckets) {
  InodeId dir = id(mkdir(root_, "d"));
  InodeId elsewhere = make_inode_id(BucketId(8), 20);
  put_entry(dir, 10, "remote", elsewhere);
  auto plus = readdir(dir, 0, 0, /*plus=*/true);
  ASSERT_EQ(plus.errno_value(), 0) << plus.message();
  ASSERT_EQ(plus.entries_size(), 1);
  EXPECT_EQ(plus.entries(0).inode(), elsewhere.value());
  EXPECT_FALSE(plus.entries(0).has_attributes());
}

TEST_F(ReaddirTest, ANamePendingInATransactionMakesTheReaderRetry) {
  InodeId dir = id(mkdir(root_, "d"));
  InodeId target = id(mkfile(root_, "target"));
  put_entry(dir, cookie_of("a"), "a", target);
  // A name not yet there, as a pending create or a rename's destination holds it.
  lock(entry_lock_key(kBucket, kFs, dir, "pending"));
  auto refused = readdir(dir);
  EXPECT_EQ(refused.errno_value(), EAGAIN);
  EXPECT_TRUE(refused.locked());
  store_.erase(entry_lock_key(kBucket, kFs, dir, "pending"));
  EXPECT_EQ(readdir(dir).entries_size(), 1);
}

TEST_F(ReaddirTest, APendingNameOutsideTheAnswerDoesNotBlockIt) {
  InodeId dir = id(mkdir(root_, "d"));
  InodeId target = id(mkfile(root_, "target"));
  put_entry(dir, 10, "p", target);
  put_entry(dir, 20, "q", target);
  put_entry(dir, 30, "r", target);
  lock(entry_lock_key(kBucket, kFs, dir, "r"));
  uint64_t locked_cookie = cookie_of("r");
  ASSERT_GT(locked_cookie, 20u);
  // The answer covers cookies up to 20 only; the lock's cookie (the hash of "r") is beyond.
  auto first = readdir(dir, 0, 2);
  ASSERT_EQ(first.errno_value(), 0) << first.message();
  EXPECT_EQ(names_of(first), (std::vector<std::string>{"p", "q"}));
  EXPECT_TRUE(readdir(dir, 20, 2).locked()) << "the rest of the directory covers it";
  EXPECT_EQ(readdir(dir, locked_cookie, 2).errno_value(), 0);
}

TEST_F(ReaddirTest, ReaddirPlusLeavesOutTheAttributesOfALockedChild) {
  auto file = mkfile(root_, "f");
  lock(inode_lock_key(kBucket, kFs, id(file)));
  auto plus = readdir(root_, 0, 0, /*plus=*/true);
  ASSERT_EQ(plus.errno_value(), 0) << plus.message();
  ASSERT_EQ(plus.entries_size(), 1);
  EXPECT_FALSE(plus.entries(0).has_attributes());
}

TEST_F(ReaddirTest, ListingNeedsReadPermission) {
  InodeId dir = id(mkdir(root_, "d", 0711));
  ASSERT_EQ(mkfile(dir, "f").errno_value(), 0);
  act_as(user(1000, 1000));
  EXPECT_EQ(readdir(dir).errno_value(), EACCES);
  act_as(user(0, 0));
  EXPECT_EQ(readdir(dir).entries_size(), 1);
}

TEST_F(ReaddirTest, AnUnprivilegedReaderListsAReadableDirectory) {
  InodeId dir = id(mkdir(root_, "d", 0755));
  ASSERT_EQ(mkfile(dir, "f").errno_value(), 0);
  act_as(user(1000, 1000));
  auto plus = readdir(dir, 0, 0, /*plus=*/true);
  ASSERT_EQ(plus.entries_size(), 1);
  EXPECT_TRUE(plus.entries(0).has_attributes());
}

TEST_F(ReaddirTest, AReadableButUnsearchableDirectoryListsNamesWithoutAttributes) {
  // As on Linux, where `ls -l` of a mode 0744 directory not one's own shows names only.
  InodeId dir = id(mkdir(root_, "d", 0744));
  ASSERT_EQ(mkfile(dir, "f").errno_value(), 0);
  act_as(user(1000, 1000));
  auto plus = readdir(dir, 0, 0, /*plus=*/true);
  ASSERT_EQ(plus.errno_value(), 0) << plus.message();
  ASSERT_EQ(plus.entries_size(), 1);
  EXPECT_EQ(plus.entries(0).name(), "f");
  EXPECT_FALSE(plus.entries(0).has_attributes());
}

TEST_F(ReaddirTest, OnlyExistingLocalDirectoriesAreListed) {
  auto file = mkfile(root_, "f");
  EXPECT_EQ(readdir(id(file)).errno_value(), ENOTDIR);
  EXPECT_EQ(readdir(make_inode_id(kBucket, 999)).errno_value(), ENOENT);
  auto elsewhere = readdir(make_inode_id(BucketId(8), 20));
  EXPECT_EQ(elsewhere.errno_value(), EXDEV);
  EXPECT_TRUE(elsewhere.cross_bucket());
}

}  // namespace
}  // namespace tessera::meta
