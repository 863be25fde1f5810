#include "api/filesystem_usage.h"

#include <map>
#include <nlohmann/json.hpp>

#include "api/response.h"

namespace tessera::api {

using nlohmann::json;

namespace {

// A filesystem's counters in one bucket.
struct Counters {
  uint64_t files = 0;
  uint64_t size_bytes = 0;
};

// One replica's report, checked field by field.
struct ReplicaUsage {
  uint32_t bucket = 0;
  uint64_t applied = 0;
  std::map<uint32_t, Counters> by_fs;
};

// More filesystems than the cluster may have (kMaxFilesystems) are malformed.
constexpr size_t kMaxReportedFilesystems = 4096;

std::optional<ReplicaUsage> parse_replica(const json& replica) {
  ReplicaUsage out;
  uint64_t bucket = 0;
  if (!replica.is_object() || !unsigned_field(replica, "bucket", UINT32_MAX, &bucket) ||
      !unsigned_field(replica, "applied", UINT64_MAX, &out.applied)) {
    return std::nullopt;
  }
  out.bucket = static_cast<uint32_t>(bucket);
  auto filesystems = replica.find("filesystems");
  if (filesystems == replica.end() || !filesystems->is_array() ||
      filesystems->size() > kMaxReportedFilesystems) {
    return std::nullopt;
  }
  for (const json& row : *filesystems) {
    uint64_t id = 0;
    Counters counters;
    if (!row.is_object() || !unsigned_field(row, "id", UINT32_MAX, &id) ||
        !unsigned_field(row, "files", UINT64_MAX, &counters.files) ||
        !unsigned_field(row, "size_bytes", UINT64_MAX, &counters.size_bytes)) {
      return std::nullopt;
    }
    out.by_fs[static_cast<uint32_t>(id)] = counters;
  }
  return out;
}

uint64_t saturating_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

}  // namespace

FilesystemUsageTable merge_filesystem_usage(uint32_t bucket_count, const HostAnswers& answers,
                                            const std::vector<FilesystemId>& ids) {
  std::vector<std::optional<ReplicaUsage>> freshest(bucket_count);
  for (const auto& [host, body] : answers) {
    auto replicas = body.is_object() ? body.find("replicas") : body.end();
    if (!body.is_object() || replicas == body.end() || !replicas->is_array()) continue;
    for (const json& replica : *replicas) {
      std::optional<ReplicaUsage> report = parse_replica(replica);
      if (!report || report->bucket >= bucket_count) continue;
      std::optional<ReplicaUsage>& slot = freshest[report->bucket];
      if (!slot || slot->applied < report->applied) slot = std::move(report);
    }
  }
  FilesystemUsageTable table;
  bool complete =
      bucket_count > 0 && std::all_of(freshest.begin(), freshest.end(),
                                      [](const auto& slot) { return slot.has_value(); });
  for (FilesystemId id : ids) {
    FilesystemUsage& usage = table[id];
    if (!complete) continue;  // Unknown.
    Counters sum;
    for (const std::optional<ReplicaUsage>& slot : freshest) {
      auto found = slot->by_fs.find(id.value());
      if (found == slot->by_fs.end()) continue;
      sum.files = saturating_add(sum.files, found->second.files);
      sum.size_bytes = saturating_add(sum.size_bytes, found->second.size_bytes);
    }
    usage.files = sum.files;
    usage.used_bytes = sum.size_bytes;
  }
  return table;
}

FilesystemUsageTable live_filesystem_usage(const ClusterView& view, uint32_t self,
                                           const LocalBuckets& local,
                                           const std::vector<FilesystemId>& ids,
                                           std::chrono::milliseconds timeout) {
  if (!view.map || !local.usage) return merge_filesystem_usage(0, {}, ids);
  json own;
  std::vector<HostAnswers> answers =
      ask_every_host(view, self, {kLocalUsagePath}, timeout, [&own, &local] {
        own = {{"replicas", local.usage()}};
      });
  answers[0][self] = std::move(own);
  return merge_filesystem_usage(static_cast<uint32_t>(view.map->buckets.size()), answers[0], ids);
}

}  // namespace tessera::api
