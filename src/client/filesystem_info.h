// A filesystem as a client sees it through the REST API (GET /api/v1/filesystems/NAME), and the
// statfs(2) figures made from it (docs/design/2026-12-06-filesystem-usage.md 3).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/strong_id.h"
#include "runtime/deadline.h"

namespace tessera::client {

struct FilesystemInfo {
  FilesystemId id;
  std::string name;
  uint64_t capacity_bytes = 0;
  std::optional<uint64_t> used_bytes;  // nullopt: not known now (a bucket did not report).
  std::optional<uint64_t> files;
  bool deleting = false;
};

// Parses a filesystem as the API answers it ({"id", "name", "capacity_bytes", "used_bytes",
// "files", "state", ...}; api/filesystem_endpoints.h). kInvalidArgument saying what is wrong for
// anything else; never throws.
Result<FilesystemInfo> parse_filesystem_info(std::string_view body);

// GET /api/v1/filesystems/NAME from the addresses of `api` (HOST:PORT) in turn, until one answers;
// each call within `call_timeout` and all within `deadline`. The API's answer when one answered
// with an error (kNotFound: no such filesystem, kInvalidArgument: a bad name); kUnavailable or
// kDeadlineExceeded, listing each address's reason, when none did. Blocks the calling thread.
Result<FilesystemInfo> fetch_filesystem_info(const std::vector<std::string>& api,
                                             const std::string& name,
                                             std::chrono::milliseconds call_timeout,
                                             const Deadline& deadline);

// What statfs(2) answers for a filesystem (struct statvfs's fields).
struct StatfsFigures {
  uint64_t block_size = 0;     // f_bsize
  uint64_t fragment_size = 0;  // f_frsize: the unit of the block counts
  uint64_t blocks = 0;
  uint64_t free_blocks = 0;
  uint64_t available_blocks = 0;  // For unprivileged callers: the same (nothing is reserved).
  uint64_t files = 0;
  uint64_t free_files = 0;
  uint64_t available_files = 0;
  uint64_t fsid = 0;
  uint64_t name_max = 0;
};

// The figures of `info`: 4 KiB blocks of its capacity, free what its used bytes leave (none once
// used reaches capacity), as many free inodes as free blocks. kUnavailable when its usage is not
// known: a df that shows a full filesystem as empty is worse than one that fails.
Result<StatfsFigures> statfs_of(const FilesystemInfo& info);

}  // namespace tessera::client
