// check_filesystem: `tess fsck` in the client library. Reads the cluster's bucket map from its
// REST API, then runs the namespace checker (meta/namespace_check.h) over the buckets as a client
// of its own (one event loop, one bucket session), and answers its report.
//
// Blocking: call it from an ordinary thread, never from an event loop. The progress callback, if
// any, runs on the checker's loop thread.
//
// Failures: the directory's (no address answered, a malformed map; rest_bucket_directory.h), the
// checker's (a bucket unreadable before the timeout, a lock held too long, too many inodes).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"
#include "meta/namespace_check.h"

namespace tessera::client {

struct CheckFilesystemOptions {
  std::vector<std::string> api;  // HOST:PORT of tessd REST APIs; at least one.
  // What to check and how; bucket_count is read from the cluster (set it to 0).
  meta::CheckOptions check;
  std::chrono::seconds timeout{3600};  // The whole check.
};

Result<meta::CheckReport> check_filesystem(const CheckFilesystemOptions& options);

}  // namespace tessera::client
