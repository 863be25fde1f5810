#include "http/api_error.h"

#include <map>
#include <nlohmann/json.hpp>
#include <utility>

namespace tessera::http {

namespace {

const std::map<StatusCode, std::pair<int, std::string>>& code_table() {
  static const std::map<StatusCode, std::pair<int, std::string>> table = {
      {StatusCode::kInvalidArgument, {400, "invalid_argument"}},
      {StatusCode::kNotFound, {404, "not_found"}},
      {StatusCode::kAlreadyExists, {409, "already_exists"}},
      {StatusCode::kFailedPrecondition, {409, "failed_precondition"}},
      {StatusCode::kAborted, {409, "aborted"}},
      {StatusCode::kPermissionDenied, {403, "permission_denied"}},
      {StatusCode::kNoSpace, {507, "no_space"}},
      {StatusCode::kUnavailable, {503, "unavailable"}},
      {StatusCode::kBusy, {503, "busy"}},
      {StatusCode::kDeadlineExceeded, {504, "deadline_exceeded"}},
      {StatusCode::kUnimplemented, {501, "unimplemented"}},
  };
  return table;
}

}  // namespace

int http_status_of(StatusCode code) {
  auto found = code_table().find(code);
  return found == code_table().end() ? 500 : found->second.first;
}

std::string api_code_name(StatusCode code) {
  auto found = code_table().find(code);
  return found == code_table().end() ? "internal" : found->second.second;
}

StatusCode status_code_from_api_name(const std::string& name) {
  for (const auto& [code, entry] : code_table()) {
    if (entry.second == name) return code;
  }
  return StatusCode::kInternal;
}

std::optional<Status> api_error_of(std::string_view body) {
  using nlohmann::json;
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("error") || !parsed["error"].is_object()) {
    return std::nullopt;
  }
  const json& failure = parsed["error"];
  auto text = [&failure](const char* name) {
    return failure.contains(name) && failure[name].is_string() ? failure[name].get<std::string>()
                                                               : std::string();
  };
  return Status(status_code_from_api_name(text("code")), text("message"));
}

}  // namespace tessera::http
