#include "tessd/drive_host.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "base/log.h"
#include "runtime/clock.h"

namespace tessera {

namespace {

Status create_drive_file(const std::string& path, uint64_t bytes) {
  if (bytes == 0 || bytes % kBlockSize != 0) {
    return error(StatusCode::kInvalidArgument, "drive size {} is not a positive multiple of 4 KiB",
                 bytes);
  }
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd < 0) return error(StatusCode::kIoError, "create {}: {}", path, std::strerror(errno));
  int truncated = ftruncate(fd, static_cast<off_t>(bytes));
  int saved = errno;
  ::close(fd);
  if (truncated != 0) return error(StatusCode::kIoError, "size {}: {}", path, std::strerror(saved));
  return Status();
}

Status named(const Status& status, const std::string& path) {
  return status.ok() ? status
                     : Status(status.code(), fmt::format("drive {}: {}", path, status.message()));
}

}  // namespace

DriveHost::~DriveHost() { TESS_ASSERT(closed_ || drives_.empty(), "DriveHost destroyed open"); }

std::string DriveHost::index_path(const DriveHostOptions& options, const std::string& drive_path,
                                  DriveId id) {
  if (options.index_dir.empty()) return drive_path + ".index";
  return fmt::format("{}/drive-{}", options.index_dir, id);
}

Task<Result<DriveHost::Drive>> DriveHost::open_drive(Executor executor,
                                                     const DriveHostOptions& options,
                                                     size_t position, std::string path) {
  Drive drive;
  drive.path = std::move(path);
  if (options.create_bytes > 0 && !std::filesystem::exists(drive.path)) {
    TESS_CO_RETURN_IF_ERROR(create_drive_file(drive.path, options.create_bytes));
  }
  TESS_CO_ASSIGN_OR_RETURN(drive.device,
                           UringBlockDevice::open(executor, drive.path, options.queue_depth));
  auto superblock = co_await read_superblock(*drive.device);
  bool blank = superblock.status().code() == StatusCode::kNotFound;
  DriveId id;
  if (options.force_format || (blank && options.format_blank)) {
    id = DriveId(options.first_drive_id + static_cast<uint32_t>(position));
    if (options.allocate_drive_id) {
      TESS_CO_ASSIGN_OR_RETURN(uint32_t allocated, options.allocate_drive_id());
      id = DriveId(allocated);
    }
    TESS_CO_RETURN_IF_ERROR(
        (co_await ChunkStore::format(*drive.device, index_path(options, drive.path, id),
                                     options.cluster_id, id, system_unix_ms(), options.force_format,
                                     options.store))
            .status());
    TESS_LOG_INFO("drive {}: formatted as drive {}", drive.path, id);
  } else if (blank) {
    co_return error(StatusCode::kNotFound, "not formatted (start with --format to format it)");
  } else if (!superblock.ok()) {
    co_return superblock.status();
  } else {
    id = superblock->drive_id;
  }
  TESS_CO_ASSIGN_OR_RETURN(
      drive.store,
      co_await ChunkStore::open(executor, *drive.device, index_path(options, drive.path, id),
                                options.cluster_id, options.store));
  if (drive.store->dropped_at_open() > 0) {
    TESS_LOG_WARN("drive {}: {} unsynced chunk(s) did not survive the last crash", drive.path,
                  drive.store->dropped_at_open());
  }
  co_return std::move(drive);
}

Status DriveHost::serve(Drive drive) {
  ChunkStoreStats stats = drive.store->stats();
  TESS_LOG_INFO("drive {} ({}): {} chunks, {} of {} bytes used", drive.store->drive_id(),
                drive.path, stats.chunk_count, stats.used_bytes, stats.capacity_bytes);
  for (const Drive& other : drives_) {
    if (other.store->drive_id() == drive.store->drive_id()) {
      return error(StatusCode::kAlreadyExists, "drive {}: drive {} is served already ({})",
                   drive.path, drive.store->drive_id(), other.path);
    }
  }
  if (options_.scrub_enabled) TESS_RETURN_IF_ERROR(drive.store->start_scrubber(options_.scrub));
  service_->add_drive(drive.store.get(), drive.path);
  drives_.push_back(std::move(drive));
  return Status();
}

Task<Result<std::unique_ptr<DriveHost>>> DriveHost::open(Executor executor,
                                                         DriveHostOptions options,
                                                         DriveService* service) {
  if (options.scrub_enabled) {
    TESS_CO_RETURN_IF_ERROR(
        check_scrub_options(options.scrub)
            .with_context("scrub options (to run without scrubbing, turn the scrubber off)"));
  }
  std::unique_ptr<DriveHost> host(new DriveHost(executor, options, service));
  for (size_t position = 0; position < options.drive_paths.size(); ++position) {
    Result<Drive> drive =
        co_await open_drive(executor, options, position, options.drive_paths[position]);
    Status served = drive.ok() ? host->serve(std::move(*drive)) : drive.status();
    if (!served.ok()) {
      co_await host->close();
      co_return named(served, options.drive_paths[position]);
    }
  }
  co_return host;
}

Task<Status> DriveHost::add_drive(std::string path, uint32_t drive_id_if_blank) {
  for (const Drive& drive : drives_) {
    if (drive.path == path)
      co_return error(StatusCode::kAlreadyExists, "drive {} is served already", path);
  }
  DriveHostOptions options = options_;
  options.format_blank = true;
  options.force_format = false;
  options.create_bytes = 0;  // An added drive must exist: a typo should not create a file.
  options.allocate_drive_id = [drive_id_if_blank]() -> Result<uint32_t> {
    return drive_id_if_blank;
  };
  Result<Drive> drive = co_await open_drive(executor_, options, drives_.size(), path);
  if (!drive.ok()) co_return named(drive.status(), path);
  co_return named(serve(std::move(*drive)), path);
}

std::vector<DriveHost::DriveSummary> DriveHost::summaries() const {
  std::vector<DriveSummary> out;
  for (const Drive& drive : drives_) {
    ChunkStoreStats stats = drive.store->stats();
    out.push_back(DriveSummary{drive.store->drive_id().value(), drive.path, stats.capacity_bytes,
                               stats.used_bytes});
  }
  return out;
}

Task<void> DriveHost::close() {
  for (Drive& drive : drives_) co_await drive.store->close();
  closed_ = true;
}

}  // namespace tessera
