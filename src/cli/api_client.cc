#include "cli/api_client.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "http/api_error.h"
#include "http/http.h"
#include "runtime/clock.h"

namespace tessera::cli {

using nlohmann::json;

namespace {

constexpr std::chrono::seconds kTimeout{30};
constexpr int kMaxRedirects = 3;
// Bounds of the cache file: endpoints per configured list, and configured lists.
constexpr size_t kMaxLearntEndpoints = 64;
constexpr size_t kMaxCachedLists = 32;

// "http://host:port/path" -> host:port and path.
bool split_url(const std::string& url, std::string* address, std::string* path) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  size_t slash = url.find('/', scheme.size());
  *address = url.substr(scheme.size(), slash - scheme.size());
  *path = slash == std::string::npos ? "/" : url.substr(slash);
  return true;
}

Status error_of(const http::Response& response) {
  if (std::optional<Status> stated = http::api_error_of(response.body)) {
    return stated->message().empty() ? Status(stated->code(), response.body) : *stated;
  }
  return error(StatusCode::kInternal, "HTTP {}: {}", response.status, response.body.substr(0, 200));
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

json read_cache(const std::string& path) {
  std::ifstream in(path);
  json cache = in ? json::parse(in, nullptr, false) : json();
  if (cache.is_discarded() || !cache.is_object() || !cache.contains("lists") ||
      !cache["lists"].is_object()) {
    return json{{"lists", json::object()}};
  }
  return cache;
}

}  // namespace

void add_api_options(CLI::App* command, ApiOptions* options) {
  command->add_option("--api", options->api,
                      "HOST:PORT[,HOST:PORT...] of hosts' REST API, tried in turn (default: "
                      "$TESS_API, the local cluster, or 127.0.0.1:7500)");
  command->add_flag("--json", options->json, "print the API's JSON instead of a table");
}

std::string ApiClient::default_cache_path() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/tessera/api-endpoints.json";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.cache/tessera/api-endpoints.json";
  }
  return "";
}

ApiClient ApiClient::resolve(const std::string& api_flag) {
  std::vector<std::string> addresses = http::split_address_list(api_flag);
  if (addresses.empty()) {
    if (const char* env = std::getenv("TESS_API"); env != nullptr)
      addresses = http::split_address_list(env);
  }
  if (addresses.empty()) {
    std::ifstream state(std::string(kDefaultLocalDir) + "/state.json");
    json parsed = state ? json::parse(state, nullptr, false) : json();
    if (!parsed.is_discarded() && parsed.is_object() && parsed.contains("hosts") &&
        parsed["hosts"].is_array()) {
      for (const json& host : parsed["hosts"]) {
        if (host.is_object() && host.contains("http") && host["http"].is_string()) {
          addresses.push_back(host["http"].get<std::string>());
        }
      }
    }
  }
  if (addresses.empty()) addresses.emplace_back("127.0.0.1:7500");
  return ApiClient(std::move(addresses), default_cache_path());
}

ApiClient::ApiClient(std::vector<std::string> addresses, std::string cache_path)
    : addresses_(std::move(addresses)), cache_path_(std::move(cache_path)) {
  cache_key_ = join(addresses_);
  if (cache_path_.empty()) return;
  json cache = read_cache(cache_path_);
  const json& lists = cache["lists"];
  if (!lists.contains(cache_key_) || !lists[cache_key_].is_object()) return;
  const json& entry = lists[cache_key_];
  if (!entry.contains("endpoints") || !entry["endpoints"].is_array()) return;
  for (const json& endpoint : entry["endpoints"]) {
    if (endpoint.is_string() && learnt_.size() < kMaxLearntEndpoints) {
      learnt_.push_back(endpoint.get<std::string>());
    }
  }
}

std::vector<std::string> ApiClient::endpoints() const {
  std::vector<std::string> out = addresses_;
  for (const std::string& endpoint : learnt_) {
    if (std::find(out.begin(), out.end(), endpoint) == out.end()) out.push_back(endpoint);
  }
  return out;
}

void ApiClient::learn(const json& body) const {
  if (!body.is_object() || !body.contains("hosts") || !body["hosts"].is_array()) return;
  std::vector<std::string> learnt;
  for (const json& host : body["hosts"]) {
    if (!host.is_object() || !host.contains("address") || !host["address"].is_string() ||
        !host.contains("http_port") || !host["http_port"].is_number_unsigned()) {
      continue;
    }
    std::string name;
    uint16_t rpc_port = 0;
    if (!http::split_host_port(host["address"].get<std::string>(), &name, &rpc_port).ok()) continue;
    uint64_t http_port = host["http_port"].get<uint64_t>();
    if (http_port == 0 || http_port > 65535) continue;
    if (learnt.size() < kMaxLearntEndpoints)
      learnt.push_back(fmt::format("{}:{}", name, http_port));
  }
  if (learnt.empty() || learnt == learnt_) return;
  learnt_ = learnt;
  if (cache_path_.empty()) return;
  // A cache: any failure to keep it only means nothing is learnt for next time.
  json cache = read_cache(cache_path_);
  json& lists = cache["lists"];
  lists[cache_key_] = {{"endpoints", learnt_},
                       {"updated_unix_ms", static_cast<int64_t>(system_unix_ms())}};
  while (lists.size() > kMaxCachedLists) {
    auto oldest = lists.begin();
    for (auto it = lists.begin(); it != lists.end(); ++it) {
      if (it.value().value("updated_unix_ms", int64_t{0}) <
          oldest.value().value("updated_unix_ms", int64_t{0})) {
        oldest = it;
      }
    }
    lists.erase(oldest);
  }
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(cache_path_).parent_path(), ignored);
  std::string temporary = fmt::format("{}.{}.tmp", cache_path_, getpid());
  {
    std::ofstream out(temporary);
    out << cache.dump(2) << "\n";
    if (!out) return;
  }
  std::filesystem::rename(temporary, cache_path_, ignored);
}

Result<json> ApiClient::call(const std::string& method, const std::string& path,
                             const json& body) const {
  std::string reasons;
  std::vector<std::string> tried = endpoints();
  for (const std::string& first : tried) {
    std::string address = first;
    std::string target = path;
    for (int hop = 0; hop <= kMaxRedirects; ++hop) {
      std::string host;
      uint16_t port = 0;
      if (Status parsed = http::split_host_port(address, &host, &port); !parsed.ok()) {
        reasons += fmt::format("\n  {}: {}", address, parsed.message());
        break;
      }
      http::Request request{method, target, body.is_null() ? "" : body.dump(), {}};
      auto response = http::call(host, port, request, kTimeout);
      if (!response.ok()) {
        reasons += fmt::format("\n  {}: {}", address, response.status().message());
        break;
      }
      if (response->status == 307 || response->status == 308) {
        if (!split_url(response->headers["location"], &address, &target)) {
          return error(StatusCode::kInternal, "bad redirect from {}", address);
        }
        continue;
      }
      if (Status failed = error_of(*response);
          response->status == 503 && failed.code() == StatusCode::kBusy) {
        // The host shed the request unhandled (overloaded): another host may serve it. Any
        // other error is the cluster's answer (an etcd without quorum answers the same anywhere).
        reasons += fmt::format("\n  {}: {}", address, failed.message());
        break;
      }
      if (response->status >= 300) return error_of(*response);
      json parsed = json::parse(response->body, nullptr, false);
      if (parsed.is_discarded()) {
        return error(StatusCode::kInternal, "{} sent a body that is not JSON", address);
      }
      learn(parsed);
      return parsed;
    }
  }
  return error(StatusCode::kUnavailable,
               "cannot reach the cluster's REST API: tried {} endpoint{} (is it running? `tess "
               "local status` shows a local one):{}",
               tried.size(), tried.size() == 1 ? "" : "s", reasons);
}

}  // namespace tessera::cli
