// EtcdClient: the etcd v3 API through etcd's JSON gateway (HTTP/1.1), blocking, with a timeout on
// every call. It knows every member's client endpoint and moves to the next one when a member does
// not answer, so the cluster keeps working while a quorum of members lives. When no member can
// serve, the error says why: unreachable, or reachable without a leader (quorum lost).
//
// Thread-safe: each call uses its own connection. Used by the control plane thread and the REST
// API thread of tessd, never by an event loop.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace tessera {

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

// One comparison of a transaction: target is "CREATE", "MOD" or "VALUE"; result "EQUAL" etc.
struct EtcdCompare {
  std::string key;
  std::string target;  // CREATE (create_revision), MOD (mod_revision), VALUE
  std::string result = "EQUAL";
  int64_t revision = 0;
  std::string value;
};

struct EtcdOp {
  enum class Kind { kPut, kDelete, kDeletePrefix } kind = Kind::kPut;
  std::string key;
  std::string value;
  int64_t lease = 0;
};

class EtcdClient {
 public:
  // `endpoints`: "host:port" of each member's client URL. REQUIRES: at least one.
  explicit EtcdClient(std::vector<std::string> endpoints,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

  // nullopt if the key does not exist.
  Result<std::optional<EtcdKeyValue>> get(const std::string& key) const;
  Result<std::vector<EtcdKeyValue>> get_prefix(const std::string& prefix) const;
  Status put(const std::string& key, const std::string& value, int64_t lease = 0) const;
  Status remove(const std::string& key) const;
  // True if every comparison held (the success ops were applied), false otherwise.
  Result<bool> txn(const std::vector<EtcdCompare>& compares,
                   const std::vector<EtcdOp>& success) const;

  // A lease of `ttl_seconds`; kUnavailable if etcd cannot serve.
  Result<int64_t> grant_lease(int64_t ttl_seconds) const;
  // Refreshes the lease; kNotFound once etcd has expired it.
  Status keep_alive(int64_t lease) const;
  Status revoke_lease(int64_t lease) const;

  const std::vector<std::string>& endpoints() const { return endpoints_; }

 private:
  // POSTs `body` to `path` on the first member that answers; the decoded JSON response body.
  Result<std::string> post(const std::string& path, const std::string& body) const;
  Status diagnose(const Status& last) const;

  std::vector<std::string> endpoints_;
  std::chrono::milliseconds timeout_;
  mutable std::atomic<size_t> preferred_{0};
};

std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

}  // namespace tessera
