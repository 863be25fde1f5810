#include "api/response.h"

#include <algorithm>

#include "http/api_error.h"

namespace tessera::api {

using nlohmann::json;

std::string dump_json(const json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

http::Response json_response(int status, const json& body) { return {status, dump_json(body), {}}; }

http::Response error_response(const Status& status) {
  TESS_ASSERT(!status.ok(), "an error answer for an OK status");
  return json_response(http::http_status_of(status.code()),
                       json{{"error",
                             {{"code", http::api_code_name(status.code())},
                              {"message", std::string(status.message())}}}});
}

Result<json> parse_body(const http::Request& request) {
  json body = json::parse(request.body.empty() ? "{}" : request.body, nullptr,
                          /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return error(StatusCode::kInvalidArgument, "the request body is not a JSON object");
  }
  return body;
}

Result<json> parse_body(const http::Request& request,
                        std::initializer_list<std::string_view> allowed) {
  TESS_ASSIGN_OR_RETURN(json body, parse_body(request));
  for (const auto& [field, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), field) != allowed.end()) continue;
    std::string known;
    for (std::string_view name : allowed) known += (known.empty() ? "" : ", ") + std::string(name);
    return error(StatusCode::kInvalidArgument, "unknown field \"{}\" (known: {})",
                 field.substr(0, 64), known);
  }
  return body;
}

std::optional<std::string> query_parameter(const std::string& target, const std::string& name) {
  size_t query = target.find('?');
  if (query == std::string::npos) return std::nullopt;
  size_t at = query + 1;
  while (at <= target.size()) {
    size_t end = std::min(target.find('&', at), target.size());
    std::string item = target.substr(at, end - at);
    if (item.starts_with(name + "=")) return item.substr(name.size() + 1);
    at = end + 1;
  }
  return std::nullopt;
}

std::optional<http::Response> redirect_to_leader(const ControlPlane& control,
                                                 const http::Request& request) {
  if (control.is_leader()) return std::nullopt;
  auto view = control.view();
  for (const proto::HostRegistration& host : view->registrations) {
    if (host.host_id() == view->leader_host_id) {
      std::string location =
          fmt::format("http://{}:{}{}", host.address(), host.http_port(), request.target);
      return http::Response{307, dump_json(json{{"redirect", location}}), {{"Location", location}}};
    }
  }
  return error_response(error(StatusCode::kUnavailable, "no management leader is known now"));
}

bool unsigned_value(const nlohmann::json& value, uint64_t max, uint64_t* out) {
  if (!value.is_number_integer()) return false;
  uint64_t read = 0;
  if (value.is_number_unsigned()) {
    read = value.get<uint64_t>();
  } else {
    int64_t signed_value = value.get<int64_t>();
    if (signed_value < 0) return false;
    read = static_cast<uint64_t>(signed_value);
  }
  if (read > max) return false;
  *out = read;
  return true;
}

bool unsigned_field(const nlohmann::json& object, const char* name, uint64_t max, uint64_t* out) {
  auto found = object.find(name);
  return found != object.end() && unsigned_value(*found, max, out);
}

}  // namespace tessera::api
