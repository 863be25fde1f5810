#include "bucket/raft_codec.h"

#include <gtest/gtest.h>

#include <random>

#include "bucket/log_format.h"

namespace tessera::bucket {
namespace {

using raft::LogIndex;

raft::ReplicaId replica(uint32_t n) { return raft::ReplicaId{HostId(n), raft::StoreId(100 + n)}; }

std::vector<BucketMessage> sample() {
  std::vector<BucketMessage> out;
  raft::Message app;
  app.type = raft::MessageType::kAppend;
  app.from = replica(1);
  app.to = replica(2);
  app.from_incarnation = 7;
  app.to_incarnation = 3;
  app.term = Term(5);
  app.log_index = LogIndex(10);
  app.log_term = Term(4);
  app.commit = LogIndex(9);
  app.round = 12;
  app.sync_index = LogIndex(11);
  app.entries.push_back(raft::Entry{Term(5), LogIndex(11), raft::EntryType::kEmpty, ""});
  app.entries.push_back(raft::Entry{Term(5), LogIndex(12), raft::EntryType::kCommand, "put x"});
  out.push_back({BucketId(3), app});
  raft::Message snap = app;
  snap.type = raft::MessageType::kSnapshot;
  snap.entries.clear();
  snap.snapshot =
      raft::SnapshotMeta{LogIndex(40), Term(5), {{replica(1), replica(2)}, {replica(3)}}};
  out.push_back({BucketId(4), snap});
  raft::Message resp = app;
  resp.type = raft::MessageType::kHeartbeatResponse;
  resp.entries.clear();
  resp.durable = LogIndex(8);
  resp.durable_term = Term(4);
  resp.to_incarnation = 2;  // This bucket has not seen the addressee's restart yet.
  resp.reject = true;
  resp.reject_hint = LogIndex(6);
  resp.reject_hint_term = Term(2);
  out.push_back({BucketId(5), resp});
  return out;
}

TEST(RaftCodecTest, RoundTrip) {
  auto messages = sample();
  auto encoded = encode_raft_batch(messages);
  auto decoded = decode_raft_batch(encoded.batch, encoded.payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  ASSERT_EQ(decoded->size(), messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ((*decoded)[i].bucket, messages[i].bucket);
    const raft::Message& a = (*decoded)[i].message;
    const raft::Message& b = messages[i].message;
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.from, b.from);
    EXPECT_EQ(a.to, b.to);
    EXPECT_EQ(a.from_incarnation, b.from_incarnation);
    EXPECT_EQ(a.to_incarnation, b.to_incarnation);
    EXPECT_EQ(a.term, b.term);
    EXPECT_EQ(a.log_index, b.log_index);
    EXPECT_EQ(a.commit, b.commit);
    EXPECT_EQ(a.entries, b.entries);
    EXPECT_EQ(a.snapshot, b.snapshot);
    EXPECT_EQ(a.snapshot_data == nullptr, b.snapshot_data == nullptr);
    if (a.snapshot_data && b.snapshot_data) {
      EXPECT_EQ(*a.snapshot_data, *b.snapshot_data);
    }
    EXPECT_EQ(a.reject, b.reject);
    EXPECT_EQ(a.reject_hint, b.reject_hint);
    EXPECT_EQ(a.durable, b.durable);
    EXPECT_EQ(a.durable_term, b.durable_term);
    EXPECT_EQ(a.sync_index, b.sync_index);
    EXPECT_EQ(a.round, b.round);
  }
}

TEST(RaftCodecTest, MalformedBatchesAreRefused) {
  auto good = encode_raft_batch(sample());
  auto refused = [&](auto mutate) {
    EncodedRaftBatch copy = good;
    mutate(copy);
    return !decode_raft_batch(copy.batch, copy.payload).ok();
  };
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) { b.payload[40] ^= 1; }));  // Bad CRC.
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) { b.payload.pop_back(); }));
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) { b.payload += "x"; }));
  EXPECT_TRUE(
      refused([](EncodedRaftBatch& b) { b.batch.mutable_messages(0)->set_entry_count(3); }));
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) { b.batch.mutable_messages(0)->set_log_index(11); }));
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) { b.batch.mutable_messages(0)->set_term(4); }));
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) { b.batch.mutable_messages(0)->set_log_term(6); }));
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) { b.batch.mutable_messages(0)->set_bucket(9); }));
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) {
    b.batch.mutable_messages(0)->set_payload_offset(UINT64_MAX - 2);
  }));
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) {
    b.batch.mutable_messages(1)->set_kind(static_cast<proto::RaftMessage::Kind>(77));
  }));
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) { b.batch.mutable_messages(1)->clear_snapshot(); }));
  EXPECT_TRUE(refused([](EncodedRaftBatch& b) {
    b.batch.mutable_messages(1)->mutable_snapshot()->mutable_config()->clear_voters();
  }));
  EXPECT_TRUE(
      refused([](EncodedRaftBatch& b) { b.batch.mutable_messages(2)->set_bucket(1u << 20); }));
  EXPECT_TRUE(
      refused([](EncodedRaftBatch& b) { b.batch.set_from_host(0), b.batch.set_from_store(0); }));
  EXPECT_FALSE(refused([](EncodedRaftBatch&) {}));
}

TEST(RaftCodecTest, RandomDamageNeverCrashes) {
  auto good = encode_raft_batch(sample());
  std::string wire = good.batch.SerializeAsString();
  std::mt19937_64 random(42);
  for (int round = 0; round < 5000; ++round) {
    std::string w = wire;
    std::string p = good.payload;
    for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips) {
      std::string& target = random() % 2 ? w : p;
      if (target.empty()) continue;
      target[random() % target.size()] = static_cast<char>(random());
    }
    proto::RaftBatch batch;
    if (!batch.ParseFromString(w)) continue;
    (void)decode_raft_batch(batch, p);
  }
}

}  // namespace
}  // namespace tessera::bucket
