#include "drive_service/drive_service.h"

#include <functional>

#include "base/block_checksums.h"
#include "drive_service/wire.h"

namespace tessera {

void DriveService::add_drive(ChunkStore* store, std::string path) {
  auto [it, added] = drives_.try_emplace(
      store->drive_id(),
      Drive{store, std::move(path),
            std::make_unique<AsyncSemaphore>(options_.max_in_flight_per_drive), 0});
  TESS_ASSERT(added, "drive {} added twice", store->drive_id());
}

void DriveService::register_with(rpc::RpcServer& server) {
  using rpc::MessageType;
  server.register_handler(MessageType::kWriteChunk,
                          std::bind_front(&DriveService::write_chunk, this));
  server.register_handler(MessageType::kReadChunk,
                          std::bind_front(&DriveService::read_chunk, this));
  server.register_handler(MessageType::kDeleteChunk,
                          std::bind_front(&DriveService::delete_chunk, this));
  server.register_handler(MessageType::kListChunks,
                          std::bind_front(&DriveService::list_chunks, this));
  server.register_handler(MessageType::kDriveStat,
                          std::bind_front(&DriveService::drive_stat, this));
  server.register_handler(MessageType::kBarrier, std::bind_front(&DriveService::barrier, this));
  server.register_handler(MessageType::kListDrives,
                          std::bind_front(&DriveService::list_drives, this));
}

Task<Result<DriveService::Admitted>> DriveService::admit(uint32_t drive_id, Deadline deadline) {
  auto found = drives_.find(DriveId(drive_id));
  if (found == drives_.end()) {
    co_return error(StatusCode::kNotFound, "this tessd has no drive {}", drive_id);
  }
  Drive& drive = found->second;
  if (deadline.expired()) co_return error(StatusCode::kDeadlineExceeded, "deadline exceeded");
  if (!drive.slots->try_acquire()) {
    if (drive.waiting >= options_.max_waiting_per_drive) {
      co_return error(StatusCode::kBusy, "drive {}: {} operations waiting", drive_id,
                      drive.waiting);
    }
    ++drive.waiting;
    Status acquired =
        co_await drive.slots->acquire(deadline.capped(options_.max_slot_wait, *options_.clock));
    --drive.waiting;
    TESS_CO_RETURN_IF_ERROR(acquired);
  }
  co_return Admitted{&drive, SemaphorePermit(drive.slots.get())};
}

Task<Result<rpc::Reply>> DriveService::write_chunk(rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto message, request.parse<proto::WriteChunkRequest>());
  TESS_CO_ASSIGN_OR_RETURN(ChunkId id, from_message(message.chunk()));
  TESS_CO_ASSIGN_OR_RETURN(Admitted admitted, co_await admit(message.drive_id(), request.deadline));
  ChunkWriteOptions options{message.durable(),
                            {message.block_crcs().begin(), message.block_crcs().end()}};
  TESS_CO_RETURN_IF_ERROR(
      co_await admitted.drive->store->write(id, std::move(request.payload), std::move(options)));
  co_return rpc::Reply::of(proto::WriteChunkResponse());
}

Task<Result<rpc::Reply>> DriveService::read_chunk(rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto message, request.parse<proto::ReadChunkRequest>());
  TESS_CO_ASSIGN_OR_RETURN(ChunkId id, from_message(message.chunk()));
  TESS_CO_ASSIGN_OR_RETURN(Admitted admitted, co_await admit(message.drive_id(), request.deadline));
  ChunkStore& store = *admitted.drive->store;
  uint32_t count = message.block_count();
  if (count == 0) {
    std::optional<ChunkInfo> info = store.find(id);
    auto blocks = static_cast<uint32_t>(info ? info->data_bytes / kBlockSize : 0);
    // Past the end: ask for one block, so the store answers kOutOfRange naming the chunk's size.
    count = message.first_block() < blocks ? blocks - message.first_block() : 1;
  }
  TESS_CO_ASSIGN_OR_RETURN(Buffer data, co_await store.read(id, message.first_block(), count));
  proto::ReadChunkResponse response;
  for (uint32_t crc : block_checksums(data.span())) response.add_block_crcs(crc);
  co_return rpc::Reply::of(response, std::move(data));
}

Task<Result<rpc::Reply>> DriveService::delete_chunk(rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto message, request.parse<proto::DeleteChunkRequest>());
  TESS_CO_ASSIGN_OR_RETURN(ChunkId id, from_message(message.chunk()));
  TESS_CO_ASSIGN_OR_RETURN(Admitted admitted, co_await admit(message.drive_id(), request.deadline));
  TESS_CO_RETURN_IF_ERROR(co_await admitted.drive->store->remove(id));
  co_return rpc::Reply::of(proto::DeleteChunkResponse());
}

Task<Result<rpc::Reply>> DriveService::list_chunks(rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto message, request.parse<proto::ListChunksRequest>());
  std::optional<ChunkId> start_after;
  if (message.has_start_after()) {
    TESS_CO_ASSIGN_OR_RETURN(start_after, from_message(message.start_after()));
  }
  auto found = drives_.find(DriveId(message.drive_id()));
  if (found == drives_.end()) {
    co_return error(StatusCode::kNotFound, "this tessd has no drive {}", message.drive_id());
  }
  uint32_t limit = message.limit() == 0 ? options_.max_list_chunks
                                        : std::min(message.limit(), options_.max_list_chunks);
  // One more than asked tells whether the list goes on.
  std::vector<ChunkInfo> chunks =
      found->second.store->list(BucketId(message.bucket()), start_after, limit + 1);
  proto::ListChunksResponse response;
  response.set_more(chunks.size() > limit);
  if (chunks.size() > limit) chunks.pop_back();
  for (const ChunkInfo& info : chunks) {
    proto::ListedChunk* listed = response.add_chunks();
    *listed->mutable_chunk() = to_message(info.id);
    listed->set_data_bytes(info.data_bytes);
  }
  co_return rpc::Reply::of(response);
}

proto::DriveStats DriveService::stats(DriveId id) const {
  const Drive& drive = drives_.at(id);
  ChunkStoreStats stats = drive.store->stats();
  proto::DriveStats message;
  message.set_drive_id(id.value());
  message.set_path(drive.path);
  message.set_capacity_bytes(stats.capacity_bytes);
  message.set_used_bytes(stats.used_bytes);
  message.set_free_bytes(stats.free_bytes);
  message.set_chunk_count(stats.chunk_count);
  message.set_corrupt_blocks_found(stats.corrupt_blocks_found);
  message.set_scrub_passes(stats.scrub_passes);
  message.set_scrubbed_bytes(stats.scrubbed_bytes);
  message.set_in_flight(
      static_cast<uint32_t>(options_.max_in_flight_per_drive - drive.slots->available()));
  return message;
}

Task<Result<rpc::Reply>> DriveService::drive_stat(rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto message, request.parse<proto::DriveStatRequest>());
  if (!drives_.contains(DriveId(message.drive_id()))) {
    co_return error(StatusCode::kNotFound, "this tessd has no drive {}", message.drive_id());
  }
  co_return rpc::Reply::of(stats(DriveId(message.drive_id())));
}

Task<Result<rpc::Reply>> DriveService::barrier(rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto message, request.parse<proto::BarrierRequest>());
  TESS_CO_ASSIGN_OR_RETURN(Admitted admitted, co_await admit(message.drive_id(), request.deadline));
  TESS_CO_RETURN_IF_ERROR(co_await admitted.drive->store->barrier());
  co_return rpc::Reply::of(proto::BarrierResponse());
}

Task<Result<rpc::Reply>> DriveService::list_drives(rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto message, request.parse<proto::ListDrivesRequest>());
  (void)message;
  proto::ListDrivesResponse response;
  for (const auto& [id, drive] : drives_) *response.add_drives() = stats(id);
  co_return rpc::Reply::of(response);
}

}  // namespace tessera
