// The REST API's error vocabulary, shared by the server (tessd) and its clients (tess): a
// StatusCode travels as an HTTP status and a code name in {"error": {"code", "message"}}.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tessera::http {

int http_status_of(StatusCode code);
std::string api_code_name(StatusCode code);
// The inverse of api_code_name; kInternal for a name it does not know.
StatusCode status_code_from_api_name(const std::string& name);
// The error an answer's body states ({"error": {"code", "message"}}; a missing message is empty),
// nullopt if the body is no such object. Never throws: bodies come from the network.
std::optional<Status> api_error_of(std::string_view body);

}  // namespace tessera::http
