#include "client/rest_bucket_directory.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <random>
#include <thread>

#include "client/leader_probe.h"
#include "http/api_error.h"
#include "http/http.h"
#include "proto/bucket.pb.h"
#include "rpc/server.h"
#include "testing/testing.h"

namespace tessera::client {
namespace {

using namespace std::chrono_literals;
using testing::run_task;

constexpr const char* kBuckets = R"({"epoch": 7, "buckets": [
  {"id": 1, "desired": [3, 4, 5], "preferred_leader": 5, "desired_epoch": 1},
  {"id": 0, "desired": [1, 2, 3], "preferred_leader": 2, "desired_epoch": 1,
   "leader": 3, "term": 9}]})";
constexpr const char* kHosts = R"({"hosts": [
  {"id": 1, "name": "host0", "address": "127.0.0.1:7400", "http_port": 7500, "state": "up"},
  {"id": 2, "name": "host1", "address": "127.0.0.1:7401", "http_port": 7501, "state": "up"},
  {"id": 3, "name": "host2", "address": "10.0.0.3:7402", "http_port": 7502, "state": "down"},
  {"id": 4, "name": "host3", "address": "127.0.0.1:7403", "http_port": 7503, "state": "up"},
  {"id": 5, "name": "host4", "address": "127.0.0.1:7404", "http_port": 7504, "state": "up"}]})";

std::vector<HostId> hosts(std::initializer_list<uint32_t> ids) {
  std::vector<HostId> out;
  for (uint32_t id : ids) out.emplace_back(id);
  return out;
}

TEST(ParseBucketTable, ReadsBucketsAndHosts) {
  auto table = parse_bucket_table(kBuckets, kHosts);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->epoch, 7u);
  ASSERT_EQ(table->buckets.size(), 2u);
  // Listed out of order; indexed by id; the preferred leader first, the rest as listed.
  EXPECT_EQ(table->buckets[0].replicas, hosts({2, 1, 3}));
  EXPECT_EQ(table->buckets[1].replicas, hosts({5, 3, 4}));
  EXPECT_EQ(table->buckets[0].reported_leader, HostId(3));
  EXPECT_EQ(table->buckets[0].reported_term, 9u);
  EXPECT_EQ(table->buckets[1].reported_leader, HostId(0));  // Not reported.
  ASSERT_EQ(table->hosts.size(), 5u);
  EXPECT_EQ(table->hosts.at(HostId(3)).host, "10.0.0.3");
  EXPECT_EQ(table->hosts.at(HostId(3)).port, 7402);
}

TEST(ParseBucketTable, APreferredLeaderOutsideTheDesiredSetLeavesTheOrder) {
  auto table = parse_bucket_table(
      R"({"buckets": [{"id": 0, "desired": [4, 2, 9], "preferred_leader": 7, "leader": null}]})",
      R"({"hosts": []})");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->buckets[0].replicas, hosts({4, 2, 9}));
  EXPECT_EQ(table->buckets[0].reported_leader, HostId(0));
  EXPECT_EQ(table->epoch, 0u);
}

struct Malformed {
  std::string buckets;
  std::string hosts;
  std::string message;  // Part of the error message.
};

TEST(ParseBucketTable, RefusesMalformedAnswersWithAClearError) {
  const std::string good_hosts = kHosts;
  const std::string good_buckets = kBuckets;
  std::vector<Malformed> cases = {
      {"", good_hosts, "the buckets answer is not JSON"},
      {"{\"buckets\": [", good_hosts, "the buckets answer is not JSON"},
      {"\xff\xfe", good_hosts, "the buckets answer is not JSON"},
      {"[]", good_hosts, "the buckets answer is not a JSON object"},
      {"{}", good_hosts, "no \"buckets\" array"},
      {R"({"buckets": 5})", good_hosts, "no \"buckets\" array"},
      {R"({"buckets": [5]})", good_hosts, "bucket entry 0 is not an object"},
      {R"({"epoch": -1, "buckets": []})", good_hosts, "\"epoch\" is not an integer"},
      {R"({"buckets": [{"desired": [1]}]})", good_hosts, "bucket entry 0 has no \"id\""},
      {R"({"buckets": [{"id": -1, "desired": [1]}]})", good_hosts, "\"id\" is not an integer"},
      {R"({"buckets": [{"id": 1.5, "desired": [1]}]})", good_hosts, "\"id\" is not an integer"},
      {R"({"buckets": [{"id": "0", "desired": [1]}]})", good_hosts, "\"id\" is not an integer"},
      {R"({"buckets": [{"id": 1, "desired": [1]}]})", good_hosts,
       "\"id\" is not an integer from 0 to 0"},
      {R"({"buckets": [{"id": 0, "desired": [1]}, {"id": 0, "desired": [1]}]})", good_hosts,
       "bucket 0 is listed twice"},
      {R"({"buckets": [{"id": 0}]})", good_hosts, "\"desired\" is not an array"},
      {R"({"buckets": [{"id": 0, "desired": []}]})", good_hosts, "\"desired\" is not an array"},
      {R"({"buckets": [{"id": 0, "desired": {"a": 1}}]})", good_hosts,
       "\"desired\" is not an array"},
      {R"({"buckets": [{"id": 0, "desired": ["1"]}]})", good_hosts,
       "holds a string, not a host id"},
      {R"({"buckets": [{"id": 0, "desired": [0]}]})", good_hosts, "holds 0, not a host id"},
      {R"({"buckets": [{"id": 0, "desired": [-3]}]})", good_hosts, "holds -3, not a host id"},
      {R"({"buckets": [{"id": 0, "desired": [4294967296]}]})", good_hosts, "not a host id"},
      {R"({"buckets": [{"id": 0, "desired": [1e400]}]})", good_hosts, "bucket"},
      {R"({"buckets": [{"id": 0, "desired": [null]}]})", good_hosts, "holds a null"},
      {R"({"buckets": [{"id": 0, "desired": [2, 2]}]})", good_hosts, "host 2 is desired twice"},
      {R"({"buckets": [{"id": 0, "desired": [1], "preferred_leader": "1"}]})", good_hosts,
       "bucket 0: \"preferred_leader\" is not an integer"},
      {R"({"buckets": [{"id": 0, "desired": [1], "leader": true}]})", good_hosts,
       "bucket 0: \"leader\" is not an integer"},
      {R"({"buckets": [{"id": 0, "desired": [1], "term": -2}]})", good_hosts,
       "bucket 0: \"term\" is not an integer"},
      {good_buckets, "", "the hosts answer is not JSON"},
      {good_buckets, "null", "the hosts answer is not a JSON object"},
      {good_buckets, R"({"hosts": {}})", "no \"hosts\" array"},
      {good_buckets, R"({"hosts": [[]]})", "host entry 0 is not an object"},
      {good_buckets, R"({"hosts": [{"address": "a:1"}]})", "host entry 0 has no \"id\""},
      {good_buckets, R"({"hosts": [{"id": 0, "address": "a:1"}]})", "host entry 0 has id 0"},
      {good_buckets, R"({"hosts": [{"id": 1}]})", "host 1 has no \"address\" string"},
      {good_buckets, R"({"hosts": [{"id": 1, "address": 7400}]})", "no \"address\" string"},
      {good_buckets, R"({"hosts": [{"id": 1, "address": "127.0.0.1"}]})", "not HOST:PORT"},
      {good_buckets, R"({"hosts": [{"id": 1, "address": "127.0.0.1:99999"}]})", "not HOST:PORT"},
      {good_buckets, R"({"hosts": [{"id": 1, "address": ":7400"}]})", "not HOST:PORT"},
      {good_buckets, R"({"hosts": [{"id": 1, "address": "h:0"}]})", "not HOST:PORT"},
      {good_buckets, R"({"hosts": [{"id": 1, "address": "a:1"}, {"id": 1, "address": "b:2"}]})",
       "host 1 is listed twice"},
  };
  for (const Malformed& c : cases) {
    auto table = parse_bucket_table(c.buckets, c.hosts);
    ASSERT_FALSE(table.ok()) << c.buckets << " / " << c.hosts;
    EXPECT_EQ(table.status().code(), StatusCode::kInvalidArgument) << table.status();
    EXPECT_NE(table.status().message().find(c.message), std::string::npos)
        << "expected \"" << c.message << "\" in: " << table.status();
  }
}

TEST(ParseBucketTable, RefusesDeepNestingAndOversizeListsWithoutCrashing) {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(parse_bucket_table(deep, kHosts).ok());
  EXPECT_FALSE(parse_bucket_table(kBuckets, "{\"hosts\": " + deep + "}").ok());
  std::string many = "{\"buckets\": [";
  for (size_t i = 0; i <= kMaxBuckets; ++i) many += i == 0 ? "0" : ",0";
  many += "]}";
  auto table = parse_bucket_table(many, kHosts);
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.status().message().find("over"), std::string::npos) << table.status();
}

// Random damage to valid answers: each parse ends with a table or an error, never a crash.
TEST(ParseBucketTable, SurvivesDamagedInput) {
  uint64_t seed = 20261204;
  std::mt19937_64 random(seed);
  const std::string bodies[2] = {kBuckets, kHosts};
  const char replacements[] = "{}[]\",:0123456789-.e nulltrue\xff";
  size_t parsed = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string damaged[2] = {bodies[0], bodies[1]};
    std::string& target = damaged[random() % 2];
    int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !target.empty(); ++e) {
      size_t at = random() % target.size();
      switch (random() % 3) {
        case 0:
          target[at] = replacements[random() % (sizeof(replacements) - 1)];
          break;
        case 1:
          target.erase(at, 1 + random() % 8);
          break;
        default:
          target.resize(at);
          break;
      }
    }
    auto table = parse_bucket_table(damaged[0], damaged[1]);
    if (table.ok()) {
      ++parsed;
      for (const BucketEntry& entry : table->buckets) EXPECT_FALSE(entry.replicas.empty());
    } else {
      EXPECT_EQ(table.status().code(), StatusCode::kInvalidArgument) << "seed " << seed;
    }
  }
  EXPECT_LT(parsed, 5000u);
}

// ---- the directory against a real HTTP server --------------------------------------------------

// Answers the two endpoints; the bucket answer's epoch counts the requests for it.
struct FakeApi {
  std::atomic<int> bucket_requests{0};
  std::atomic<bool> not_created{false};
  std::atomic<int> requests{0};
  http::Response handle(const http::Request& request) {
    ++requests;
    if (not_created) {
      return {412,
              fmt::format(
                  R"({{"error": {{"code": "{}", "message": "the cluster has not been created"}}}})",
                  http::api_code_name(StatusCode::kFailedPrecondition)),
              {}};
    }
    if (request.target == "/api/v1/buckets") {
      int n = ++bucket_requests;
      return {
          200,
          fmt::format(
              R"({{"epoch": {}, "buckets": [{{"id": 0, "desired": [1, 2], "preferred_leader": {}}}]}})",
              n, n % 2 == 1 ? 1 : 2),
          {}};
    }
    if (request.target == "/api/v1/hosts") return {200, kHosts, {}};
    return {404, "{}", {}};
  }
};

// A port nothing listens on (bound, then released).
uint16_t closed_port() {
  boost::asio::io_context context;
  boost::asio::ip::tcp::acceptor acceptor(
      context, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

Task<Status> refresh_on(RestBucketDirectory* directory) {
  co_return co_await directory->refresh(Deadline::after(5s, RealClock::instance()));
}

TEST(RestBucketDirectory, LoadsFromTheFirstAddressThatAnswersAndRefreshes) {
  FakeApi api;
  http::Server server("127.0.0.1", 0, std::bind_front(&FakeApi::handle, &api));
  ASSERT_TRUE(server.start().ok());
  RestBucketDirectoryOptions options;
  options.api = {fmt::format("127.0.0.1:{}", closed_port()),
                 fmt::format("127.0.0.1:{}", server.port())};
  options.min_refresh_interval = 0s;
  RestBucketDirectory directory(options);
  EXPECT_TRUE(directory.replicas(BucketId(0)).empty());  // Nothing before the first load.
  Status loaded = directory.load(Deadline::after(10s, RealClock::instance()));
  ASSERT_TRUE(loaded.ok()) << loaded;
  EXPECT_EQ(directory.bucket_count(), 1u);
  EXPECT_EQ(directory.table().epoch, 1u);
  EXPECT_EQ(directory.replicas(BucketId(0)), hosts({1, 2}));
  EXPECT_TRUE(directory.replicas(BucketId(1)).empty());
  ASSERT_TRUE(directory.address(HostId(2)).has_value());
  EXPECT_EQ(directory.address(HostId(2))->port, 7401);
  EXPECT_FALSE(directory.address(HostId(9)).has_value());

  // A refresh on a loop: the answering address first; the new preferred leader comes first.
  Status refreshed = run_task(refresh_on(&directory));
  ASSERT_TRUE(refreshed.ok()) << refreshed;
  EXPECT_EQ(directory.table().epoch, 2u);
  EXPECT_EQ(directory.replicas(BucketId(0)), hosts({2, 1}));
  EXPECT_EQ(api.bucket_requests, 2);

  // A failed refresh keeps the table it had and says why.
  api.not_created = true;
  refreshed = run_task(refresh_on(&directory));
  EXPECT_EQ(refreshed.code(), StatusCode::kFailedPrecondition) << refreshed;
  EXPECT_NE(refreshed.message().find("the cluster has not been created"), std::string::npos);
  EXPECT_EQ(directory.replicas(BucketId(0)), hosts({2, 1}));
  server.stop();
}

TEST(RestBucketDirectory, RefreshesWithinTheMinimumIntervalCostNothing) {
  FakeApi api;
  http::Server server("127.0.0.1", 0, std::bind_front(&FakeApi::handle, &api));
  ASSERT_TRUE(server.start().ok());
  RestBucketDirectoryOptions options;
  options.api = {fmt::format("127.0.0.1:{}", server.port())};
  options.min_refresh_interval = 1h;
  RestBucketDirectory directory(options);
  ASSERT_TRUE(directory.load(Deadline::after(10s, RealClock::instance())).ok());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(run_task(refresh_on(&directory)).ok());
  EXPECT_EQ(api.bucket_requests, 1);
  // A failed fetch is not retried within the interval either: its error comes back at once.
  api.not_created = true;
  RestBucketDirectory failing(options);
  EXPECT_EQ(failing.load(Deadline::after(10s, RealClock::instance())).code(),
            StatusCode::kFailedPrecondition);
  int requests = api.requests;
  EXPECT_EQ(run_task(refresh_on(&failing)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(api.requests, requests);
  server.stop();
}

TEST(RestBucketDirectory, SaysWhyEveryAddressFailed) {
  RestBucketDirectoryOptions options;
  uint16_t port = closed_port();
  options.api = {fmt::format("127.0.0.1:{}", port), "no-port-here"};
  RestBucketDirectory directory(options);
  Status loaded = directory.load(Deadline::after(10s, RealClock::instance()));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.message().find(fmt::format("127.0.0.1:{}: ", port)), std::string::npos)
      << loaded;
  EXPECT_NE(loaded.message().find("no-port-here: "), std::string::npos) << loaded;

  RestBucketDirectory nowhere(RestBucketDirectoryOptions{});
  EXPECT_EQ(nowhere.load(Deadline::after(1s, RealClock::instance())).code(),
            StatusCode::kInvalidArgument);
}

TEST(RestBucketDirectory, AnExpiredDeadlineCallsNobody) {
  FakeApi api;
  http::Server server("127.0.0.1", 0, std::bind_front(&FakeApi::handle, &api));
  ASSERT_TRUE(server.start().ok());
  RestBucketDirectoryOptions options;
  options.api = {fmt::format("127.0.0.1:{}", server.port())};
  RestBucketDirectory directory(options);
  Status loaded = directory.load(Deadline::after(0s, RealClock::instance()));
  EXPECT_EQ(loaded.code(), StatusCode::kDeadlineExceeded) << loaded;
  EXPECT_EQ(api.bucket_requests, 0);
  server.stop();
}

// ---- probe_leader ------------------------------------------------------------------------------

// A replica that answers reads (leads) or names `hint` as the leader.
Task<Result<rpc::Reply>> replica_answer(bool leads, uint32_t hint, rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto call, request.parse<proto::BucketCallRequest>());
  proto::BucketCallResponse response;
  if (call.get().key() != kLeaderProbeKey) co_return error(StatusCode::kInvalidArgument, "key");
  if (leads) {
    response.mutable_result()->set_found(false);
  } else {
    response.set_not_leader(true);
    response.set_leader_host(hint);
  }
  co_return rpc::Reply::of(response);
}

struct FixedDirectory final : bucket::BucketDirectory {
  std::vector<HostId> replicas_;
  std::map<HostId, bucket::PeerAddress> addresses;
  std::vector<HostId> replicas(BucketId) const override { return replicas_; }
  std::optional<bucket::PeerAddress> address(HostId host) const override {
    auto it = addresses.find(host);
    if (it == addresses.end()) return std::nullopt;
    return it->second;
  }
  Task<Status> refresh(Deadline) override { co_return Status(); }
};

Task<void> probe_scenario() {
  Executor executor = co_await boost::asio::this_coro::executor;
  // Host 1 is down, host 2 names host 3, host 3 leads; host 3 is not among the desired replicas
  // (the hint alone leads there).
  rpc::RpcServer follower(executor, rpc::ServerOptions{});
  rpc::RpcServer leader(executor, rpc::ServerOptions{});
  follower.register_handler(rpc::MessageType::kBucketCall,
                            std::bind_front(&replica_answer, false, 3));
  leader.register_handler(rpc::MessageType::kBucketCall, std::bind_front(&replica_answer, true, 0));
  CO_ASSERT_OK(follower.start());
  CO_ASSERT_OK(leader.start());
  FixedDirectory directory;
  directory.replicas_ = hosts({1, 2});
  directory.addresses[HostId(1)] = {"127.0.0.1", closed_port()};
  directory.addresses[HostId(2)] = {"127.0.0.1", follower.port()};
  directory.addresses[HostId(3)] = {"127.0.0.1", leader.port()};
  auto found =
      co_await probe_leader(directory, BucketId(0), Deadline::after(10s, RealClock::instance()));
  CO_ASSERT_OK(found);
  EXPECT_EQ(*found, HostId(3));

  // Nobody leads: the probe ends at its deadline and says what it last heard.
  directory.addresses.erase(HostId(3));
  auto none =
      co_await probe_leader(directory, BucketId(0), Deadline::after(500ms, RealClock::instance()));
  EXPECT_EQ(none.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(none.status().message().find("no replica of bucket 0 answered as leader"),
            std::string::npos)
      << none.status();
  directory.replicas_.clear();
  auto empty =
      co_await probe_leader(directory, BucketId(0), Deadline::after(1s, RealClock::instance()));
  EXPECT_EQ(empty.status().code(), StatusCode::kNotFound);
  co_await follower.shutdown(Deadline::after(1s, RealClock::instance()));
  co_await leader.shutdown(Deadline::after(1s, RealClock::instance()));
}

TEST(ProbeLeader, FollowsTheHintsOfReplicasToTheLeader) { run_task(probe_scenario()); }

}  // namespace
}  // namespace tessera::client
