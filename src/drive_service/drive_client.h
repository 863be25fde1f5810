// DriveClient: typed calls to the drive service of one tessd. Every read is checked block by block
// against the CRC32C the drive sends (kCorruption if the bytes changed on the way).
//
// Every call takes the caller's Deadline and ends by the earlier of it and options.timeout from
// the start of the call (kDeadlineExceeded), so a drive call made within a caller's budget never
// outlives it. A list() of many pages shares one deadline over all its pages.
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
#include "runtime/clock.h"
#include "runtime/deadline.h"

namespace tessera {

// Plain values only: clients are often built inside coroutines, where GCC 12 mishandles
// temporaries that own memory (a default-constructed std::string was freed from the coroutine
// frame under ASan).
struct DriveClientOptions {
  // Every timeout and wait of the client (and of its RpcClient) runs on this clock.
  const Clock* clock = &RealClock::instance();
  // The longest a call may take when the caller's deadline is later (or never).
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{2'000};
  size_t max_in_flight_calls = 256;
  // The network to reach the drive over (a SimNetwork node in simulation); nullptr: TCP.
  rpc::Network* network = nullptr;
};

class DriveClient {
 public:
  DriveClient(Executor executor, std::string host, uint16_t port, DriveClientOptions options = {});

  // `block_crcs` empty: computed here. Errors are the drive's (chunk_store.h) or the RPC layer's.
  Task<Status> write(Deadline deadline, DriveId drive, ChunkId id, Buffer data, bool durable = true,
                     std::vector<uint32_t> block_crcs = {});
  // block_count 0: to the end of the chunk.
  Task<Result<Buffer>> read(Deadline deadline, DriveId drive, ChunkId id, uint32_t first_block = 0,
                            uint32_t block_count = 0);
  Task<Status> remove(Deadline deadline, DriveId drive, ChunkId id);
  Task<Status> barrier(Deadline deadline, DriveId drive);
  // Every chunk of `bucket`, fetched page by page, all pages by `deadline`.
  Task<Result<std::vector<proto::ListedChunk>>> list(Deadline deadline, DriveId drive,
                                                     BucketId bucket);
  Task<Result<proto::DriveStats>> stat(Deadline deadline, DriveId drive);
  Task<Result<std::vector<proto::DriveStats>>> list_drives(Deadline deadline);

  rpc::RpcClient& rpc() { return rpc_; }
  const Clock& clock() const { return *options_.clock; }

 private:
  static rpc::ClientOptions rpc_options(const DriveClientOptions& options);
  rpc::CallOptions call_options(Deadline deadline, bool idempotent) const {
    return {.timeout = options_.timeout, .idempotent = idempotent, .deadline = deadline};
  }

  DriveClientOptions options_;
  rpc::RpcClient rpc_;
};

}  // namespace tessera
