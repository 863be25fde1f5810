// MetadataCache: validity, what mutations forget, and its bound.
#include "client/metadata_cache.h"

#include <gtest/gtest.h>

namespace tessera::client {
namespace {

using namespace std::chrono_literals;

proto::Inode inode(uint64_t id, uint32_t mode = 0644) {
  proto::Inode out;
  out.set_id(id);
  out.set_mode(mode);
  out.set_nlink(1);
  return out;
}

class MetadataCacheTest : public ::testing::Test {
 protected:
  MetadataCacheTest() : cache_(options()) {}
  MetadataCacheOptions options() {
    MetadataCacheOptions out;
    out.clock = &clock_;
    out.attr_ttl = 1s;
    out.entry_ttl = 2s;
    out.max_items = 4;
    return out;
  }
  FakeClock clock_;
  MetadataCache cache_;
};

TEST_F(MetadataCacheTest, AnAnswerIsValidForItsTtlFromWhenItWasAsked) {
  Clock::TimePoint asked = clock_.now();
  clock_.advance(300ms);  // The read took 300 ms.
  cache_.put_attr(inode(5), asked);
  cache_.put_entry(InodeId(1), "a", InodeId(5), asked);
  ASSERT_TRUE(cache_.attr(InodeId(5)).has_value());
  EXPECT_EQ(cache_.attr(InodeId(5))->valid_until, asked + 1s);
  EXPECT_EQ(cache_.entry(InodeId(1), "a")->value, InodeId(5));
  EXPECT_FALSE(cache_.entry(InodeId(1), "b").has_value());
  EXPECT_FALSE(cache_.entry(InodeId(2), "a").has_value());
  clock_.advance(700ms);
  EXPECT_FALSE(cache_.attr(InodeId(5)).has_value()) << "valid until asked + ttl, not after";
  EXPECT_TRUE(cache_.entry(InodeId(1), "a").has_value());
  clock_.advance(1s);
  EXPECT_FALSE(cache_.entry(InodeId(1), "a").has_value());
  // An answer already too old is not stored at all.
  cache_.put_attr(inode(6), clock_.now() - 2s);
  EXPECT_EQ(cache_.attr_count(), 1u);
}

TEST_F(MetadataCacheTest, AbsentNamesAreKeptOnlyWithANegativeTtl) {
  cache_.put_entry(InodeId(1), "a", InodeId(5), clock_.now());
  cache_.put_absent(InodeId(1), "a", clock_.now());
  EXPECT_FALSE(cache_.entry(InodeId(1), "a").has_value()) << "the stale positive entry is gone";
  MetadataCacheOptions negative = options();
  negative.negative_ttl = 500ms;
  MetadataCache with_negative(negative);
  with_negative.put_absent(InodeId(1), "a", clock_.now());
  ASSERT_TRUE(with_negative.entry(InodeId(1), "a").has_value());
  EXPECT_EQ(with_negative.entry(InodeId(1), "a")->value, InodeId());
}

TEST_F(MetadataCacheTest, AMutationForgetsWhatItNamesAndStoresWhatItMade) {
  Clock::TimePoint now = clock_.now();
  cache_.put_attr(inode(1, 0755), now);  // The parent.
  cache_.put_attr(inode(5), now);
  cache_.put_entry(InodeId(1), "a", InodeId(5), now);

  // An unlink of "a": the entry, the parent and the child (its nlink changed) go.
  proto::MetaCommand unlink;
  unlink.mutable_unlink()->set_parent(1);
  unlink.mutable_unlink()->set_name("a");
  cache_.observe(unlink, proto::MetaResult(), now);
  EXPECT_FALSE(cache_.entry(InodeId(1), "a").has_value());
  EXPECT_FALSE(cache_.attr(InodeId(1)).has_value());
  EXPECT_FALSE(cache_.attr(InodeId(5)).has_value());

  // A create stores the new entry and inode.
  proto::MetaCommand create;
  create.mutable_create()->set_parent(1);
  create.mutable_create()->set_name("b");
  proto::MetaResult made;
  *made.mutable_inode() = inode(7);
  cache_.observe(create, made, now);
  EXPECT_EQ(cache_.entry(InodeId(1), "b")->value, InodeId(7));
  EXPECT_TRUE(cache_.attr(InodeId(7)).has_value());

  // A rename forgets both names, both parents and the children they named; its answer's inode is
  // not stored (a cross-bucket answer is planned before the operation runs).
  cache_.put_entry(InodeId(2), "c", InodeId(8), now);
  cache_.put_attr(inode(8), now);
  proto::MetaCommand rename;
  rename.mutable_rename()->set_parent(1);
  rename.mutable_rename()->set_name("b");
  rename.mutable_rename()->set_new_parent(2);
  rename.mutable_rename()->set_new_name("c");
  proto::MetaResult moved;
  *moved.mutable_inode() = inode(7);
  cache_.observe(rename, moved, now);
  EXPECT_FALSE(cache_.entry(InodeId(1), "b").has_value());
  EXPECT_FALSE(cache_.entry(InodeId(2), "c").has_value());
  EXPECT_FALSE(cache_.attr(InodeId(7)).has_value());
  EXPECT_FALSE(cache_.attr(InodeId(8)).has_value());

  // A refused or unknown mutation still forgets: the cache may have been what was wrong.
  cache_.put_attr(inode(9), now);
  proto::MetaCommand chmod;
  chmod.mutable_setattr()->set_inode(9);
  cache_.observe(chmod, proto::MetaResult(), now);
  EXPECT_FALSE(cache_.attr(InodeId(9)).has_value());
}

TEST_F(MetadataCacheTest, ABoundedNumberOfItemsExpiredFirstThenTheOldest) {
  Clock::TimePoint start = clock_.now();
  cache_.put_attr(inode(1), start - 900ms);  // Expires 100 ms from now.
  for (uint64_t id = 2; id <= 4; ++id) cache_.put_attr(inode(id), start);
  clock_.advance(200ms);
  cache_.put_attr(inode(5), clock_.now());
  EXPECT_EQ(cache_.attr_count(), 4u);
  EXPECT_FALSE(cache_.attr(InodeId(1)).has_value());
  EXPECT_TRUE(cache_.attr(InodeId(2)).has_value()) << "the expired item went first";
  cache_.put_attr(inode(6), clock_.now());
  EXPECT_EQ(cache_.attr_count(), 4u);
  EXPECT_FALSE(cache_.attr(InodeId(2)).has_value()) << "then the oldest";
  EXPECT_TRUE(cache_.attr(InodeId(6)).has_value());
}

}  // namespace
}  // namespace tessera::client
