// What each filesystem holds, gathered from the buckets' usage counters
// (docs/design/2026-12-06-filesystem-usage.md 2): every host reports the counters of the replicas
// it holds (GET /api/v1/local/usage, LocalBuckets::usage), and the API counts each bucket once,
// from the replica that has applied the most.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "api/rest_api.h"
#include "cluster/filesystems.h"

namespace tessera::api {

inline constexpr const char* kLocalUsagePath = "/api/v1/local/usage";

// The usage of each filesystem of `ids` from hosts' GET /api/v1/local/usage bodies (`answers`, by
// host id; this host's among them): {"replicas": [{"bucket", "applied", "filesystems": [{"id",
// "files", "size_bytes"}]}]}. Each bucket below `bucket_count` counts once, from its report with
// the highest applied index; a malformed report is skipped. If some bucket is in no report, every
// figure is unknown: a sum that misses a bucket would look right and be wrong. used_bytes is the
// sum of size_bytes (the data path's allocated bytes replace it later). Pure.
FilesystemUsageTable merge_filesystem_usage(uint32_t bucket_count, const HostAnswers& answers,
                                            const std::vector<FilesystemId>& ids);

// The same, asking every registered host of `view` at once (`local` answers for `self`) within
// `timeout` overall. Every figure unknown before the cluster exists or on a host whose API has no
// bucket role to answer for itself. Blocks the calling (API) thread.
FilesystemUsageTable live_filesystem_usage(
    const ClusterView& view, uint32_t self, const LocalBuckets& local,
    const std::vector<FilesystemId>& ids,
    std::chrono::milliseconds timeout = std::chrono::seconds(1));

}  // namespace tessera::api
