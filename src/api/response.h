// What every endpoint of the REST API shares: JSON in and out without exceptions, the one mapping
// of a Status to an error answer, and the redirect of a change to the management leader.
//
// JSON is nlohmann's, parsed with exceptions off (a malformed body is an error value, never a
// throw) and written with invalid UTF-8 replaced (a name or path echoed in a message cannot make
// dump() throw). Thread-safe: pure functions, called from the API's worker threads.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "cluster/control_plane.h"
#include "http/http.h"

namespace tessera::api {

// `value` as JSON text; invalid UTF-8 in strings is replaced, so this never throws.
std::string dump_json(const nlohmann::json& value);

http::Response json_response(int status, const nlohmann::json& body);

// The one place a Status becomes an answer: {"error": {"code", "message"}} with the HTTP status
// and code name of http/api_error.h. REQUIRES: !status.ok().
http::Response error_response(const Status& status);

// The request body as a JSON object ("" counts as {}). kInvalidArgument if it is not one.
Result<nlohmann::json> parse_body(const http::Request& request);
// The same, also refusing a field not in `allowed`, so that a misspelt field is an error rather
// than silently ignored.
Result<nlohmann::json> parse_body(const http::Request& request,
                                  std::initializer_list<std::string_view> allowed);

// A non-negative integer up to `max` in `value` (JSON built in this process may hold it signed),
// or in the field `name` of `object`: false if absent, of another type, negative or above `max`.
// For bodies from peers and clients, which are never trusted.
bool unsigned_value(const nlohmann::json& value, uint64_t max, uint64_t* out);
bool unsigned_field(const nlohmann::json& object, const char* name, uint64_t max, uint64_t* out);

// The value of `name` in the target's query ("a=1&b=2"), nullopt if absent. Not percent-decoded.
std::optional<std::string> query_parameter(const std::string& target, const std::string& name);

// A change reaching a host that is not the management leader: a 307 to the leader's API (the
// client repeats the request there), or 503 unavailable when no leader is known. nullopt on the
// leader.
std::optional<http::Response> redirect_to_leader(const ControlPlane& control,
                                                 const http::Request& request);

}  // namespace tessera::api
