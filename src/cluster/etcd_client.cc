#include "cluster/etcd_client.h"

#include <nlohmann/json.hpp>

#include "cluster/parse.h"
#include "http/http.h"

namespace tessera {

using nlohmann::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
// Without a deadline, one request to one member waits at most this long.
constexpr std::chrono::milliseconds kDefaultAttemptTimeout{3000};
// The least time a read gives one member before moving on.
constexpr std::chrono::milliseconds kMinReadAttempt{250};
// A status probe of one member while diagnosing.
constexpr std::chrono::milliseconds kProbeTimeout{500};

// The gateway sends 64-bit numbers as decimal strings.
Result<int64_t> as_int(const json& object, const char* field) {
  if (!object.contains(field)) return int64_t{0};
  const json& value = object[field];
  if (value.is_string()) return parse_i64(value.get<std::string>(), field);
  if (value.is_number_integer()) return value.get<int64_t>();
  return error(StatusCode::kCorruption, "etcd sent a malformed {}", field);
}

// json::value() throws when the field has another type; these answer a default instead.
std::string string_field(const json& object, const char* field) {
  if (!object.is_object() || !object.contains(field) || !object[field].is_string()) return {};
  return object[field].get<std::string>();
}

bool bool_field(const json& object, const char* field) {
  return object.is_object() && object.contains(field) && object[field].is_boolean() &&
         object[field].get<bool>();
}

Result<KeyValue> decode_kv(const json& kv) {
  KeyValue out;
  if (!kv.is_object()) return error(StatusCode::kCorruption, "etcd sent a malformed key-value");
  TESS_ASSIGN_OR_RETURN(out.key, base64_decode(string_field(kv, "key")));
  TESS_ASSIGN_OR_RETURN(out.value, base64_decode(string_field(kv, "value")));
  TESS_ASSIGN_OR_RETURN(out.create_revision, as_int(kv, "create_revision"));
  TESS_ASSIGN_OR_RETURN(out.mod_revision, as_int(kv, "mod_revision"));
  TESS_ASSIGN_OR_RETURN(int64_t lease, as_int(kv, "lease"));
  out.lease = LeaseId(lease);
  return out;
}

Result<json> parse(const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return error(StatusCode::kInternal, "etcd sent a malformed answer: {}", body.substr(0, 200));
  }
  return parsed;
}

Result<int64_t> header_revision(const json& parsed) {
  if (!parsed.contains("header") || !parsed["header"].is_object()) return int64_t{0};
  return as_int(parsed["header"], "revision");
}

std::string_view target_name(Compare::Target target) {
  switch (target) {
    case Compare::Target::kCreateRevision:
      return "CREATE";
    case Compare::Target::kModRevision:
      return "MOD";
    case Compare::Target::kValue:
      return "VALUE";
  }
  return "MOD";
}

std::string_view result_name(Compare::Result result) {
  switch (result) {
    case Compare::Result::kEqual:
      return "EQUAL";
    case Compare::Result::kNotEqual:
      return "NOT_EQUAL";
    case Compare::Result::kLess:
      return "LESS";
    case Compare::Result::kGreater:
      return "GREATER";
  }
  return "EQUAL";
}

// http::call reports the stage that failed in its message; a failed connect never sent anything.
// (http::call should report this as data; it is another engineer's library.)
bool never_sent(const Status& failure) {
  std::string_view message = failure.message();
  return message.find(" connect failed:") != std::string_view::npos ||
         message.find("(connect)") != std::string_view::npos;
}

// etcd refuses without proposing anything when the member has no leader.
bool refused_unproposed(std::string_view message) {
  return message.find("no leader") != std::string_view::npos ||
         message.find("not capable") != std::string_view::npos ||
         message.find("too many requests") != std::string_view::npos;
}

std::chrono::milliseconds attempt_timeout(const Deadline& deadline,
                                          std::chrono::milliseconds most) {
  if (deadline.is_never()) return most;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline.remaining());
  return std::min(left, most);
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                 uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) n |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    const char* at = std::strchr(kAlphabet, c);
    if (at == nullptr || c == '\0') {
      return error(StatusCode::kInternal, "malformed base64 from etcd");
    }
    bits = (bits << 6) | static_cast<uint32_t>(at - kAlphabet);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

EtcdClient::EtcdClient(std::vector<std::string> endpoints) : endpoints_(std::move(endpoints)) {
  TESS_ASSERT(!endpoints_.empty(), "an etcd client needs an endpoint");
}

// The part of `deadline` the members' attempts may use: the rest is kept for diagnose(), so that
// when every member fails (all hang without a quorum) the caller learns why instead of only that
// time ran out.
Deadline attempts_deadline(const Deadline& deadline) {
  if (deadline.is_never()) return deadline;
  Clock::Duration reserve = std::min<Clock::Duration>(2 * kProbeTimeout, deadline.remaining() / 3);
  return Deadline(deadline.clock(), deadline.at() - reserve);
}

Result<std::string> EtcdClient::post(const std::string& path, const std::string& body,
                                     Replay replay, const Deadline& deadline) const {
  Status last = error(StatusCode::kDeadlineExceeded, "no time left to ask etcd");
  size_t first = preferred_.load();
  const Deadline attempts = attempts_deadline(deadline);
  for (size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
    std::chrono::milliseconds timeout = attempt_timeout(attempts, kDefaultAttemptTimeout);
    if (timeout <= std::chrono::milliseconds(0)) break;
    size_t members_left = endpoints_.size() - attempt;
    if (replay == Replay::kAfterAnyFailure && members_left > 1) {
      // A read leaves time for the next members: a hung member must not take the whole budget.
      timeout = std::max(timeout / static_cast<int64_t>(members_left),
                         std::min(timeout, kMinReadAttempt));
    }
    size_t index = (first + attempt) % endpoints_.size();
    std::string host;
    uint16_t port = 0;
    TESS_RETURN_IF_ERROR(http::split_host_port(endpoints_[index], &host, &port));
    auto response = http::call(host, port, http::Request{"POST", path, body, {}}, timeout);
    if (!response.ok()) {
      last = response.status();
      if (replay == Replay::kOnlyIfUnsent && !never_sent(last)) {
        return outcome_unknown_error(fmt::format("etcd {}: {}", endpoints_[index], last.message()));
      }
      continue;
    }
    if (response->status == 200) {
      preferred_ = index;
      return std::move(response->body);
    }
    // The gateway's error: {"error": "...", "code": N, "message": "..."}.
    auto parsed = parse(response->body);
    std::string message = parsed.ok() ? string_field(*parsed, "message") : response->body;
    if (message.empty()) message = response->body.substr(0, 200);
    int code = parsed.ok() && parsed->contains("code") && (*parsed)["code"].is_number_integer()
                   ? (*parsed)["code"].get<int>()
                   : 0;
    if (code == 5 || message.find("lease not found") != std::string::npos) {  // NOT_FOUND
      return error(StatusCode::kNotFound, "etcd {}: {}", endpoints_[index], message);
    }
    if (code == 14 || code == 4 || response->status >= 500) {  // UNAVAILABLE, DEADLINE_EXCEEDED
      last = error(StatusCode::kUnavailable, "etcd {}: {}", endpoints_[index], message);
      if (replay == Replay::kOnlyIfUnsent && !refused_unproposed(message)) {
        // "request timed out" and the like: the proposal may still commit.
        return outcome_unknown_error(last.message());
      }
      continue;
    }
    return error(StatusCode::kInvalidArgument, "etcd {} refused {}: {}", endpoints_[index], path,
                 message);
  }
  return diagnose(last, deadline);
}

// Every member failed: say whether etcd is down or has lost its quorum.
Status EtcdClient::diagnose(const Status& last, const Deadline& deadline) const {
  size_t answering = 0;
  for (const std::string& endpoint : endpoints_) {
    std::chrono::milliseconds timeout = attempt_timeout(deadline, kProbeTimeout);
    if (timeout <= std::chrono::milliseconds(0)) {
      return error(StatusCode::kDeadlineExceeded, "etcd did not answer in time ({})",
                   last.message());
    }
    std::string host;
    uint16_t port = 0;
    if (!http::split_host_port(endpoint, &host, &port).ok()) continue;
    auto response =
        http::call(host, port, http::Request{"POST", "/v3/maintenance/status", "{}", {}}, timeout);
    if (response.ok() && response->status == 200) ++answering;
  }
  if (answering > 0) return lost_quorum_error(answering, endpoints_.size(), last.message());
  return unreachable_error(endpoints_.size(), last.message());
}

Result<RangeResult> EtcdClient::range(const RangeRequest& request, const Deadline& deadline) const {
  json body{{"key", base64_encode(request.key)}};
  if (request.prefix) body["range_end"] = base64_encode(prefix_end(request.key));
  if (request.at_revision != 0) body["revision"] = std::to_string(request.at_revision);
  Result<std::string> answer =
      post("/v3/kv/range", body.dump(), Replay::kAfterAnyFailure, deadline);
  if (!answer.ok() && answer.status().message().find("compacted") != std::string_view::npos) {
    return error(StatusCode::kOutOfRange, "{}", answer.status().message());
  }
  TESS_RETURN_IF_ERROR(answer.status());
  TESS_ASSIGN_OR_RETURN(json parsed, parse(*answer));
  RangeResult out;
  TESS_ASSIGN_OR_RETURN(out.revision, header_revision(parsed));
  if (parsed.contains("kvs") && parsed["kvs"].is_array()) {
    for (const json& kv : parsed["kvs"]) {
      TESS_ASSIGN_OR_RETURN(KeyValue decoded, decode_kv(kv));
      out.kvs.push_back(std::move(decoded));
    }
  }
  return out;
}

Result<TxnResult> EtcdClient::txn(const std::vector<Compare>& compares,
                                  const std::vector<WriteOp>& success,
                                  const Deadline& deadline) const {
  json request{{"compare", json::array()}, {"success", json::array()}};
  for (const Compare& compare : compares) {
    json item{{"key", base64_encode(compare.key)},
              {"target", target_name(compare.target)},
              {"result", result_name(compare.result)}};
    if (compare.target == Compare::Target::kCreateRevision)
      item["create_revision"] = std::to_string(compare.revision);
    if (compare.target == Compare::Target::kModRevision)
      item["mod_revision"] = std::to_string(compare.revision);
    if (compare.target == Compare::Target::kValue) item["value"] = base64_encode(compare.value);
    request["compare"].push_back(item);
  }
  for (const WriteOp& op : success) {
    if (op.kind == WriteOp::Kind::kPut) {
      json put{{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
      if (op.lease != LeaseId()) put["lease"] = std::to_string(op.lease.value());
      request["success"].push_back(json{{"request_put", put}});
    } else {
      json range{{"key", base64_encode(op.key)}};
      if (op.kind == WriteOp::Kind::kDeletePrefix)
        range["range_end"] = base64_encode(prefix_end(op.key));
      request["success"].push_back(json{{"request_delete_range", range}});
    }
  }
  TESS_ASSIGN_OR_RETURN(std::string body,
                        post("/v3/kv/txn", request.dump(), Replay::kOnlyIfUnsent, deadline));
  TESS_ASSIGN_OR_RETURN(json parsed, parse(body));
  TxnResult out;
  out.succeeded = bool_field(parsed, "succeeded");
  TESS_ASSIGN_OR_RETURN(out.revision, header_revision(parsed));
  return out;
}

Result<LeaseId> EtcdClient::grant_lease(std::chrono::seconds ttl, const Deadline& deadline) const {
  TESS_ASSIGN_OR_RETURN(std::string body,
                        post("/v3/lease/grant", json{{"TTL", std::to_string(ttl.count())}}.dump(),
                             Replay::kOnlyIfUnsent, deadline));
  TESS_ASSIGN_OR_RETURN(json parsed, parse(body));
  TESS_ASSIGN_OR_RETURN(int64_t id, as_int(parsed, "ID"));
  if (id == 0) return error(StatusCode::kInternal, "etcd granted no lease: {}", body);
  return LeaseId(id);
}

Status EtcdClient::keep_alive(LeaseId lease, const Deadline& deadline) const {
  TESS_ASSIGN_OR_RETURN(std::string body, post("/v3/lease/keepalive",
                                               json{{"ID", std::to_string(lease.value())}}.dump(),
                                               Replay::kAfterAnyFailure, deadline));
  // A stream endpoint: the answer is {"result": {"ID": ..., "TTL": ...}}, TTL absent once expired.
  TESS_ASSIGN_OR_RETURN(json parsed, parse(body.substr(0, body.find('\n'))));
  const json& result =
      parsed.contains("result") && parsed["result"].is_object() ? parsed["result"] : parsed;
  TESS_ASSIGN_OR_RETURN(int64_t ttl_seconds, as_int(result, "TTL"));
  if (ttl_seconds <= 0) {
    return error(StatusCode::kNotFound, "etcd lease {:x} has expired", lease.value());
  }
  return Status();
}

Status EtcdClient::revoke_lease(LeaseId lease, const Deadline& deadline) const {
  // Idempotent: a replay after success answers "not found", which the caller treats as done.
  return post("/v3/lease/revoke", json{{"ID", std::to_string(lease.value())}}.dump(),
              Replay::kAfterAnyFailure, deadline)
      .status();
}

}  // namespace tessera
