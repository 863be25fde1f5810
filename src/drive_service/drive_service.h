// DriveService: the chunk stores of one tessd, served over RPC (proto/drive.proto).
//
// Each drive admits at most max_in_flight_per_drive operations at once; a request waits for a slot
// until its deadline or for max_slot_wait, whichever is sooner (then kDeadlineExceeded), and is
// refused with kBusy when max_waiting_per_drive already wait. An operation that has started runs to
// completion even if its caller gave up, so a write is never left half done.
//
// Lives on one executor, the same as its stores and the RPC server. The stores must outlive the
// server's shutdown().
#pragma once

#include <map>
#include <memory>
#include <string>

#include "drive/chunk_store.h"
#include "proto/drive.pb.h"
#include "rpc/server.h"
#include "runtime/async_semaphore.h"
#include "runtime/clock.h"

namespace tessera {

struct DriveServiceOptions {
  // The clock of the service's own limits (max_slot_wait); request deadlines carry their own.
  const Clock* clock = &RealClock::instance();
  size_t max_in_flight_per_drive = 64;
  size_t max_waiting_per_drive = 1024;
  // The longest a request waits for a slot, even when its own deadline is later (or never).
  std::chrono::milliseconds max_slot_wait{30'000};
  uint32_t max_list_chunks = 10'000;
};

class DriveService {
 public:
  explicit DriveService(DriveServiceOptions options = {}) : options_(options) {}

  // REQUIRES: a drive id not added before; `store` outlives the service.
  void add_drive(ChunkStore* store, std::string path);
  void register_with(rpc::RpcServer& server);

  proto::DriveStats stats(DriveId id) const;

 private:
  struct Drive {
    ChunkStore* store;
    std::string path;
    std::unique_ptr<AsyncSemaphore> slots;
    size_t waiting = 0;
  };
  struct Admitted {
    Drive* drive;
    SemaphorePermit permit;
  };
  Task<Result<Admitted>> admit(uint32_t drive_id, Deadline deadline);

  Task<Result<rpc::Reply>> write_chunk(rpc::Request request);
  Task<Result<rpc::Reply>> read_chunk(rpc::Request request);
  Task<Result<rpc::Reply>> delete_chunk(rpc::Request request);
  Task<Result<rpc::Reply>> list_chunks(rpc::Request request);
  Task<Result<rpc::Reply>> drive_stat(rpc::Request request);
  Task<Result<rpc::Reply>> barrier(rpc::Request request);
  Task<Result<rpc::Reply>> list_drives(rpc::Request request);

  DriveServiceOptions options_;
  std::map<DriveId, Drive> drives_;
};

}  // namespace tessera
