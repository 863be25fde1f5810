// How `tess` reaches the REST API of a cluster: which address (--api, $TESS_API, the local
// cluster's state file, or 127.0.0.1:7500, in that order; a state file names every host, and the
// first that answers is used), redirects to the management leader followed, errors turned back
// into Status values.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace tessera::cli {

inline constexpr const char* kDefaultLocalDir = "/tmp/tessera-local";

class ApiClient {
 public:
  // `api_flag` empty: from the environment, the local state file, or the default.
  static ApiClient resolve(const std::string& api_flag);
  explicit ApiClient(std::vector<std::string> addresses) : addresses_(std::move(addresses)) {}

  // The response body of METHOD path (JSON), following redirects. Errors: the API's own (with its
  // code), or kUnavailable naming every address tried.
  Result<nlohmann::json> call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nullptr) const;

 private:
  std::vector<std::string> addresses_;
};

}  // namespace tessera::cli
