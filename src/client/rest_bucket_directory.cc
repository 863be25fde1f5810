#include "client/rest_bucket_directory.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "client/rest_get.h"
#include "http/http.h"
#include "runtime/offload.h"

namespace tessera::client {

using nlohmann::json;

namespace {

Status parse_buckets(std::string_view body, BucketTable* table) {
  TESS_ASSIGN_OR_RETURN(json root, parse_object(body, "the buckets answer"));
  TESS_ASSIGN_OR_RETURN(table->epoch,
                        optional_unsigned_field(root, "epoch", UINT64_MAX, "the buckets answer"));
  auto list = root.find("buckets");
  if (list == root.end() || !list->is_array())
    return error(StatusCode::kInvalidArgument, "the buckets answer has no \"buckets\" array");
  if (list->size() > kMaxBuckets) {
    return error(StatusCode::kInvalidArgument, "the buckets answer lists {} buckets, over {}",
                 list->size(), kMaxBuckets);
  }
  table->buckets.assign(list->size(), BucketEntry{});
  std::vector<bool> seen(list->size(), false);
  for (size_t i = 0; i < list->size(); ++i) {
    const json& item = (*list)[i];
    std::string what = fmt::format("bucket entry {}", i);
    if (!item.is_object()) return error(StatusCode::kInvalidArgument, "{} is not an object", what);
    // Ids are dense (0..n-1), so an id must be below the count; each appears once.
    TESS_ASSIGN_OR_RETURN(uint64_t id, unsigned_field(item, "id", list->size() - 1, what));
    if (seen[id]) return error(StatusCode::kInvalidArgument, "bucket {} is listed twice", id);
    seen[id] = true;
    auto desired = item.find("desired");
    if (desired == item.end() || !desired->is_array() || desired->empty() ||
        desired->size() > kMaxReplicasPerBucket) {
      return error(StatusCode::kInvalidArgument,
                   "bucket {}: \"desired\" is not an array of 1 to {} host ids", id,
                   kMaxReplicasPerBucket);
    }
    BucketEntry& entry = table->buckets[id];
    for (const json& host : *desired) {
      if (!host.is_number_unsigned() || host.get<uint64_t>() == 0 ||
          host.get<uint64_t>() > UINT32_MAX) {
        return error(StatusCode::kInvalidArgument, "bucket {}: \"desired\" holds {}, not a host id",
                     id, describe(host));
      }
      HostId host_id(static_cast<uint32_t>(host.get<uint64_t>()));
      if (std::find(entry.replicas.begin(), entry.replicas.end(), host_id) !=
          entry.replicas.end()) {
        return error(StatusCode::kInvalidArgument, "bucket {}: host {} is desired twice", id,
                     host_id);
      }
      entry.replicas.push_back(host_id);
    }
    std::string bucket_what = fmt::format("bucket {}", id);
    TESS_ASSIGN_OR_RETURN(uint64_t preferred, optional_unsigned_field(item, "preferred_leader",
                                                                      UINT32_MAX, bucket_what));
    // The preferred leader first; a preferred leader outside the desired set (0: none) leaves the
    // order as listed.
    auto at = std::find(entry.replicas.begin(), entry.replicas.end(),
                        HostId(static_cast<uint32_t>(preferred)));
    if (at != entry.replicas.end()) std::rotate(entry.replicas.begin(), at, at + 1);
    TESS_ASSIGN_OR_RETURN(uint64_t leader,
                          optional_unsigned_field(item, "leader", UINT32_MAX, bucket_what));
    entry.reported_leader = HostId(static_cast<uint32_t>(leader));
    TESS_ASSIGN_OR_RETURN(entry.reported_term,
                          optional_unsigned_field(item, "term", UINT64_MAX, bucket_what));
  }
  return Status();
}

Status parse_hosts(std::string_view body, BucketTable* table) {
  TESS_ASSIGN_OR_RETURN(json root, parse_object(body, "the hosts answer"));
  auto list = root.find("hosts");
  if (list == root.end() || !list->is_array())
    return error(StatusCode::kInvalidArgument, "the hosts answer has no \"hosts\" array");
  if (list->size() > kMaxHosts) {
    return error(StatusCode::kInvalidArgument, "the hosts answer lists {} hosts, over {}",
                 list->size(), kMaxHosts);
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const json& item = (*list)[i];
    std::string what = fmt::format("host entry {}", i);
    if (!item.is_object()) return error(StatusCode::kInvalidArgument, "{} is not an object", what);
    TESS_ASSIGN_OR_RETURN(uint64_t id, unsigned_field(item, "id", UINT32_MAX, what));
    if (id == 0) return error(StatusCode::kInvalidArgument, "{} has id 0", what);
    auto address = item.find("address");
    if (address == item.end() || !address->is_string())
      return error(StatusCode::kInvalidArgument, "host {} has no \"address\" string", id);
    bucket::PeerAddress peer;
    Status split = http::split_host_port(address->get<std::string>(), &peer.host, &peer.port);
    if (!split.ok() || peer.host.empty() || peer.port == 0) {
      return error(StatusCode::kInvalidArgument, "host {}: \"address\" is not HOST:PORT ({})", id,
                   split.ok() ? "empty host or port 0" : std::string(split.message()));
    }
    if (!table->hosts.emplace(HostId(static_cast<uint32_t>(id)), std::move(peer)).second)
      return error(StatusCode::kInvalidArgument, "host {} is listed twice", id);
  }
  return Status();
}

Result<BucketTable> fetch_from(const std::string& address, std::chrono::milliseconds call_timeout,
                               const Deadline& deadline) {
  TESS_ASSIGN_OR_RETURN(std::string buckets,
                        rest_get(address, "/api/v1/buckets", call_timeout, deadline));
  TESS_ASSIGN_OR_RETURN(std::string hosts,
                        rest_get(address, "/api/v1/hosts", call_timeout, deadline));
  return parse_bucket_table(buckets, hosts);
}

}  // namespace

Result<BucketTable> parse_bucket_table(std::string_view buckets_body, std::string_view hosts_body) {
  BucketTable table;
  TESS_RETURN_IF_ERROR(parse_buckets(buckets_body, &table));
  TESS_RETURN_IF_ERROR(parse_hosts(hosts_body, &table));
  return table;
}

RestBucketDirectory::RestBucketDirectory(RestBucketDirectoryOptions options)
    : options_(std::move(options)), pool_(std::make_unique<boost::asio::thread_pool>(1)) {}

RestBucketDirectory::~RestBucketDirectory() { pool_->join(); }

RestBucketDirectory::Fetched RestBucketDirectory::fetch(const std::vector<std::string>& api,
                                                        size_t first,
                                                        std::chrono::milliseconds call_timeout,
                                                        Deadline deadline) {
  if (api.empty()) return {error(StatusCode::kInvalidArgument, "no REST API address was given"), 0};
  std::string reasons;
  StatusCode code = StatusCode::kUnavailable;
  bool answered = false;  // Some address answered with an error of its own.
  for (size_t i = 0; i < api.size(); ++i) {
    size_t index = (first + i) % api.size();
    Result<BucketTable> table = fetch_from(api[index], call_timeout, deadline);
    if (table.ok()) return {std::move(table), index};
    Status failure = table.status();
    reasons += fmt::format("{}{}: {}", reasons.empty() ? "" : "; ", api[index], failure);
    bool silent = unreached(failure);
    // An answer (the cluster is not created, a malformed table) says more than a silence.
    if (!answered || !silent) code = failure.code();
    answered = answered || !silent;
    if (deadline.expired()) break;
  }
  return {Status(code, fmt::format("no REST API answered with the buckets ({})", reasons)), 0};
}

void RestBucketDirectory::install(Fetched fetched) {
  table_ = std::move(*fetched.table);
  next_api_ = fetched.answered;
}

Status RestBucketDirectory::load(Deadline deadline) {
  Fetched fetched = fetch(options_.api, next_api_, options_.call_timeout, deadline);
  last_fetch_end_ = options_.clock->now();
  last_fetch_status_ = fetched.table.status();
  if (!fetched.table.ok()) return last_fetch_status_;
  install(std::move(fetched));
  return Status();
}

std::vector<HostId> RestBucketDirectory::replicas(BucketId bucket) const {
  if (bucket.value() >= table_.buckets.size()) return {};
  return table_.buckets[bucket.value()].replicas;
}

std::optional<bucket::PeerAddress> RestBucketDirectory::address(HostId host) const {
  auto it = table_.hosts.find(host);
  if (it == table_.hosts.end()) return std::nullopt;
  return it->second;
}

std::function<RestBucketDirectory::Fetched()> RestBucketDirectory::fetch_call(
    std::vector<std::string> api, size_t first, std::chrono::milliseconds call_timeout,
    Deadline deadline) {
  // Copies only: the helper thread touches nothing the loop owns.
  return [api = std::move(api), first, call_timeout, deadline] {
    return fetch(api, first, call_timeout, deadline);
  };
}

Task<Status> RestBucketDirectory::refresh(Deadline deadline) {
  if (fetching_) co_return Status();
  if (last_fetch_end_ && options_.clock->now() < *last_fetch_end_ + options_.min_refresh_interval)
    co_return last_fetch_status_;
  fetching_ = true;
  std::function<Fetched()> call =
      fetch_call(options_.api, next_api_, options_.call_timeout, deadline);
  Fetched fetched = co_await offload(*pool_, std::move(call));
  fetching_ = false;
  last_fetch_end_ = options_.clock->now();
  last_fetch_status_ = fetched.table.status();
  if (!fetched.table.ok()) co_return last_fetch_status_;
  install(std::move(fetched));
  co_return Status();
}

}  // namespace tessera::client
