#include "cli/api_client.h"

#include <cstdlib>
#include <fstream>

#include "http/api_error.h"
#include "http/http.h"

namespace tessera::cli {

using nlohmann::json;

namespace {

constexpr std::chrono::seconds kTimeout{30};
constexpr int kMaxRedirects = 3;

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
  json body = json::parse(response.body, nullptr, false);
  if (!body.is_discarded() && body.contains("error")) {
    return Status(http::status_code_from_api_name(body["error"].value("code", "")),
                  body["error"].value("message", response.body));
  }
  return error(StatusCode::kInternal, "HTTP {}: {}", response.status, response.body.substr(0, 200));
}

}  // namespace

ApiClient ApiClient::resolve(const std::string& api_flag) {
  if (!api_flag.empty()) return ApiClient({api_flag});
  if (const char* env = std::getenv("TESS_API"); env != nullptr && *env != '\0') {
    return ApiClient({env});
  }
  std::ifstream state(std::string(kDefaultLocalDir) + "/state.json");
  json parsed = state ? json::parse(state, nullptr, false) : json();
  std::vector<std::string> addresses;
  if (!parsed.is_discarded() && parsed.contains("hosts")) {
    for (const json& host : parsed["hosts"]) addresses.push_back(host.value("http", ""));
  }
  if (addresses.empty()) addresses.emplace_back("127.0.0.1:7500");
  return ApiClient(std::move(addresses));
}

Result<json> ApiClient::call(const std::string& method, const std::string& path,
                             const json& body) const {
  std::string reasons;
  for (const std::string& first : addresses_) {
    std::string address = first;
    std::string target = path;
    for (int hop = 0; hop <= kMaxRedirects; ++hop) {
      std::string host;
      uint16_t port = 0;
      TESS_RETURN_IF_ERROR(http::split_host_port(address, &host, &port));
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
      if (response->status >= 300) return error_of(*response);
      json parsed = json::parse(response->body, nullptr, false);
      if (parsed.is_discarded()) {
        return error(StatusCode::kInternal, "{} sent a body that is not JSON", address);
      }
      return parsed;
    }
  }
  return error(StatusCode::kUnavailable,
               "cannot reach the cluster's REST API (is it running? `tess local status` shows a "
               "local one):{}",
               reasons);
}

}  // namespace tessera::cli
