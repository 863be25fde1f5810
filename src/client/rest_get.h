// One GET of a tessd's REST API and the reading of its answer, as every REST reader of the client
// library makes them: bounded by a per-call budget and the caller's deadline, the API's
// {"error": {"code", "message"}} answer turned back into its StatusCode. Blocks; never throws.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/status.h"
#include "runtime/deadline.h"

namespace tessera::client {

// The body of a 200 answer to GET `path` from `address` (HOST:PORT). Errors: the API's own (its
// code and message); kBusy for a 503 without one; kUnavailable when the address cannot be reached
// or answers something else; kDeadlineExceeded when the deadline passed first; kInvalidArgument
// for a malformed address.
Result<std::string> rest_get(const std::string& address, const std::string& path,
                             std::chrono::milliseconds call_timeout, const Deadline& deadline);

// Reading the answers, which are never trusted (kInvalidArgument saying what is wrong, never an
// exception): a JSON value described for an error message (a number as written, anything else by
// its type); an unsigned integer field within [0, max] (`what` names the object); the same with
// absent or null read as 0; a body that must be a JSON object (`what` names the answer).
std::string describe(const nlohmann::json& value);
Result<uint64_t> unsigned_field(const nlohmann::json& object, const char* name, uint64_t max,
                                const std::string& what);
Result<uint64_t> optional_unsigned_field(const nlohmann::json& object, const char* name,
                                         uint64_t max, const std::string& what);
Result<nlohmann::json> parse_object(std::string_view body, const char* what);

// Whether `failure` says only that an address was not reached (try the next one), rather than
// what the cluster answered.
bool unreached(const Status& failure);

}  // namespace tessera::client
