#include "drive_service/drive_client.h"

#include "base/block_checksums.h"
#include "drive_service/wire.h"

namespace tessera {

using rpc::MessageType;

DriveClient::DriveClient(Executor executor, std::string host, uint16_t port,
                         DriveClientOptions options)
    : options_(std::move(options)),
      rpc_(std::move(executor), std::move(host), port, rpc_options(options_)) {}

rpc::ClientOptions DriveClient::rpc_options(const DriveClientOptions& options) {
  rpc::ClientOptions rpc;
  rpc.clock = options.clock;
  rpc.connect_timeout = options.connect_timeout;
  rpc.max_in_flight_calls = options.max_in_flight_calls;
  rpc.network = options.network;
  return rpc;
}

Task<Status> DriveClient::write(Deadline deadline, DriveId drive, ChunkId id, Buffer data,
                                bool durable, std::vector<uint32_t> block_crcs) {
  proto::WriteChunkRequest request;
  request.set_drive_id(drive.value());
  *request.mutable_chunk() = to_message(id);
  request.set_durable(durable);
  if (block_crcs.empty() && data.size() % kBlockSize == 0)
    block_crcs = block_checksums(data.span());
  request.mutable_block_crcs()->Add(block_crcs.begin(), block_crcs.end());
  // Not idempotent: a retry after a lost reply would find the chunk written (kAlreadyExists).
  auto reply = co_await rpc_.call(MessageType::kWriteChunk, request, std::move(data),
                                  call_options(deadline, false));
  co_return reply.status();
}

Task<Result<Buffer>> DriveClient::read(Deadline deadline, DriveId drive, ChunkId id,
                                       uint32_t first_block, uint32_t block_count) {
  proto::ReadChunkRequest request;
  request.set_drive_id(drive.value());
  *request.mutable_chunk() = to_message(id);
  request.set_first_block(first_block);
  request.set_block_count(block_count);
  TESS_CO_ASSIGN_OR_RETURN(
      rpc::Reply reply,
      co_await rpc_.call(MessageType::kReadChunk, request, Buffer(), call_options(deadline, true)));
  TESS_CO_ASSIGN_OR_RETURN(auto response, reply.parse<proto::ReadChunkResponse>());
  if (reply.payload.size() !=
      uint64_t{static_cast<uint32_t>(response.block_crcs_size())} * kBlockSize) {
    co_return error(StatusCode::kCorruption, "read of {}: {} bytes with {} checksums",
                    to_string(id), reply.payload.size(), response.block_crcs_size());
  }
  std::vector<uint32_t> crcs(response.block_crcs().begin(), response.block_crcs().end());
  Status valid = verify_block_checksums(reply.payload.span(), crcs, first_block);
  if (!valid.ok()) {
    co_return error(StatusCode::kCorruption, "read of {} damaged in transit: {}", to_string(id),
                    valid.message());
  }
  co_return std::move(reply.payload);
}

Task<Status> DriveClient::remove(Deadline deadline, DriveId drive, ChunkId id) {
  proto::DeleteChunkRequest request;
  request.set_drive_id(drive.value());
  *request.mutable_chunk() = to_message(id);
  auto reply = co_await rpc_.call(MessageType::kDeleteChunk, request, Buffer(),
                                  call_options(deadline, false));
  co_return reply.status();
}

Task<Status> DriveClient::barrier(Deadline deadline, DriveId drive) {
  proto::BarrierRequest request;
  request.set_drive_id(drive.value());
  auto reply =
      co_await rpc_.call(MessageType::kBarrier, request, Buffer(), call_options(deadline, true));
  co_return reply.status();
}

Task<Result<std::vector<proto::ListedChunk>>> DriveClient::list(Deadline deadline, DriveId drive,
                                                                BucketId bucket) {
  // One budget for all pages: the caller's deadline, and the client's timeout from now.
  deadline = deadline.capped(options_.timeout, *options_.clock);
  std::vector<proto::ListedChunk> chunks;
  proto::ListChunksRequest request;
  request.set_drive_id(drive.value());
  request.set_bucket(bucket.value());
  while (true) {
    TESS_CO_ASSIGN_OR_RETURN(rpc::Reply reply,
                             co_await rpc_.call(MessageType::kListChunks, request, Buffer(),
                                                call_options(deadline, true)));
    TESS_CO_ASSIGN_OR_RETURN(auto response, reply.parse<proto::ListChunksResponse>());
    chunks.insert(chunks.end(), response.chunks().begin(), response.chunks().end());
    if (!response.more() || response.chunks().empty()) break;
    *request.mutable_start_after() = response.chunks().rbegin()->chunk();
  }
  co_return chunks;
}

Task<Result<proto::DriveStats>> DriveClient::stat(Deadline deadline, DriveId drive) {
  proto::DriveStatRequest request;
  request.set_drive_id(drive.value());
  TESS_CO_ASSIGN_OR_RETURN(
      rpc::Reply reply,
      co_await rpc_.call(MessageType::kDriveStat, request, Buffer(), call_options(deadline, true)));
  co_return reply.parse<proto::DriveStats>();
}

Task<Result<std::vector<proto::DriveStats>>> DriveClient::list_drives(Deadline deadline) {
  TESS_CO_ASSIGN_OR_RETURN(rpc::Reply reply,
                           co_await rpc_.call(MessageType::kListDrives, proto::ListDrivesRequest(),
                                              Buffer(), call_options(deadline, true)));
  TESS_CO_ASSIGN_OR_RETURN(auto response, reply.parse<proto::ListDrivesResponse>());
  co_return std::vector<proto::DriveStats>(response.drives().begin(), response.drives().end());
}

}  // namespace tessera
