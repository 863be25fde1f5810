#include "bucket/kv_state_machine.h"

#include <gtest/gtest.h>

#include "bucket/keys.h"

namespace tessera::bucket {
namespace {

class KvStateMachineTest : public ::testing::Test {
 protected:
  proto::BucketResult apply(const proto::BucketCommand& command) {
    auto result = machine_.apply(store_, ++index_, command.SerializeAsString());
    EXPECT_TRUE(result.ok()) << result.status().to_string();
    return *result;
  }

  static proto::BucketCommand put(uint64_t session, uint64_t request, std::string key,
                                  std::string value, uint64_t acked_below = 0) {
    proto::BucketCommand c;
    c.mutable_header()->set_session(session);
    c.mutable_header()->set_request(request);
    c.mutable_header()->set_acked_below(acked_below);
    c.mutable_put()->set_key(std::move(key));
    c.mutable_put()->set_value(std::move(value));
    return c;
  }

  std::optional<std::string> value_of(const std::string& key) {
    auto r = machine_.get(store_, key);
    EXPECT_TRUE(r.ok());
    if (!r->found()) return std::nullopt;
    return r->value();
  }

  MemoryStateStore store_;
  KvStateMachine machine_{BucketId(7)};
  uint64_t index_ = 0;
};

TEST_F(KvStateMachineTest, PutGetDelete) {
  EXPECT_EQ(apply(put(1, 1, "a", "x")).status_code(), 0u);
  EXPECT_EQ(value_of("a"), "x");
  proto::BucketCommand del;
  del.mutable_header()->set_session(1);
  del.mutable_header()->set_request(2);
  del.mutable_delete_()->set_key("a");
  EXPECT_TRUE(apply(del).found());
  EXPECT_EQ(value_of("a"), std::nullopt);
}

TEST_F(KvStateMachineTest, RetriedMutationGetsItsFirstAnswer) {
  proto::BucketCommand cas;
  cas.mutable_header()->set_session(5);
  cas.mutable_header()->set_request(1);
  cas.mutable_cas()->set_key("k");
  cas.mutable_cas()->set_expect_absent(true);
  cas.mutable_cas()->set_value("v1");
  EXPECT_TRUE(apply(cas).found());
  // Someone else changes the key; the retry of the cas must still say it succeeded, and not run
  // again.
  apply(put(6, 1, "k", "other"));
  proto::BucketResult retry = apply(cas);
  EXPECT_TRUE(retry.found());
  EXPECT_EQ(retry.applied_index(), 1u);
  EXPECT_EQ(value_of("k"), "other");
}

TEST_F(KvStateMachineTest, ResultsBelowAckedAreForgottenAndRefused) {
  apply(put(1, 1, "a", "1"));
  apply(put(1, 2, "a", "2"));
  apply(put(1, 3, "a", "3", /*acked_below=*/3));
  EXPECT_FALSE(store_.contents().contains(result_key(BucketId(7), 1, 1)));
  EXPECT_FALSE(store_.contents().contains(result_key(BucketId(7), 1, 2)));
  EXPECT_TRUE(store_.contents().contains(result_key(BucketId(7), 1, 3)));
  auto late = apply(put(1, 1, "a", "late"));
  EXPECT_EQ(late.status_code(), static_cast<uint32_t>(StatusCode::kFailedPrecondition));
  EXPECT_EQ(value_of("a"), "3");
}

TEST_F(KvStateMachineTest, TooManyUnacknowledgedResultsAreRefused) {
  for (uint64_t r = 1; r <= kMaxStoredResults; ++r) apply(put(2, r, "k", "v"));
  auto busy = apply(put(2, kMaxStoredResults + 1, "k", "v"));
  EXPECT_EQ(busy.status_code(), static_cast<uint32_t>(StatusCode::kBusy));
  auto acked = apply(put(2, kMaxStoredResults + 1, "k", "v", kMaxStoredResults + 1));
  EXPECT_EQ(acked.status_code(), 0u);
}

TEST_F(KvStateMachineTest, IdleSessionsExpireByLogTime) {
  auto first = put(1, 1, "a", "1");
  first.set_log_time_ms(1000);
  apply(first);
  auto second = put(2, 1, "b", "1");
  second.set_log_time_ms(50'000);
  apply(second);
  proto::BucketCommand expire;
  expire.set_log_time_ms(60'000);
  expire.mutable_expire_sessions()->set_idle_timeout_ms(30'000);
  EXPECT_EQ(apply(expire).value(), "1");
  EXPECT_FALSE(store_.contents().contains(session_key(BucketId(7), 1)));
  EXPECT_FALSE(store_.contents().contains(result_key(BucketId(7), 1, 1)));
  EXPECT_TRUE(store_.contents().contains(session_key(BucketId(7), 2)));
}

TEST_F(KvStateMachineTest, BadCommandsAreRefusedAlikeEverywhere) {
  auto r = machine_.apply(store_, 1, "\xff\xff\xff");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status_code(), static_cast<uint32_t>(StatusCode::kInvalidArgument));
  auto big = apply(put(1, 1, std::string(kMaxKeyBytes + 1, 'k'), "v"));
  EXPECT_EQ(big.status_code(), static_cast<uint32_t>(StatusCode::kInvalidArgument));
  auto no_session = apply(put(0, 1, "k", "v"));
  EXPECT_EQ(no_session.status_code(), static_cast<uint32_t>(StatusCode::kInvalidArgument));
}

TEST_F(KvStateMachineTest, RangeListsUserKeysInOrder) {
  apply(put(1, 1, "b", "2"));
  apply(put(1, 2, "a", "1"));
  apply(put(1, 3, "c", "3"));
  auto r = machine_.range(store_, "a", "c", 10);
  ASSERT_TRUE(r.ok());
  // (u32 1)"a"(u32 1)"1"(u32 1)"b"(u32 1)"2"
  EXPECT_EQ(r->value(), std::string("\1\0\0\0a\1\0\0\0"
                                    "1\1\0\0\0b\1\0\0\0"
                                    "2",
                                    20));
}

}  // namespace
}  // namespace tessera::bucket
