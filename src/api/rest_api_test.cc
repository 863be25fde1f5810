#include "api/rest_api.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>

#include "cluster/fake_config_store.h"
#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera::api {
namespace {

using nlohmann::json;

proto::HostRegistration registration(uint32_t host_id, const std::string& name, uint16_t port) {
  proto::HostRegistration host;
  host.set_host_id(host_id);
  host.set_name(name);
  host.set_address("127.0.0.1");
  host.set_http_port(port);
  return host;
}

std::string local_drives_body(uint32_t drive_id, uint64_t used_bytes) {
  return json{{"drives", json::array({{{"id", drive_id}, {"used_bytes", used_bytes}}})}}.dump();
}

TEST(RestApi, AddingADriveToThisHostCallsItDirectly) {
  // This host's own API: a request reaching it over HTTP is the self-call of issue 9.
  std::atomic<int> self_calls{0};
  http::Server self_api("127.0.0.1", 0, [&self_calls](const http::Request&) {
    ++self_calls;
    return http::Response{500, R"({"error":{"code":"internal","message":"self-call"}})", {}};
  });
  ASSERT_TRUE(self_api.start().ok());
  ClusterView view;
  view.registrations.push_back(registration(7, "host7", self_api.port()));
  std::vector<std::string> added;
  LocalDrives local;
  local.add = [&added](const std::string& path) -> Result<proto::DriveInfo> {
    added.push_back(path);
    proto::DriveInfo info;
    info.set_drive_id(42);
    info.set_path(path);
    info.set_capacity_bytes(1 << 30);
    return info;
  };
  for (const json& host : {json("host7"), json(7), json("7")}) {
    added.clear();
    http::Response response = add_drive_to_host(
        view, 7, local,
        http::Request{"POST", "/api/v1/drives", json{{"host", host}, {"path", "/d/x"}}.dump(), {}});
    EXPECT_EQ(response.status, 201) << response.body;
    EXPECT_EQ(json::parse(response.body)["id"], 42);
    EXPECT_EQ(added, std::vector<std::string>{"/d/x"});
  }
  EXPECT_EQ(self_calls.load(), 0);
  self_api.stop();
}

TEST(RestApi, AddingADriveToAnotherHostForwardsIt) {
  std::promise<std::string> forwarded;
  http::Server peer("127.0.0.1", 0, [&forwarded](const http::Request& request) {
    forwarded.set_value(request.method + " " + request.target + " " + request.body);
    return http::Response{201, R"({"id":5,"path":"/d/y","capacity_bytes":1})", {}};
  });
  ASSERT_TRUE(peer.start().ok());
  ClusterView view;
  view.registrations.push_back(registration(1, "host1", 1));  // Self: never reached over HTTP.
  view.registrations.push_back(registration(2, "host2", peer.port()));
  LocalDrives local;
  local.add = [](const std::string&) -> Result<proto::DriveInfo> {
    return error(StatusCode::kInternal, "must not add here");
  };
  http::Response response = add_drive_to_host(
      view, 1, local,
      http::Request{"POST", "/api/v1/drives", R"({"host":"host2","path":"/d/y"})", {}});
  EXPECT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(forwarded.get_future().get(), R"(POST /api/v1/local/drives {"path":"/d/y"})");
  response = add_drive_to_host(
      view, 1, local,
      http::Request{"POST", "/api/v1/drives", R"({"host":"host9","path":"/d/y"})", {}});
  EXPECT_EQ(response.status, 404) << response.body;
  peer.stop();
}

TEST(RestApi, LiveDriveUsageAsksPeersAtOnceWithinOneDeadline) {
  // Three peers that do not answer within the 1 s deadline, then one that does.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<std::unique_ptr<http::Server>> peers;
  ClusterView view;
  for (uint32_t i = 0; i < 3; ++i) {
    peers.push_back(
        std::make_unique<http::Server>("127.0.0.1", 0, [released, i](const http::Request&) {
          released.wait_for(std::chrono::seconds(10));
          return http::Response{200, local_drives_body(100 + i, 1), {}};
        }));
    ASSERT_TRUE(peers.back()->start().ok());
    view.registrations.push_back(registration(10 + i, "slow", peers.back()->port()));
  }
  peers.push_back(std::make_unique<http::Server>("127.0.0.1", 0, [](const http::Request&) {
    return http::Response{200, local_drives_body(200, 12345), {}};
  }));
  ASSERT_TRUE(peers.back()->start().ok());
  view.registrations.push_back(registration(20, "fast", peers.back()->port()));
  view.registrations.push_back(registration(1, "self", 1));
  LocalDrives local;
  local.list = [] {
    proto::DriveInfo info;
    info.set_drive_id(300);
    info.set_used_bytes(777);
    return std::vector<proto::DriveInfo>{info};
  };

  auto started = std::chrono::steady_clock::now();
  DriveUsage usage = live_drive_usage(view, 1, local);
  auto took = std::chrono::steady_clock::now() - started;
  // One deadline for all peers (1 s), not one per peer in turn (3 s and more).
  EXPECT_LT(took, std::chrono::milliseconds(2500))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_EQ(usage, (DriveUsage{{200, 12345}, {300, 777}}));
  release.set_value();
  for (auto& peer : peers) peer->stop();
}

// A view of hosts 1..hosts, all registered and up, with `desired` per bucket (preferred leader:
// the first) and R = 3.
ClusterView bucket_view(uint32_t hosts, const std::vector<std::vector<uint32_t>>& desired) {
  ClusterView view;
  ClusterMap map;
  map.header.set_epoch(7);
  map.header.set_bucket_replicas(3);
  for (uint32_t id = 1; id <= hosts; ++id) {
    view.registrations.push_back(registration(id, fmt::format("host{}", id), 1));
    proto::HostEntry* host = map.header.add_hosts();
    host->set_host_id(id);
    host->set_name(fmt::format("host{}", id));
    host->set_failure_domain(fmt::format("d{}", id));
    host->set_up(true);
  }
  for (const std::vector<uint32_t>& hosts_of_bucket : desired) {
    DesiredReplicas bucket;
    for (uint32_t host : hosts_of_bucket) bucket.desired.emplace_back(host);
    bucket.preferred_leader = bucket.desired.front();
    bucket.desired_epoch = MapEpoch(1);
    map.buckets.push_back(bucket);
  }
  view.map = std::move(map);
  view.leader_host_id = 1;
  return view;
}

struct Replica {
  uint32_t bucket = 0;
  std::string role = "follower";
  uint64_t term = 1;
  uint64_t commit = 10;
  uint64_t applied = 10;
  uint64_t last_index = 10;
  uint64_t quorum_durable = 0;
  std::vector<uint32_t> voters{1, 2, 3};
  std::vector<uint32_t> learners;
  bool recovering = false;
  bool broken = false;

  json to_json() const {
    return {{"bucket", bucket},
            {"role", role},
            {"leader_host", 0},
            {"term", term},
            {"commit", commit},
            {"applied", applied},
            {"last_index", last_index},
            {"durable", last_index},
            {"quorum_durable", quorum_durable},
            {"voters", voters},
            {"learners", learners},
            {"recovering", recovering},
            {"broken", broken}};
  }
};

json answer(const std::vector<json>& replicas) { return json{{"replicas", replicas}}; }

// "host:state" of each replica of `bucket`.
std::vector<std::string> states(const json& bucket) {
  std::vector<std::string> out;
  for (const json& replica : bucket["replicas"]) {
    out.push_back(
        fmt::format("{}:{}", replica["host"].get<uint32_t>(), replica["state"].get<std::string>()));
  }
  return out;
}

const json& replica_of(const json& bucket, uint32_t host) {
  for (const json& replica : bucket["replicas"]) {
    if (replica["host"] == host) return replica;
  }
  static const json none;
  return none;
}

TEST(RestApiBuckets, TheLeaderIsTheOneWithTheHighestTerm) {
  ClusterView view = bucket_view(3, {{1, 2, 3}});
  // Host 1 still believes it leads term 3; host 2 leads term 5.
  Replica old_leader{.role = "leader", .term = 3, .commit = 8, .last_index = 9};
  Replica leader{.role = "leader",
                 .term = 5,
                 .commit = 20,
                 .applied = 19,
                 .last_index = 22,
                 .quorum_durable = 18};
  Replica follower{.term = 5, .commit = 20, .applied = 17, .last_index = 21};
  HostAnswers answers{{1, answer({old_leader.to_json()})},
                      {2, answer({leader.to_json()})},
                      {3, answer({follower.to_json()})}};
  json buckets = merge_buckets(view, answers);
  ASSERT_EQ(buckets.size(), 1u);
  const json& bucket = buckets[0];
  EXPECT_EQ(bucket["id"], 0);
  EXPECT_EQ(bucket["desired"], json::array({1, 2, 3}));
  EXPECT_EQ(bucket["preferred_leader"], 1);
  EXPECT_EQ(bucket["desired_epoch"], 1);
  EXPECT_EQ(bucket["leader"], 2);
  EXPECT_EQ(bucket["term"], 5);
  EXPECT_EQ(bucket["commit"], 20);
  EXPECT_EQ(bucket["durable"], 18);
  EXPECT_EQ(bucket["quorum"], true);
  EXPECT_EQ(states(bucket), (std::vector<std::string>{"1:voter", "2:voter", "3:voter"}));
  EXPECT_EQ(replica_of(bucket, 1)["lag"], 13);
  EXPECT_EQ(replica_of(bucket, 2)["lag"], 0);
  EXPECT_EQ(replica_of(bucket, 3)["lag"], 1);
  EXPECT_EQ(replica_of(bucket, 3)["applied"], 17);
  EXPECT_EQ(replica_of(bucket, 3)["voter"], true);
}

TEST(RestApiBuckets, DownHostsMissingReplicasAndLearners) {
  ClusterView view = bucket_view(4, {{1, 2, 3}, {2, 3, 4}});
  // Host 5 answers but is not registered: its answer is ignored and it counts down.
  view.registrations.pop_back();  // Host 4 is no longer registered either.
  Replica leader{.role = "leader", .term = 2, .last_index = 40, .quorum_durable = 38};
  leader.voters = {1, 2, 3};
  leader.learners = {5};
  Replica lagging{.term = 2, .applied = 25, .last_index = 28};
  lagging.learners = {5};
  HostAnswers answers{{1, answer({leader.to_json()})},
                      {2, answer({lagging.to_json()})},
                      // Host 3 did not answer.
                      {4, answer({Replica{.bucket = 1, .role = "leader", .term = 9}.to_json()})},
                      {5, answer({Replica{.learners = {5}}.to_json()})}};
  json buckets = merge_buckets(view, answers);
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(states(buckets[0]),
            (std::vector<std::string>{"1:voter", "2:voter", "3:down", "5:down"}));
  EXPECT_EQ(replica_of(buckets[0], 2)["lag"], 12);
  EXPECT_EQ(replica_of(buckets[0], 2)["applied"], 25);
  EXPECT_TRUE(replica_of(buckets[0], 3)["lag"].is_null());
  EXPECT_TRUE(replica_of(buckets[0], 3)["applied"].is_null());
  EXPECT_EQ(replica_of(buckets[0], 5)["voter"], false);
  EXPECT_EQ(buckets[0]["quorum"], true);  // 2 of 3 voters up.
  // Bucket 1: only host 4, unregistered, claims to lead; hosts 2 and 3 hold nothing of it, so
  // there is no report: the desired hosts, as voters. Host 2 answered without it: missing.
  EXPECT_EQ(buckets[1]["leader"], 0);
  EXPECT_EQ(buckets[1]["term"], 0);
  EXPECT_EQ(states(buckets[1]), (std::vector<std::string>{"2:missing", "3:down", "4:down"}));
  EXPECT_EQ(buckets[1]["quorum"], false);
  EXPECT_TRUE(replica_of(buckets[1], 2)["lag"].is_null());

  // One bucket alone.
  json only = merge_buckets(view, answers, 1);
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0], buckets[1]);
}

TEST(RestApiBuckets, WithoutALeaderTheReportedConfigurationsAreJoined) {
  ClusterView view = bucket_view(4, {{1, 2, 3}});
  Replica candidate{.role = "candidate", .term = 7, .commit = 30, .last_index = 31};
  candidate.voters = {1, 2, 3};
  candidate.learners = {4};
  Replica promoted{.role = "pre-candidate", .term = 6, .commit = 33, .last_index = 33};
  promoted.voters = {1, 2, 4};
  HostAnswers answers{{1, answer({candidate.to_json()})}, {4, answer({promoted.to_json()})}};
  json bucket = merge_buckets(view, answers)[0];
  EXPECT_EQ(bucket["leader"], 0);
  EXPECT_EQ(bucket["term"], 7);
  EXPECT_EQ(bucket["commit"], 33);
  EXPECT_EQ(bucket["durable"], 0);
  // 4 is a voter in one report: a voter. Hosts 2 and 3 answered nothing (down).
  EXPECT_EQ(states(bucket), (std::vector<std::string>{"1:voter", "2:down", "3:down", "4:voter"}));
  EXPECT_TRUE(replica_of(bucket, 1)["lag"].is_null());
  EXPECT_EQ(replica_of(bucket, 1)["applied"], 10);
  EXPECT_EQ(bucket["quorum"], false);  // 2 of 4 voters: no majority.
}

TEST(RestApiBuckets, QuorumCountsRecoveringButNotBrokenOrMissingVoters) {
  ClusterView view = bucket_view(5, {{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}});
  std::vector<uint32_t> five{1, 2, 3, 4, 5};
  auto with = [&five](Replica r) {
    r.voters = five;
    return r.to_json();
  };
  HostAnswers answers{
      {1, answer({with({.bucket = 0, .role = "leader", .term = 4}),
                  with({.bucket = 1, .role = "leader", .term = 4})})},
      {2, answer({with({.bucket = 0, .term = 4, .recovering = true}),
                  with({.bucket = 1, .term = 4, .broken = true})})},
      {3, answer({with({.bucket = 0, .term = 4, .recovering = true}),
                  with({.bucket = 1, .term = 4, .recovering = true})})},
      {4, answer({})},  // Holds neither.
                        // Host 5 is down.
  };
  json buckets = merge_buckets(view, answers);
  EXPECT_EQ(states(buckets[0]), (std::vector<std::string>{"1:voter", "2:recovering", "3:recovering",
                                                          "4:missing", "5:down"}));
  EXPECT_EQ(buckets[0]["quorum"], true);  // 3 of 5.
  EXPECT_EQ(states(buckets[1]), (std::vector<std::string>{"1:voter", "2:broken", "3:recovering",
                                                          "4:missing", "5:down"}));
  EXPECT_EQ(buckets[1]["quorum"], false);  // 2 of 5.
}

TEST(RestApiBuckets, MalformedAnswersAreSkipped) {
  ClusterView view = bucket_view(9, {{1, 2, 3}, {4, 5, 6}});
  json good = Replica{.bucket = 1, .role = "leader", .term = 3}.to_json();
  good["voters"] = json::array({4, 5, 6});
  auto broken_copy = [&good](const std::string& field, const json& value) {
    json copy = good;
    if (value.is_discarded()) {
      copy.erase(field);
    } else {
      copy[field] = value;
    }
    return copy;
  };
  json missing = json(json::value_t::discarded);
  // Each of these must be skipped; none may crash.
  std::vector<json> malformed{
      broken_copy("term", "3"),
      broken_copy("term", -3),
      broken_copy("term", 3.5),
      broken_copy("term", missing),
      broken_copy("role", "king"),
      broken_copy("role", 1),
      broken_copy("bucket", 1ULL << 32),
      broken_copy("bucket", 99),  // Not in the map.
      broken_copy("voters", json::array({4, "5"})),
      broken_copy("voters", json::array({4, -5})),
      broken_copy("voters", json::array({0})),
      broken_copy("voters", json(json::array({json::array()}))),
      broken_copy("voters", 4),
      broken_copy("voters", json(std::vector<uint32_t>(100, 4))),
      broken_copy("learners", missing),
      broken_copy("recovering", 1),
      broken_copy("broken", missing),
      broken_copy("leader_host", "x"),
      broken_copy("quorum_durable", nullptr),
      json("replica"),
      json(nullptr),
      json::array({good}),
  };
  HostAnswers answers;
  for (const json& replica : malformed) {
    answers = {{4, answer({replica})}};
    json bucket = merge_buckets(view, answers)[1];
    EXPECT_EQ(bucket["leader"], 0) << replica.dump();
    EXPECT_EQ(replica_of(bucket, 4)["state"], "missing") << replica.dump();
  }
  // Bodies that are not {"replicas": array}: the host counts as not answering.
  for (const json& body : {json(nullptr), json(3), json("x"), json::array({good}),
                           json{{"replicas", good}}, json{{"replica", json::array({good})}}}) {
    answers = {{4, body}};
    json bucket = merge_buckets(view, answers)[1];
    EXPECT_EQ(replica_of(bucket, 4)["state"], "down") << body.dump();
  }
  // A malformed replica beside good ones: only it is skipped; a second report of one bucket from
  // the same host is ignored.
  json second = good;
  second["term"] = 99;
  answers = {{4, answer({broken_copy("term", "x"), good, second})},
             {5, answer({json::array(), Replica{.bucket = 1, .term = 3}.to_json()})}};
  json bucket = merge_buckets(view, answers)[1];
  EXPECT_EQ(bucket["leader"], 4);
  EXPECT_EQ(bucket["term"], 3);
  EXPECT_EQ(states(bucket), (std::vector<std::string>{"4:voter", "5:voter", "6:down"}));
  // Integers built in-process may be signed; non-negative ones are accepted.
  json signed_term = good;
  signed_term["term"] = static_cast<int64_t>(4);
  answers = {{4, answer({signed_term})}};
  EXPECT_EQ(merge_buckets(view, answers)[1]["term"], 4);
}

TEST(RestApiBuckets, StatusCountsFromTheReplicas) {
  // Four buckets on hosts 1..4, R = 3.
  ClusterView view = bucket_view(4, {{1, 2, 3}, {1, 2, 3}, {2, 3, 4}, {2, 3, 4}});
  json before = status_json(view);
  EXPECT_FALSE(before["buckets"].contains("without_quorum"));
  EXPECT_EQ(before["buckets"]["under_replicated"], 0);
  EXPECT_EQ(before["health"], "ok") << before.dump();

  auto on = [](uint32_t bucket, std::string role, std::vector<uint32_t> voters) {
    Replica r{.bucket = bucket, .role = std::move(role), .term = 2};
    r.voters = std::move(voters);
    return r.to_json();
  };
  // Bucket 0: led by 1, all up. Bucket 1: led by 1, host 3 holds no replica (under-replicated).
  // Bucket 2: led by 2, voters {2, 3, 4}, 3 and 4 say nothing (no quorum). Bucket 3: led by 4.
  HostAnswers answers{
      {1, answer({on(0, "leader", {1, 2, 3}), on(1, "leader", {1, 2, 3})})},
      {2, answer({on(0, "follower", {1, 2, 3}), on(1, "follower", {1, 2, 3}),
                  on(2, "leader", {2, 3, 4}), on(3, "follower", {2, 3, 4})})},
      {3, answer({on(0, "follower", {1, 2, 3}), on(3, "follower", {2, 3, 4})})},
      {4, answer({on(3, "leader", {2, 3, 4})})},
  };
  json status = status_json(view, {}, &answers);
  const json& buckets = status["buckets"];
  EXPECT_EQ(buckets["total"], 4);
  EXPECT_EQ(buckets["replicas"], 3);
  EXPECT_EQ(buckets["without_quorum"], 1);
  EXPECT_EQ(buckets["under_replicated"], 2);
  EXPECT_EQ(buckets["desired_majority_down"], 0);
  EXPECT_EQ(buckets["leaders_max"], 2);
  EXPECT_DOUBLE_EQ(buckets["leaders_mean"].get<double>(), 1.0);  // 4 leaders, 4 hosts up.
  EXPECT_EQ(status["health"], "error");
  std::vector<std::string> reasons = status["reasons"];
  EXPECT_EQ(reasons, (std::vector<std::string>{
                         "2 buckets with fewer voters up than desired replicas",
                         "1 buckets without quorum (a majority of their voters down)"}));

  // A host that does not answer counts down, and is not among the hosts leaders are spread on.
  answers.erase(4);
  status = status_json(view, {}, &answers);
  EXPECT_EQ(status["buckets"]["without_quorum"], 1);
  EXPECT_EQ(status["buckets"]["under_replicated"], 3);
  EXPECT_DOUBLE_EQ(status["buckets"]["leaders_mean"].get<double>(), 1.0);  // 3 leaders, 3 hosts.

  // Nobody answers: no bucket has a quorum, and no leader is known.
  HostAnswers none;
  status = status_json(view, {}, &none);
  EXPECT_EQ(status["buckets"]["without_quorum"], 4);
  EXPECT_EQ(status["buckets"]["leaders_max"], 0);
  EXPECT_DOUBLE_EQ(status["buckets"]["leaders_mean"].get<double>(), 0.0);
}

TEST(RestApiBuckets, ReplicasAreAskedOfEveryHostWithTheBucketFilter) {
  std::mutex mutex;
  std::vector<std::string> asked;
  http::Server peer("127.0.0.1", 0, [&mutex, &asked](const http::Request& request) {
    std::lock_guard<std::mutex> lock(mutex);
    asked.push_back(request.target);
    return http::Response{
        200, answer({Replica{.bucket = 1, .role = "leader", .term = 2}.to_json()}).dump(), {}};
  });
  ASSERT_TRUE(peer.start().ok());
  ClusterView view = bucket_view(3, {{1, 2, 3}, {1, 2, 3}});
  view.registrations[1].set_http_port(peer.port());  // Host 2.
  view.registrations[2].set_http_port(1);            // Host 3: nothing listens.
  LocalBuckets local;
  local.status = [] {
    return json::array({Replica{.bucket = 0}.to_json(), Replica{.bucket = 1}.to_json()});
  };
  HostAnswers answers = live_bucket_replicas(view, 1, local, 1);
  EXPECT_EQ(asked, std::vector<std::string>{"/api/v1/local/buckets?bucket=1"});
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[1]["replicas"].size(), 1u);  // This host's own, bucket 1 only.
  EXPECT_EQ(answers[1]["replicas"][0]["bucket"], 1);
  json bucket = merge_buckets(view, answers, 1)[0];
  EXPECT_EQ(bucket["leader"], 2);
  EXPECT_EQ(states(bucket), (std::vector<std::string>{"1:voter", "2:voter", "3:down"}));
  // A host without a bucket role has no answer of its own.
  answers = live_bucket_replicas(view, 1, LocalBuckets{}, std::nullopt);
  EXPECT_FALSE(answers.contains(1));
  EXPECT_TRUE(answers.contains(2));
  peer.stop();
  EXPECT_EQ(asked.back(), "/api/v1/local/buckets");
}

// The endpoints through handle_api_request, on control planes of five hosts in a simulation (the
// way control_plane_test.cc runs them). Host 1 answers for itself, host 2 over HTTP, the others
// have no API (their port refuses).
struct ApiSim {
  boost::asio::io_context context{1};
  FakeClock clock;
  FakeConfigStore store{clock};
  std::vector<std::unique_ptr<ControlPlane>> hosts;
  uint16_t peer_port = 0;
  std::vector<std::pair<std::string, http::Response>> responses;  // Target -> answer.
};

Task<void> serve_bucket_endpoints(ApiSim* sim) {
  for (uint32_t i = 1; i <= 5; ++i) {
    ControlPlaneEnv env{.executor = sim->context.get_executor(),
                        .clock = &sim->clock,
                        .store = &sim->store.client(fmt::format("h{}", i)),
                        .seed = i,
                        .unix_ms = [] { return uint64_t{1'800'000'000'000}; }};
    ControlPlaneOptions options;
    options.host_name = fmt::format("h{}", i);
    options.address = "127.0.0.1";
    options.http_port = i == 2 ? sim->peer_port : 1;
    auto joined = co_await ControlPlane::join(env, options);
    CO_ASSERT_OK(joined.status());
    CO_ASSERT_OK(co_await (*joined)->start());
    sim->hosts.push_back(std::move(*joined));
  }
  (void)co_await sim->clock.sleep_for(std::chrono::seconds(1));
  ControlPlane* leader = nullptr;
  for (auto& host : sim->hosts) {
    if (host->is_leader()) leader = host.get();
  }
  CO_ASSERT_TRUE(leader != nullptr);
  CO_ASSERT_OK(co_await leader->create_cluster(
      CreationRequest{.data = 3, .parity = 2, .hot_spare = -1, .bucket_count = 128}));
  (void)co_await sim->clock.sleep_for(std::chrono::seconds(1));

  ControlPlane& control = *sim->hosts[0];
  CO_ASSERT_TRUE(control.view()->map.has_value());
  const DesiredReplicas& bucket3 = control.view()->map->buckets[3];
  json voters = json::array();
  for (HostId host : bucket3.desired) voters.push_back(host.value());
  LocalBuckets local;
  local.status = [voters] {
    Replica replica{.bucket = 3, .role = "follower", .term = 4, .applied = 9, .last_index = 9};
    json own = replica.to_json();
    own["voters"] = voters;
    return json::array({own});
  };
  boost::asio::io_context unused;
  BlockingBridge bridge(unused, 1);  // GETs never cross to the control loop.
  for (const char* target :
       {"/api/v1/buckets", "/api/v1/buckets/3", "/api/v1/buckets/128", "/api/v1/buckets/x",
        "/api/v1/buckets/99999999999", "/api/v1/local/buckets?bucket=3",
        "/api/v1/local/buckets?bucket=4", "/api/v1/local/buckets?bucket=-1", "/api/v1/status"}) {
    sim->responses.emplace_back(target,
                                handle_api_request(control, bridge, ApiSources{.buckets = local},
                                                   http::Request{"GET", target, "", {}}));
  }
  sim->responses.emplace_back(
      "no role", handle_api_request(control, bridge, ApiSources{},
                                    http::Request{"GET", "/api/v1/local/buckets", "", {}}));
}

// Runs `body`, then stops every host whatever its outcome, so that none outlives the loop.
Task<void> then_stop_hosts(ApiSim* sim, Task<void> body) {
  co_await std::move(body);
  for (auto& host : sim->hosts) co_await host->stop(/*revoke_lease=*/true);
}

TEST(RestApiBuckets, EndpointsMergeEveryHostsReplicas) {
  ApiSim sim;
  // Host 2 (id 2) leads bucket 3 at term 5 with host 1 and itself as voters and 12 entries more.
  http::Server peer("127.0.0.1", 0, [](const http::Request& request) {
    if (!request.target.starts_with("/api/v1/local/buckets")) return http::Response{404, "{}", {}};
    json replicas = json::array();
    if (request.target == "/api/v1/local/buckets" ||
        request.target == "/api/v1/local/buckets?bucket=3") {
      Replica leader{.bucket = 3, .role = "leader", .term = 5, .last_index = 21};
      leader.voters = {1, 2};
      replicas.push_back(leader.to_json());
    }
    return http::Response{200, answer({replicas.begin(), replicas.end()}).dump(), {}};
  });
  ASSERT_TRUE(peer.start().ok());
  sim.peer_port = peer.port();
  run_simulated(sim.context, sim.clock, then_stop_hosts(&sim, serve_bucket_endpoints(&sim)));
  peer.stop();
  sim.hosts.clear();
  ASSERT_EQ(sim.responses.size(), 10u);
  std::map<std::string, http::Response> by_target(sim.responses.begin(), sim.responses.end());
  auto body = [&by_target](const std::string& target) {
    return json::parse(by_target[target].body, nullptr, false);
  };

  EXPECT_EQ(by_target["/api/v1/buckets"].status, 200);
  json all = body("/api/v1/buckets");
  ASSERT_EQ(all["buckets"].size(), 128u);
  EXPECT_EQ(all["buckets"][3]["leader"], 2);
  EXPECT_EQ(all["buckets"][0]["leader"], 0);

  EXPECT_EQ(by_target["/api/v1/buckets/3"].status, 200);
  json bucket = body("/api/v1/buckets/3");
  EXPECT_EQ(bucket, all["buckets"][3]);
  EXPECT_EQ(bucket["id"], 3);
  EXPECT_EQ(bucket["term"], 5);
  EXPECT_EQ(states(bucket), (std::vector<std::string>{"1:voter", "2:voter"}));
  EXPECT_EQ(replica_of(bucket, 1)["lag"], 12);
  EXPECT_EQ(bucket["quorum"], true);
  EXPECT_EQ(bucket["desired"].size(), 5u);

  EXPECT_EQ(by_target["/api/v1/buckets/128"].status, 404);
  EXPECT_EQ(by_target["/api/v1/buckets/x"].status, 400);
  EXPECT_EQ(by_target["/api/v1/buckets/99999999999"].status, 400);
  EXPECT_EQ(body("/api/v1/buckets/x")["error"]["code"], "invalid_argument");

  EXPECT_EQ(by_target["/api/v1/local/buckets?bucket=3"].status, 200);
  EXPECT_EQ(body("/api/v1/local/buckets?bucket=3")["replicas"].size(), 1u);
  EXPECT_EQ(body("/api/v1/local/buckets?bucket=4"), answer({}));
  EXPECT_EQ(by_target["/api/v1/local/buckets?bucket=-1"].status, 400);
  EXPECT_EQ(by_target["no role"].status, 404);

  json status = body("/api/v1/status");
  EXPECT_EQ(status["buckets"]["total"], 128);
  // Only bucket 3 has a majority of its voters up (hosts 1 and 2 of {1, 2}).
  EXPECT_EQ(status["buckets"]["without_quorum"], 127);
  EXPECT_EQ(status["buckets"]["under_replicated"], 128);
  EXPECT_EQ(status["buckets"]["leaders_max"], 1);
  EXPECT_DOUBLE_EQ(status["buckets"]["leaders_mean"].get<double>(), 0.5);  // 1 leader, 2 hosts up.
  EXPECT_EQ(status["health"], "error");
}

TEST(RestApi, AskEveryHostAsksEachPathOfEachPeer) {
  std::mutex mutex;
  std::vector<std::string> asked;
  http::Server peer("127.0.0.1", 0, [&](const http::Request& request) {
    std::lock_guard<std::mutex> lock(mutex);
    asked.push_back(request.target);
    if (request.target == "/b") return http::Response{200, "not json", {}};
    return http::Response{200, json{{"path", request.target}}.dump(), {}};
  });
  ASSERT_TRUE(peer.start().ok());
  ClusterView view;
  view.registrations.push_back(registration(1, "self", 1));
  view.registrations.push_back(registration(2, "peer", peer.port()));
  bool ran = false;
  std::vector<HostAnswers> answers =
      ask_every_host(view, 1, {"/a", "/b", "/c"}, std::chrono::seconds(5), [&ran] { ran = true; });
  EXPECT_TRUE(ran);
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0], (HostAnswers{{2, json{{"path", "/a"}}}}));
  EXPECT_TRUE(answers[1].empty());  // Not JSON.
  EXPECT_EQ(answers[2], (HostAnswers{{2, json{{"path", "/c"}}}}));
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<std::string>{"/a", "/b", "/c"}));
  peer.stop();
}

}  // namespace
}  // namespace tessera::api
