#include "raft/types.h"

#include <gtest/gtest.h>

#include <string>

namespace tessera::raft {
namespace {

ReplicaId replica(uint32_t host, uint64_t store) { return ReplicaId{HostId(host), StoreId(store)}; }

TEST(ConfChangeTest, RoundTripsEveryKind) {
  for (auto kind : {ConfChange::Kind::kAddLearner, ConfChange::Kind::kPromoteLearner,
                    ConfChange::Kind::kRemoveReplica}) {
    ConfChange change{kind, replica(0xfffffffe, 0x0123456789abcdefULL)};
    std::string bytes = encode_conf_change(change);
    EXPECT_EQ(bytes.size(), 13u);
    auto decoded = decode_conf_change(bytes);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, change);
  }
}

TEST(ConfChangeTest, EncodingIsLittleEndianFieldByField) {
  std::string bytes = encode_conf_change({ConfChange::Kind::kPromoteLearner, replica(2, 0x0304)});
  EXPECT_EQ(bytes, std::string("\x02\x02\x00\x00\x00\x04\x03\x00\x00\x00\x00\x00\x00", 13));
}

TEST(ConfChangeTest, RefusesMalformedPayloads) {
  std::string good = encode_conf_change({ConfChange::Kind::kAddLearner, replica(4, 4)});
  EXPECT_FALSE(decode_conf_change("").has_value());
  EXPECT_FALSE(decode_conf_change(good.substr(0, 12)).has_value());
  EXPECT_FALSE(decode_conf_change(good + '\0').has_value());
  for (char kind : {'\x00', '\x04', '\xff'}) {
    std::string bad = good;
    bad[0] = kind;
    EXPECT_FALSE(decode_conf_change(bad).has_value()) << static_cast<int>(kind);
  }
  // The "no replica" id names nobody.
  EXPECT_FALSE(decode_conf_change(encode_conf_change({ConfChange::Kind::kAddLearner, kNoReplica}))
                   .has_value());
}

Config three_voters() { return Config{{replica(1, 1), replica(2, 2), replica(3, 3)}, {}}; }

TEST(ConfigTest, QuorumIsAMajorityOfVoters) {
  EXPECT_EQ(Config{}.quorum(), 1u);
  Config c = three_voters();
  EXPECT_EQ(c.quorum(), 2u);
  c.learners = {replica(4, 4), replica(5, 5)};
  EXPECT_EQ(c.quorum(), 2u);  // Learners do not count.
  c.voters.push_back(replica(6, 6));
  EXPECT_EQ(c.quorum(), 3u);
}

TEST(ConfigTest, AddPromoteRemoveKeepListsSorted) {
  Config c = three_voters();
  c = c.applied({ConfChange::Kind::kAddLearner, replica(9, 9)});
  c = c.applied({ConfChange::Kind::kAddLearner, replica(0, 7)});
  EXPECT_EQ(c.learners, (std::vector<ReplicaId>{replica(0, 7), replica(9, 9)}));
  EXPECT_TRUE(c.is_learner(replica(9, 9)));
  EXPECT_FALSE(c.is_voter(replica(9, 9)));
  EXPECT_TRUE(c.contains(replica(9, 9)));

  c = c.applied({ConfChange::Kind::kPromoteLearner, replica(0, 7)});
  EXPECT_EQ(c.voters,
            (std::vector<ReplicaId>{replica(0, 7), replica(1, 1), replica(2, 2), replica(3, 3)}));
  EXPECT_EQ(c.learners, (std::vector<ReplicaId>{replica(9, 9)}));
  EXPECT_TRUE(c.is_voter(replica(0, 7)));

  c = c.applied({ConfChange::Kind::kRemoveReplica, replica(2, 2)});
  c = c.applied({ConfChange::Kind::kRemoveReplica, replica(9, 9)});
  EXPECT_EQ(c.voters, (std::vector<ReplicaId>{replica(0, 7), replica(1, 1), replica(3, 3)}));
  EXPECT_TRUE(c.learners.empty());
  EXPECT_FALSE(c.contains(replica(2, 2)));
}

TEST(ConfigTest, SameHostNewStoreIsAnotherReplica) {
  Config c = three_voters();
  EXPECT_FALSE(c.contains(replica(1, 2)));
  EXPECT_EQ(c.refusal({ConfChange::Kind::kAddLearner, replica(1, 2)}), "");
}

TEST(ConfigTest, RefusesChangesThatDoNotFit) {
  Config c = three_voters();
  c.learners = {replica(4, 4)};
  EXPECT_NE(c.refusal({ConfChange::Kind::kAddLearner, replica(1, 1)}), "");
  EXPECT_NE(c.refusal({ConfChange::Kind::kAddLearner, replica(4, 4)}), "");
  EXPECT_NE(c.refusal({ConfChange::Kind::kPromoteLearner, replica(1, 1)}), "");
  EXPECT_NE(c.refusal({ConfChange::Kind::kPromoteLearner, replica(5, 5)}), "");
  EXPECT_NE(c.refusal({ConfChange::Kind::kRemoveReplica, replica(5, 5)}), "");
  EXPECT_EQ(c.refusal({ConfChange::Kind::kPromoteLearner, replica(4, 4)}), "");
  EXPECT_EQ(c.refusal({ConfChange::Kind::kRemoveReplica, replica(4, 4)}), "");
  EXPECT_EQ(c.refusal({ConfChange::Kind::kRemoveReplica, replica(1, 1)}), "");

  Config last{{replica(1, 1)}, {replica(4, 4)}};
  EXPECT_NE(last.refusal({ConfChange::Kind::kRemoveReplica, replica(1, 1)}), "");
  EXPECT_EQ(last.refusal({ConfChange::Kind::kRemoveReplica, replica(4, 4)}), "");
}

TEST(ConfigDeathTest, ApplyingARefusedChangeIsABug) {
  Config c = three_voters();
  EXPECT_DEATH((void)c.applied({ConfChange::Kind::kPromoteLearner, replica(1, 1)}),
               "refused conf change");
}

TEST(TypesTest, IndexArithmeticAndNames) {
  LogIndex i(5);
  EXPECT_EQ(i.next(), LogIndex(6));
  EXPECT_EQ(i.prev(), LogIndex(4));
  EXPECT_EQ(i.plus(3), LogIndex(8));
  EXPECT_EQ(i.count_to(LogIndex(9)), 4u);
  EXPECT_EQ(fmt::format("{}", replica(3, 0x1f)), "3.1f");
  EXPECT_TRUE(kNoReplica.is_none());
  EXPECT_STREQ(message_type_name(MessageType::kTimeoutNow), "TimeoutNow");
  EXPECT_STREQ(role_name(Role::kPreCandidate), "pre-candidate");
}

}  // namespace
}  // namespace tessera::raft
