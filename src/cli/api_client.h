// How `tess` reaches the REST API of a cluster. Endpoints, tried in turn until one answers:
//   1. the configured ones: --api, else $TESS_API (each a comma-separated HOST:PORT list), else
//      every host of the local cluster (its state file, `tess local up`), else 127.0.0.1:7500;
//   2. then the endpoints learnt from the cluster itself: every /status or /hosts answer names
//      each host's address and HTTP port, and they are remembered per configured list in a small
//      cache file ($XDG_CACHE_HOME or ~/.cache, tessera/api-endpoints.json), so that `tess` still
//      reaches the cluster when the hosts it was pointed at are down.
// An endpoint that cannot be reached, does not answer in time, or answers 503 "busy" (it shed the
// request unhandled) makes `tess` try the next; any other answer is final. Redirects to the
// management leader are followed; errors come back as Status values with the API's code.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace tessera::cli {

inline constexpr const char* kDefaultLocalDir = "/tmp/tessera-local";

// The options every command on a cluster takes: where its API is (ApiClient::resolve), and
// whether to print the API's JSON instead of a table.
struct ApiOptions {
  std::string api;
  bool json = false;
};
// Adds --api and --json to `command`. REQUIRES: `options` outlives the parse.
void add_api_options(CLI::App* command, ApiOptions* options);

class ApiClient {
 public:
  // `api_flag` empty: from $TESS_API, the local state file, or the default. Uses the default
  // cache file.
  static ApiClient resolve(const std::string& api_flag);
  // `cache_path` empty: nothing is learnt across invocations (still within this client).
  explicit ApiClient(std::vector<std::string> addresses, std::string cache_path = "");

  // The response body of METHOD path (JSON), following redirects. Errors: the API's own (with its
  // code), or kUnavailable saying how many endpoints were tried and why each failed.
  Result<nlohmann::json> call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nullptr) const;

  // The configured endpoints, then the learnt ones not among them (what call() tries, in order).
  std::vector<std::string> endpoints() const;

  // Where learnt endpoints are kept by default; empty if neither $XDG_CACHE_HOME nor $HOME is set.
  static std::string default_cache_path();

 private:
  void learn(const nlohmann::json& body) const;

  std::vector<std::string> addresses_;
  std::string cache_path_;
  std::string cache_key_;  // The configured list: learnt endpoints belong to it.
  mutable std::vector<std::string> learnt_;
};

}  // namespace tessera::cli
