// Every RPC message type, in one place, so numbers are never reused. Each service owns a range.
#pragma once

#include <cstdint>

namespace tessera::rpc {

enum class MessageType : uint32_t {
  // 1-99: built into every server.
  kPing = 1,
  // 100-199: drive service (proto/drive.proto).
  kWriteChunk = 100,
  kReadChunk = 101,
  kDeleteChunk = 102,
  kListChunks = 103,
  kDriveStat = 104,
  kBarrier = 105,
  kListDrives = 106,
  // 200-299: bucket service (proto/raft.proto, proto/bucket.proto).
  kRaftBatch = 200,
  kBucketCall = 201,
  kBucketSync = 202,
  // 300-399: management.
  // Tests use 9000 and above.
  kFirstTestType = 9000,
};

}  // namespace tessera::rpc
