// The wire form of Raft between tessd processes (design 5.1): all messages from one store to one
// peer store, of any number of buckets, as one RaftBatch plus a payload holding the entries of
// every append in their log-store encoding (log_format.h), so an entry is checked by its CRC from
// the leader's memory to every follower's disk.
//
// Decoding is of untrusted bytes: it never crashes or throws; anything malformed (unknown kind,
// entries out of the payload, a bad CRC, entries not contiguous or of a term above the message's,
// a bucket id out of range, a snapshot message without its metadata) fails the whole batch with
// kInvalidArgument (kCorruption for a damaged entry), and nothing of it is stepped.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/strong_id.h"
#include "proto/raft.pb.h"
#include "raft/types.h"

namespace tessera::bucket {

struct BucketMessage {
  BucketId bucket;
  raft::Message message;
};

struct EncodedRaftBatch {
  proto::RaftBatch batch;
  std::string payload;
};

// Limits on what one batch may carry, checked before anything is allocated for it.
struct RaftBatchLimits {
  size_t max_messages = 65'536;
  size_t max_entries_per_message = 10'000;
};

// REQUIRES: every message has the same from and to (replica and incarnation), and its entries
// are valid (log_format.h's encoder REQUIRES).
EncodedRaftBatch encode_raft_batch(std::span<const BucketMessage> messages);

Result<std::vector<BucketMessage>> decode_raft_batch(const proto::RaftBatch& batch,
                                                     std::string_view payload,
                                                     const RaftBatchLimits& limits = {});

}  // namespace tessera::bucket
