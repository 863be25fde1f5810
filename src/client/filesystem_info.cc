#include "client/filesystem_info.h"

#include <nlohmann/json.hpp>

#include "client/rest_get.h"
#include "http/http.h"
#include "meta/names.h"

namespace tessera::client {

using nlohmann::json;

namespace {

constexpr uint64_t kBlockBytes = 4096;  // The data path's block.
constexpr size_t kMaxFilesystemNameBytes = 255;

// A count that may be null (unknown).
Result<std::optional<uint64_t>> nullable_count(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) {
    return error(StatusCode::kInvalidArgument, "the filesystem answer has no \"{}\"", name);
  }
  if (it->is_null()) return std::optional<uint64_t>();
  TESS_ASSIGN_OR_RETURN(uint64_t count,
                        unsigned_field(object, name, UINT64_MAX, "the filesystem answer"));
  return std::optional<uint64_t>(count);
}

Result<std::string> string_field(const json& object, const char* name, size_t max_bytes) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) {
    return error(StatusCode::kInvalidArgument, "the filesystem answer has no string \"{}\"", name);
  }
  std::string value = it->get<std::string>();
  if (value.size() > max_bytes) {
    return error(StatusCode::kInvalidArgument, "the filesystem answer's \"{}\" is {} bytes long",
                 name, value.size());
  }
  return value;
}

}  // namespace

Result<FilesystemInfo> parse_filesystem_info(std::string_view body) {
  TESS_ASSIGN_OR_RETURN(json root, parse_object(body, "the filesystem answer"));
  FilesystemInfo info;
  TESS_ASSIGN_OR_RETURN(uint64_t id,
                        unsigned_field(root, "id", UINT32_MAX, "the filesystem answer"));
  if (id == 0) return error(StatusCode::kInvalidArgument, "the filesystem answer has id 0");
  info.id = FilesystemId(static_cast<uint32_t>(id));
  TESS_ASSIGN_OR_RETURN(info.name, string_field(root, "name", kMaxFilesystemNameBytes));
  TESS_ASSIGN_OR_RETURN(info.capacity_bytes, unsigned_field(root, "capacity_bytes", UINT64_MAX,
                                                            "the filesystem answer"));
  TESS_ASSIGN_OR_RETURN(info.used_bytes, nullable_count(root, "used_bytes"));
  TESS_ASSIGN_OR_RETURN(info.files, nullable_count(root, "files"));
  TESS_ASSIGN_OR_RETURN(std::string state, string_field(root, "state", 16));
  if (state != "active" && state != "deleting") {
    return error(StatusCode::kInvalidArgument, "the filesystem answer's state is \"{}\"", state);
  }
  info.deleting = state == "deleting";
  return info;
}

Result<FilesystemInfo> fetch_filesystem_info(const std::vector<std::string>& api,
                                             const std::string& name,
                                             std::chrono::milliseconds call_timeout,
                                             const Deadline& deadline) {
  if (api.empty()) return error(StatusCode::kInvalidArgument, "no REST API address was given");
  // The name goes into the path as it is: the API refuses a name it would have to decode.
  std::string path = "/api/v1/filesystems/" + name;
  std::string reasons;
  StatusCode code = StatusCode::kUnavailable;
  for (const std::string& address : api) {
    std::string host;
    uint16_t port = 0;
    Status named = http::split_host_port(address, &host, &port);
    // A malformed address is the caller's, not the cluster's, answer: the next may still answer.
    Result<std::string> body =
        named.ok() ? rest_get(address, path, call_timeout, deadline) : Result<std::string>(named);
    if (body.ok()) return parse_filesystem_info(*body);
    if (named.ok() && !unreached(body.status())) return body.status();  // The cluster's answer.
    code = named.ok() ? body.status().code() : code;
    reasons += fmt::format("{}{}: {}", reasons.empty() ? "" : "; ", address, body.status());
    if (deadline.expired()) break;
  }
  return error(code, "no REST API answered about filesystem {} ({})", name, reasons);
}

Result<StatfsFigures> statfs_of(const FilesystemInfo& info) {
  if (!info.used_bytes || !info.files) {
    return error(StatusCode::kUnavailable,
                 "the usage of filesystem {} is not known now: a bucket did not report it",
                 info.name);
  }
  StatfsFigures out;
  out.block_size = kBlockBytes;
  out.fragment_size = kBlockBytes;
  out.blocks = info.capacity_bytes / kBlockBytes;
  uint64_t free_bytes =
      info.capacity_bytes > *info.used_bytes ? info.capacity_bytes - *info.used_bytes : 0;
  out.free_blocks = free_bytes / kBlockBytes;
  out.available_blocks = out.free_blocks;
  // No inode table to run out of: a new inode needs only room to be useful.
  out.free_files = out.free_blocks;
  out.available_files = out.free_files;
  out.files = *info.files + out.free_files;
  if (out.files < *info.files) out.files = UINT64_MAX;  // Saturate rather than wrap.
  out.fsid = info.id.value();
  out.name_max = meta::kMaxNameBytes;
  return out;
}

}  // namespace tessera::client
