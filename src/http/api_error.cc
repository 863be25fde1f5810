#include "http/api_error.h"

#include <map>
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

}  // namespace tessera::http
