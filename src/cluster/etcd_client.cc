#include "cluster/etcd_client.h"

#include <nlohmann/json.hpp>

#include "http/http.h"

namespace tessera {

using nlohmann::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int64_t as_int(const json& object, const char* field) {
  if (!object.contains(field)) return 0;
  const json& value = object[field];
  if (value.is_string()) return std::stoll(value.get<std::string>());
  if (value.is_number()) return value.get<int64_t>();
  return 0;
}

Result<EtcdKeyValue> decode_kv(const json& kv) {
  EtcdKeyValue out;
  TESS_ASSIGN_OR_RETURN(out.key, base64_decode(kv.value("key", "")));
  TESS_ASSIGN_OR_RETURN(out.value, base64_decode(kv.value("value", "")));
  out.create_revision = as_int(kv, "create_revision");
  out.mod_revision = as_int(kv, "mod_revision");
  out.lease = as_int(kv, "lease");
  return out;
}

// The end of a prefix range: the prefix with its last byte incremented.
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

Result<json> parse(const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return error(StatusCode::kInternal, "etcd sent a malformed answer: {}", body.substr(0, 200));
  }
  return parsed;
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

EtcdClient::EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {
  TESS_ASSERT(!endpoints_.empty(), "an etcd client needs an endpoint");
}

Result<std::string> EtcdClient::post(const std::string& path, const std::string& body) const {
  Status last;
  size_t first = preferred_.load();
  for (size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
    size_t index = (first + attempt) % endpoints_.size();
    std::string host;
    uint16_t port = 0;
    TESS_RETURN_IF_ERROR(http::split_host_port(endpoints_[index], &host, &port));
    auto response = http::call(host, port, http::Request{"POST", path, body, {}}, timeout_);
    if (!response.ok()) {
      last = response.status();
      continue;
    }
    if (response->status == 200) {
      preferred_ = index;
      return std::move(response->body);
    }
    // The gateway's error: {"error": "...", "code": N, "message": "..."}.
    auto parsed = parse(response->body);
    std::string message = parsed.ok() ? parsed->value("message", response->body) : response->body;
    int code = parsed.ok() ? parsed->value("code", 0) : 0;
    if (code == 14 || code == 4 || response->status >= 500) {  // UNAVAILABLE, DEADLINE_EXCEEDED
      last = error(StatusCode::kUnavailable, "etcd {}: {}", endpoints_[index], message);
      continue;
    }
    return error(StatusCode::kInvalidArgument, "etcd {} refused {}: {}", endpoints_[index], path,
                 message);
  }
  return diagnose(last);
}

// Every member failed: say whether etcd is down or has lost its quorum.
Status EtcdClient::diagnose(const Status& last) const {
  size_t answering = 0;
  for (const std::string& endpoint : endpoints_) {
    std::string host;
    uint16_t port = 0;
    if (!http::split_host_port(endpoint, &host, &port).ok()) continue;
    auto response =
        http::call(host, port, http::Request{"POST", "/v3/maintenance/status", "{}", {}},
                   std::chrono::milliseconds(500));
    if (response.ok() && response->status == 200) ++answering;
  }
  if (answering > 0) {
    return error(StatusCode::kUnavailable,
                 "etcd has lost quorum: {} of {} members answer but none can commit ({})",
                 answering, endpoints_.size(), last.message());
  }
  return error(StatusCode::kUnavailable, "etcd is unreachable: none of {} members answers ({})",
               endpoints_.size(), last.message());
}

Result<std::optional<EtcdKeyValue>> EtcdClient::get(const std::string& key) const {
  TESS_ASSIGN_OR_RETURN(std::string body,
                        post("/v3/kv/range", json{{"key", base64_encode(key)}}.dump()));
  TESS_ASSIGN_OR_RETURN(json parsed, parse(body));
  if (!parsed.contains("kvs") || parsed["kvs"].empty()) return std::optional<EtcdKeyValue>();
  TESS_ASSIGN_OR_RETURN(EtcdKeyValue kv, decode_kv(parsed["kvs"][0]));
  return std::optional<EtcdKeyValue>(std::move(kv));
}

Result<std::vector<EtcdKeyValue>> EtcdClient::get_prefix(const std::string& prefix) const {
  json request{{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}};
  TESS_ASSIGN_OR_RETURN(std::string body, post("/v3/kv/range", request.dump()));
  TESS_ASSIGN_OR_RETURN(json parsed, parse(body));
  std::vector<EtcdKeyValue> out;
  if (parsed.contains("kvs")) {
    for (const json& kv : parsed["kvs"]) {
      TESS_ASSIGN_OR_RETURN(EtcdKeyValue decoded, decode_kv(kv));
      out.push_back(std::move(decoded));
    }
  }
  return out;
}

Status EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) const {
  json request{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) request["lease"] = std::to_string(lease);
  return post("/v3/kv/put", request.dump()).status();
}

Status EtcdClient::remove(const std::string& key) const {
  return post("/v3/kv/deleterange", json{{"key", base64_encode(key)}}.dump()).status();
}

Result<bool> EtcdClient::txn(const std::vector<EtcdCompare>& compares,
                             const std::vector<EtcdOp>& success) const {
  json request{{"compare", json::array()}, {"success", json::array()}};
  for (const EtcdCompare& compare : compares) {
    json item{{"key", base64_encode(compare.key)},
              {"target", compare.target},
              {"result", compare.result}};
    if (compare.target == "CREATE") item["create_revision"] = std::to_string(compare.revision);
    if (compare.target == "MOD") item["mod_revision"] = std::to_string(compare.revision);
    if (compare.target == "VALUE") item["value"] = base64_encode(compare.value);
    request["compare"].push_back(item);
  }
  for (const EtcdOp& op : success) {
    if (op.kind == EtcdOp::Kind::kPut) {
      json put{{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
      if (op.lease != 0) put["lease"] = std::to_string(op.lease);
      request["success"].push_back(json{{"request_put", put}});
    } else {
      json range{{"key", base64_encode(op.key)}};
      if (op.kind == EtcdOp::Kind::kDeletePrefix)
        range["range_end"] = base64_encode(prefix_end(op.key));
      request["success"].push_back(json{{"request_delete_range", range}});
    }
  }
  TESS_ASSIGN_OR_RETURN(std::string body, post("/v3/kv/txn", request.dump()));
  TESS_ASSIGN_OR_RETURN(json parsed, parse(body));
  return parsed.value("succeeded", false);
}

Result<int64_t> EtcdClient::grant_lease(int64_t ttl_seconds) const {
  TESS_ASSIGN_OR_RETURN(std::string body,
                        post("/v3/lease/grant", json{{"TTL", std::to_string(ttl_seconds)}}.dump()));
  TESS_ASSIGN_OR_RETURN(json parsed, parse(body));
  int64_t id = as_int(parsed, "ID");
  if (id == 0) return error(StatusCode::kInternal, "etcd granted no lease: {}", body);
  return id;
}

Status EtcdClient::keep_alive(int64_t lease) const {
  TESS_ASSIGN_OR_RETURN(std::string body,
                        post("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump()));
  // A stream endpoint: the answer is {"result": {"ID": ..., "TTL": ...}}, TTL absent once expired.
  TESS_ASSIGN_OR_RETURN(json parsed, parse(body.substr(0, body.find('\n'))));
  const json& result = parsed.contains("result") ? parsed["result"] : parsed;
  if (as_int(result, "TTL") <= 0) {
    return error(StatusCode::kNotFound, "etcd lease {:x} has expired", lease);
  }
  return Status();
}

Status EtcdClient::revoke_lease(int64_t lease) const {
  return post("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump()).status();
}

}  // namespace tessera
