#include "client/rest_get.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "http/api_error.h"
#include "http/http.h"

namespace tessera::client {

using nlohmann::json;

namespace {

std::chrono::milliseconds budget(std::chrono::milliseconds call_timeout, const Deadline& deadline) {
  if (deadline.is_never()) return call_timeout;
  return std::min(call_timeout,
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline.remaining()));
}

}  // namespace

Result<std::string> rest_get(const std::string& address, const std::string& path,
                             std::chrono::milliseconds call_timeout, const Deadline& deadline) {
  std::string host;
  uint16_t port = 0;
  TESS_RETURN_IF_ERROR(http::split_host_port(address, &host, &port));
  std::chrono::milliseconds timeout = budget(call_timeout, deadline);
  if (timeout.count() <= 0) return error(StatusCode::kDeadlineExceeded, "deadline passed");
  TESS_ASSIGN_OR_RETURN(http::Response response,
                        http::call(host, port, http::Request{"GET", path, "", {}}, timeout));
  if (response.status == 200) return std::move(response.body);
  if (std::optional<Status> stated = http::api_error_of(response.body)) {
    return error(stated->code(), "GET {}: HTTP {}: {}", path, response.status, stated->message());
  }
  return error(response.status == 503 ? StatusCode::kBusy : StatusCode::kUnavailable,
               "GET {}: HTTP {}", path, response.status);
}

std::string describe(const json& value) {
  if (value.is_number()) return value.dump();
  return fmt::format("a{} {}", value.is_array() || value.is_object() ? "n" : "", value.type_name());
}

Result<uint64_t> unsigned_field(const json& object, const char* name, uint64_t max,
                                const std::string& what) {
  auto it = object.find(name);
  if (it == object.end())
    return error(StatusCode::kInvalidArgument, "{} has no \"{}\"", what, name);
  if (!it->is_number_unsigned() || it->get<uint64_t>() > max) {
    return error(StatusCode::kInvalidArgument, "{}: \"{}\" is not an integer from 0 to {}", what,
                 name, max);
  }
  return it->get<uint64_t>();
}

Result<uint64_t> optional_unsigned_field(const json& object, const char* name, uint64_t max,
                                         const std::string& what) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return uint64_t{0};
  return unsigned_field(object, name, max, what);
}

Result<json> parse_object(std::string_view body, const char* what) {
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return error(StatusCode::kInvalidArgument, "{} is not JSON", what);
  if (!parsed.is_object())
    return error(StatusCode::kInvalidArgument, "{} is not a JSON object", what);
  return parsed;
}

bool unreached(const Status& failure) {
  return failure.code() == StatusCode::kUnavailable || failure.code() == StatusCode::kBusy ||
         failure.code() == StatusCode::kDeadlineExceeded;
}

}  // namespace tessera::client
