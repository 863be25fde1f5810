// DriveClient: typed calls to the drive service of one tessd. Every read is checked block by block
// against the CRC32C the drive sends (kCorruption if the bytes changed on the way).
//
// Lives on one executor, like the RpcClient it owns.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "drive/chunk_format.h"
#include "proto/drive.pb.h"
#include "rpc/client.h"

namespace tessera {

class DriveClient {
 public:
  DriveClient(Executor executor, std::string host, uint16_t port,
              std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : rpc_(std::move(executor), std::move(host), port, rpc::ClientOptions{}), timeout_(timeout) {}

  // `block_crcs` empty: computed here. Errors are the drive's (chunk_store.h) or the RPC layer's.
  Task<Status> write(DriveId drive, ChunkId id, Buffer data, bool durable = true,
                     std::vector<uint32_t> block_crcs = {});
  // block_count 0: to the end of the chunk.
  Task<Result<Buffer>> read(DriveId drive, ChunkId id, uint32_t first_block = 0,
                            uint32_t block_count = 0);
  Task<Status> remove(DriveId drive, ChunkId id);
  Task<Status> barrier(DriveId drive);
  // Every chunk of `bucket`, fetched page by page.
  Task<Result<std::vector<proto::ListedChunk>>> list(DriveId drive, BucketId bucket);
  Task<Result<proto::DriveStats>> stat(DriveId drive);
  Task<Result<std::vector<proto::DriveStats>>> list_drives();

  rpc::RpcClient& rpc() { return rpc_; }

 private:
  rpc::CallOptions options(bool idempotent) const {
    return {.timeout = timeout_, .idempotent = idempotent};
  }

  rpc::RpcClient rpc_;
  std::chrono::milliseconds timeout_;
};

}  // namespace tessera
