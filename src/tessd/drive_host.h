// DriveHost: the drives of one tessd. Opens each drive (a file or block device), formats it when
// asked and it is blank, opens its chunk store, starts its scrubber, and adds it to a DriveService.
//
// Lives on one executor: the one given to open(), which the stores and the service use too.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "drive/chunk_store.h"
#include "drive/uring_block_device.h"
#include "drive_service/drive_service.h"

namespace tessera {

struct DriveHostOptions {
  ClusterUuid cluster_id{};
  std::vector<std::string> drive_paths;
  // Where each drive's index lives: "<drive path>.index" if empty, else
  // "<index_dir>/drive-<drive id>" (the id from the superblock, or the one a format gives).
  std::string index_dir;
  bool format_blank = false;    // Format drives that hold no superblock.
  bool force_format = false;    // Reformat every drive, whatever it holds (loses its data).
  uint32_t first_drive_id = 1;  // Ids of formatted drives: first_drive_id + position,
  // unless this allocates them (the cluster's counter in etcd). Blocking; called at format only.
  std::function<Result<uint32_t>()> allocate_drive_id;
  uint64_t create_bytes = 0;  // Create missing drive files of this size (0: missing is an error).
  uint32_t queue_depth = 64;
  ScrubOptions scrub;  // Refused by open() if check_scrub_options() refuses it and scrub_enabled.
  bool scrub_enabled = true;
  // Clock, index Env and simulation mode of every chunk store. In production the stores run their
  // RocksDB work (open, scan, synced writes) on threads of their own, so opening or adding a
  // drive does not stall the loop that serves the others.
  ChunkStoreOptions store;
};

class DriveHost {
 public:
  // Errors name the drive path: device open errors, kNotFound for a blank drive without
  // format_blank, and the store's open errors (other cluster, unknown format, corrupt index).
  // kInvalidArgument for scrub options check_scrub_options() refuses (a rate of zero).
  static Task<Result<std::unique_ptr<DriveHost>>> open(Executor executor, DriveHostOptions options,
                                                       DriveService* service);
  ~DriveHost();
  DriveHost(const DriveHost&) = delete;
  DriveHost& operator=(const DriveHost&) = delete;

  // Opens one more drive (formatting it if blank, with `drive_id`) and serves it. Errors as open().
  Task<Status> add_drive(std::string path, uint32_t drive_id_if_blank);
  struct DriveSummary {
    uint32_t drive_id;
    std::string path;
    uint64_t capacity_bytes;
    uint64_t used_bytes;
  };
  std::vector<DriveSummary> summaries() const;

  // Stops scrubbers and closes stores. REQUIRES: the RPC server was shut down.
  Task<void> close();
  size_t drive_count() const { return drives_.size(); }

 private:
  struct Drive {
    std::string path;
    std::unique_ptr<UringBlockDevice> device;
    std::unique_ptr<ChunkStore> store;
  };
  DriveHost(Executor executor, DriveHostOptions options, DriveService* service)
      : executor_(std::move(executor)), options_(std::move(options)), service_(service) {}
  static std::string index_path(const DriveHostOptions& options, const std::string& drive_path,
                                DriveId id);
  static Task<Result<Drive>> open_drive(Executor executor, const DriveHostOptions& options,
                                        size_t position, std::string path);
  Status serve(Drive drive);

  Executor executor_;
  DriveHostOptions options_;
  DriveService* service_;
  std::vector<Drive> drives_;
  bool closed_ = false;
};

}  // namespace tessera
