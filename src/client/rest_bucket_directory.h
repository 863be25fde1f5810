// RestBucketDirectory: a bucket::BucketDirectory read from a cluster's REST API (any tessd's
// GET /api/v1/buckets and GET /api/v1/hosts), for clients outside the cluster (tools,
// benchmarks; later libtessera) that do not read the cluster map from etcd themselves.
//
// It holds one snapshot of the two answers (BucketTable), replaced whole by load() or refresh();
// replicas() and address() read it. A fetch asks the given API addresses in turn, starting with
// the one that answered last, until one answers both requests in full. Each HTTP request is
// bounded by the caller's deadline and by call_timeout; a fetch never outlives the deadline.
//
// Executor: replicas(), address(), refresh() and the accessors are called from one executor (that
// of the BucketClient using the directory). refresh() runs the blocking HTTP calls on a helper
// thread the directory owns and installs the answer back on the caller's executor, so no loop
// blocks on HTTP. load() blocks: call it from an ordinary thread before the directory is handed to
// a loop. REQUIRES: options.clock is thread-safe (RealClock: the helper thread reads it); no
// refresh() is in flight when the directory is destroyed (its owner awaits its calls first).
//
// Errors of load() and refresh(): kInvalidArgument if no address was given or an answer is
// malformed (the message says what and from which address); the API's own error when it answered
// one (e.g. kFailedPrecondition: the cluster has not been created); kUnavailable or
// kDeadlineExceeded when no address answered in time. When every address failed, the message
// lists each one's reason; the code is that of the last address that answered with an error of
// its own, else the last one's.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/strong_id.h"
#include "bucket/bucket_client.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::client {

// Limits on what an answer may hold; more is refused as malformed.
inline constexpr size_t kMaxBuckets = size_t{1} << 20;
inline constexpr size_t kMaxReplicasPerBucket = 64;
inline constexpr size_t kMaxHosts = 100'000;

struct BucketEntry {
  // The hosts that should hold the bucket's replicas ("desired"), the preferred leader first.
  std::vector<HostId> replicas;
  // The live leader and term the API reported ("leader", "term"); 0 when it reported none (the
  // field is absent where the API shows only the map).
  HostId reported_leader;
  uint64_t reported_term = 0;
};

// What the REST API said about the buckets and the hosts.
struct BucketTable {
  uint64_t epoch = 0;                // The map epoch of the bucket answer.
  std::vector<BucketEntry> buckets;  // Index: bucket id (the API lists ids 0..n-1, each once).
  std::map<HostId, bucket::PeerAddress> hosts;  // Each host's RPC address.
};

// Parses the bodies of GET /api/v1/buckets ({"epoch", "buckets": [{"id", "desired": [host ids],
// "preferred_leader", optional "leader", "term"}]}) and GET /api/v1/hosts ({"hosts": [{"id",
// "address": "HOST:PORT", ...}]}); other fields are ignored. kInvalidArgument, saying what is
// wrong, for anything else: not JSON, a missing or mistyped field, a bucket id listed twice or
// missing, more than the limits above. Never throws.
Result<BucketTable> parse_bucket_table(std::string_view buckets_body, std::string_view hosts_body);

struct RestBucketDirectoryOptions {
  std::vector<std::string> api;  // REST API addresses, HOST:PORT, tried in turn.
  const Clock* clock = &RealClock::instance();
  // One HTTP request's budget (within the caller's deadline): a silent address costs this.
  std::chrono::milliseconds call_timeout{5000};
  // refresh() within this of the last fetch returns at once: many calls that found the map stale
  // at the same moment cost one fetch.
  Clock::Duration min_refresh_interval = std::chrono::milliseconds(200);
};

class RestBucketDirectory final : public bucket::BucketDirectory {
 public:
  explicit RestBucketDirectory(RestBucketDirectoryOptions options);
  ~RestBucketDirectory() override;
  RestBucketDirectory(const RestBucketDirectory&) = delete;
  RestBucketDirectory& operator=(const RestBucketDirectory&) = delete;

  // Fetches the table, blocking the calling thread. REQUIRES: not called from a loop, and not
  // while a refresh() is in flight.
  Status load(Deadline deadline);

  // Empty for a bucket the table does not hold (or before the first load).
  std::vector<HostId> replicas(BucketId bucket) const override;
  std::optional<bucket::PeerAddress> address(HostId host) const override;
  // Fetches the table again, unless a fetch is under way (then OK at once: the map is being
  // refreshed) or ended less than min_refresh_interval ago (then that fetch's outcome at once).
  // On failure the old table stays.
  Task<Status> refresh(Deadline deadline) override;

  size_t bucket_count() const { return table_.buckets.size(); }
  const BucketTable& table() const { return table_; }

 private:
  struct Fetched {
    Result<BucketTable> table;
    size_t answered = 0;  // The index of the address that answered.
  };
  // The blocking fetch (either thread): the addresses in turn from `first`.
  static Fetched fetch(const std::vector<std::string>& api, size_t first,
                       std::chrono::milliseconds call_timeout, Deadline deadline);
  // fetch() with copies of its arguments, for the helper thread (built outside the coroutine:
  // docs/style.md).
  static std::function<Fetched()> fetch_call(std::vector<std::string> api, size_t first,
                                             std::chrono::milliseconds call_timeout,
                                             Deadline deadline);
  void install(Fetched fetched);

  RestBucketDirectoryOptions options_;
  BucketTable table_;
  size_t next_api_ = 0;  // The address to try first: the one that answered last.
  bool fetching_ = false;
  std::optional<Clock::TimePoint> last_fetch_end_;
  Status last_fetch_status_;                        // What the last fetch ended with.
  std::unique_ptr<boost::asio::thread_pool> pool_;  // One thread: refresh()'s HTTP calls.
};

}  // namespace tessera::client
