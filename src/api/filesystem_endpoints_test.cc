// The filesystem endpoints through handle_api_request, on five control planes that run on a loop
// thread of their own over one FakeConfigStore (real time: their rounds run as in tessd), reached
// from the test thread through a BlockingBridge as the API's workers reach them.
#include <gtest/gtest.h>

#include <thread>

#include "api/rest_api.h"
#include "base/units.h"
#include "cluster/fake_config_store.h"
#include "runtime/event_loop.h"
#include "testing/testing.h"

namespace tessera::api {
namespace {

using nlohmann::json;

constexpr uint16_t kFirstHttpPort = 9101;  // Never listened on: only named in redirects.

Task<void> destroy(std::unique_ptr<ControlPlane> control) {
  control.reset();
  co_return;
}

class LiveHosts {
 public:
  explicit LiveHosts(uint32_t count) {
    for (uint32_t i = 1; i <= count; ++i) {
      std::string name = fmt::format("h{}", i);
      ControlPlaneEnv env{.executor = loop_.executor(0),
                          .clock = &RealClock::instance(),
                          .store = &store_.client(name),
                          .seed = i,
                          .unix_ms = [] { return uint64_t{1'800'000'000'000}; }};
      ControlPlaneOptions options;
      options.host_name = name;
      options.address = "127.0.0.1";
      options.http_port = static_cast<uint16_t>(kFirstHttpPort + i - 1);
      options.failure_domain = name;
      auto joined = bridge.run(ControlPlane::join(env, options));
      EXPECT_TRUE(joined.ok()) << joined.status();
      if (!joined.ok()) return;
      proto::DriveInfo drive;
      drive.set_drive_id(i);
      drive.set_path(fmt::format("/drives/{}", i));
      drive.set_capacity_bytes(kGiB);
      std::vector<proto::DriveInfo> drives{drive};
      bridge.run((*joined)->set_drives(std::move(drives)));
      Status started = bridge.run((*joined)->start());
      EXPECT_TRUE(started.ok()) << started;
      if (!started.ok()) {
        bridge.run(destroy(std::move(*joined)));
        return;
      }
      hosts.push_back(std::move(*joined));
    }
  }

  ~LiveHosts() {
    for (auto& host : hosts) {
      bridge.run(host->stop(/*revoke_lease=*/true));
      bridge.run(destroy(std::move(host)));
    }
    loop_.stop();
  }

  ControlPlane* leader() const {
    for (const auto& host : hosts) {
      if (host->is_leader()) return host.get();
    }
    return nullptr;
  }

  ControlPlane* follower() const {
    for (const auto& host : hosts) {
      if (!host->is_leader()) return host.get();
    }
    return nullptr;
  }

  http::Response call(ControlPlane& host, const std::string& method, const std::string& target,
                      const std::string& body = "") {
    return handle_api_request(host, bridge, sources, http::Request{method, target, body, {}});
  }

 private:
  EventLoopGroup loop_{1};  // First built, last gone: the store and the hosts live on it.
  FakeConfigStore store_{RealClock::instance()};

 public:
  BlockingBridge bridge{loop_.loop(0), 4};
  std::vector<std::unique_ptr<ControlPlane>> hosts;
  ApiSources sources;
};

json body_of(const http::Response& response) {
  json body = json::parse(response.body, nullptr, false);
  EXPECT_FALSE(body.is_discarded()) << response.body;
  return body;
}

std::string error_code(const http::Response& response) {
  json body = body_of(response);
  return body.contains("error") ? body["error"].value("code", "") : "";
}

std::string error_message(const http::Response& response) {
  json body = body_of(response);
  return body.contains("error") ? body["error"].value("message", "") : "";
}

// Waits (real time) until every host's view holds the map.
bool every_view_has_the_map(const LiveHosts& live) {
  for (int i = 0; i < 1000; ++i) {
    bool all = true;
    for (const auto& host : live.hosts) all = all && host->view()->map.has_value();
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(RestApiFilesystems, CreateListUpdateDelete) {
  LiveHosts live(5);
  ASSERT_EQ(live.hosts.size(), 5u);
  ControlPlane* leader = live.leader();
  ControlPlane* follower = live.follower();
  ASSERT_TRUE(leader != nullptr && follower != nullptr);

  // Before the cluster exists.
  http::Response early = live.call(*leader, "POST", "/api/v1/filesystems", R"({"name": "alpha"})");
  EXPECT_EQ(early.status, 409) << early.body;
  EXPECT_NE(error_message(early).find("the cluster has not been created"), std::string::npos);

  http::Response created =
      live.call(*leader, "POST", "/api/v1/cluster", R"({"data": 3, "parity": 2, "buckets": 128})");
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_TRUE(every_view_has_the_map(live));
  const uint64_t usable = capacity_of(leader->view()->map->header).usable_bytes;
  ASSERT_GT(usable, 200 * kMiB);

  // A change sent to another host is redirected to the leader, body and all.
  http::Response redirected =
      live.call(*follower, "POST", "/api/v1/filesystems", R"({"name": "alpha"})");
  EXPECT_EQ(redirected.status, 307) << redirected.body;
  EXPECT_EQ(redirected.headers["Location"], fmt::format("http://127.0.0.1:{}/api/v1/filesystems",
                                                        kFirstHttpPort + leader->host_id() - 1));

  std::vector<FilesystemId> roots_made;
  live.sources.filesystems.make_root = [&roots_made](FilesystemId fs) {
    roots_made.push_back(fs);
    return Status();
  };
  http::Response alpha =
      live.call(*leader, "POST", "/api/v1/filesystems",
                fmt::format(R"({{"name": "alpha", "capacity_bytes": {}}})", 100 * kMiB));
  ASSERT_EQ(alpha.status, 201) << alpha.body;
  EXPECT_EQ(body_of(alpha)["id"], 1);
  EXPECT_EQ(body_of(alpha)["capacity_bytes"], 100 * kMiB);
  EXPECT_EQ(body_of(alpha)["state"], "active");
  // A new filesystem holds nothing (ids are never reused), whatever the usage source says.
  EXPECT_EQ(body_of(alpha)["used_bytes"], 0);
  EXPECT_EQ(body_of(alpha)["files"], 0);
  EXPECT_EQ(body_of(alpha)["created_unix_ms"], 1'800'000'000'000);
  EXPECT_EQ(body_of(alpha)["root"], "made");
  EXPECT_EQ(roots_made, std::vector<FilesystemId>{FilesystemId(1)});

  // A root the buckets cannot make now is made by the first client: the create stands.
  live.sources.filesystems.make_root = [](FilesystemId) {
    return error(StatusCode::kUnavailable, "bucket 3 has no leader");
  };
  http::Response beta = live.call(*leader, "POST", "/api/v1/filesystems", R"({"name": "beta"})");
  ASSERT_EQ(beta.status, 201) << beta.body;
  EXPECT_EQ(body_of(beta)["id"], 2);
  EXPECT_EQ(body_of(beta)["capacity_bytes"], usable - 100 * kMiB) << "what was left";
  EXPECT_EQ(body_of(beta)["root"], "on first use");
  EXPECT_NE(body_of(beta)["root_error"].get<std::string>().find("bucket 3 has no leader"),
            std::string::npos);

  struct Refusal {
    std::string method;
    std::string target;
    std::string body;
    int status;
    std::string code;
    std::string says;
  };
  for (const Refusal& refusal : std::vector<Refusal>{
           {"POST", "/api/v1/filesystems", R"({"name": "gamma", "capacity_bytes": 1048576})", 507,
            "no_space", "exceeds the 0 bytes left unprovisioned"},
           {"POST", "/api/v1/filesystems", R"({"name": "gamma"})", 507, "no_space",
            "nothing is left to provision"},
           {"POST", "/api/v1/filesystems", R"({"name": "alpha", "capacity_bytes": 1048576})", 409,
            "already_exists", "a filesystem named 'alpha' exists already (id 1)"},
           {"POST", "/api/v1/filesystems", R"({"name": "a b"})", 400, "invalid_argument",
            "has ' ' at position 2"},
           {"POST", "/api/v1/filesystems", R"({"name": 5})", 400, "invalid_argument",
            "\"name\" must be a string"},
           {"POST", "/api/v1/filesystems", R"({"name": "g", "capacity": 5})", 400,
            "invalid_argument", "unknown field \"capacity\""},
           {"POST", "/api/v1/filesystems", R"({"name": "g", "capacity_bytes": -1})", 400,
            "invalid_argument", "must be a whole number of bytes, not -1"},
           {"POST", "/api/v1/filesystems", R"({"name": "g", "capacity_bytes": 1.5})", 400,
            "invalid_argument", "must be a whole number of bytes"},
           {"POST", "/api/v1/filesystems", "not json", 400, "invalid_argument",
            "not a JSON object"},
           {"PATCH", "/api/v1/filesystems/alpha", R"({"capacity_bytes": 1})", 400,
            "invalid_argument", "at least 1048576 bytes (1.0 MiB)"},
           {"PATCH", "/api/v1/filesystems/alpha", "{}", 400, "invalid_argument",
            "\"capacity_bytes\" is required"},
           {"PATCH", "/api/v1/filesystems/alpha", R"({"capacity_bytes": 209715200})", 507,
            "no_space", "exceeds the 104857600 bytes (100.0 MiB) it may have"},
           {"PATCH", "/api/v1/filesystems/nope", R"({"capacity_bytes": 1048576})", 404, "not_found",
            "no filesystem named 'nope'"},
           {"DELETE", "/api/v1/filesystems/alpha", "", 409, "failed_precondition",
            "its usage is not known now"},
           {"DELETE", "/api/v1/filesystems/alpha?force=yes", "", 400, "invalid_argument",
            "force must be true or false"},
           {"GET", "/api/v1/filesystems/nope", "", 404, "not_found", "no filesystem named 'nope'"},
           {"GET", "/api/v1/filesystems/a%20b", "", 400, "invalid_argument", "has '%'"},
           {"GET", "/api/v1/filesystems/a/b", "", 400, "invalid_argument", "has '/'"},
           {"PUT", "/api/v1/filesystems", "{}", 404, "not_found", "no API endpoint PUT"}}) {
    http::Response answer = live.call(*leader, refusal.method, refusal.target, refusal.body);
    EXPECT_EQ(answer.status, refusal.status) << refusal.target << " " << answer.body;
    EXPECT_EQ(error_code(answer), refusal.code) << refusal.target << " " << answer.body;
    EXPECT_NE(error_message(answer).find(refusal.says), std::string::npos)
        << refusal.target << " " << answer.body;
  }

  // Reads are served by any host.
  http::Response listed = live.call(*follower, "GET", "/api/v1/filesystems");
  ASSERT_EQ(listed.status, 200) << listed.body;
  json list = body_of(listed);
  ASSERT_EQ(list["filesystems"].size(), 2u);
  EXPECT_EQ(list["filesystems"][0]["name"], "alpha");
  EXPECT_EQ(list["filesystems"][1]["name"], "beta");
  EXPECT_EQ(list["capacity"]["usable_bytes"], usable);
  EXPECT_EQ(list["capacity"]["provisioned_bytes"], usable);
  EXPECT_EQ(list["capacity"]["unprovisioned_bytes"], 0);
  http::Response one = live.call(*follower, "GET", "/api/v1/filesystems/beta");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(body_of(one), list["filesystems"][1]);

  // Shrink beta, grow alpha into what that freed.
  http::Response shrunk = live.call(*leader, "PATCH", "/api/v1/filesystems/beta",
                                    fmt::format(R"({{"capacity_bytes": {}}})", 100 * kMiB));
  ASSERT_EQ(shrunk.status, 200) << shrunk.body;
  EXPECT_EQ(body_of(shrunk)["capacity_bytes"], 100 * kMiB);
  http::Response grown = live.call(*leader, "PATCH", "/api/v1/filesystems/alpha",
                                   fmt::format(R"({{"capacity_bytes": {}}})", 300 * kMiB));
  ASSERT_EQ(grown.status, 200) << grown.body;

  // What the usage source reports counts: never below used; deleted without force when empty.
  live.sources.filesystems.report = [](const std::vector<FilesystemId>&) {
    return FilesystemUsageTable{{FilesystemId(1), FilesystemUsage{250 * kMiB, 40}},
                                {FilesystemId(2), FilesystemUsage{0, 0}}};
  };
  http::Response below = live.call(*leader, "PATCH", "/api/v1/filesystems/alpha",
                                   fmt::format(R"({{"capacity_bytes": {}}})", 200 * kMiB));
  EXPECT_EQ(below.status, 409) << below.body;
  EXPECT_NE(error_message(below).find("uses 262144000 bytes (250.0 MiB)"), std::string::npos)
      << below.body;
  http::Response holding = live.call(*leader, "DELETE", "/api/v1/filesystems/alpha");
  EXPECT_EQ(holding.status, 409) << holding.body;
  EXPECT_NE(error_message(holding).find("holds 40 files"), std::string::npos) << holding.body;
  http::Response empty = live.call(*leader, "DELETE", "/api/v1/filesystems/beta");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(body_of(empty)["state"], "deleting");
  http::Response forced = live.call(*leader, "DELETE", "/api/v1/filesystems/alpha?force=true");
  ASSERT_EQ(forced.status, 200) << forced.body;
  EXPECT_EQ(body_of(forced)["state"], "deleting");
  EXPECT_EQ(body_of(forced)["used_bytes"], 250 * kMiB);
  EXPECT_EQ(body_of(forced)["deleting_since_unix_ms"], 1'800'000'000'000);

  // The name is free again; the new filesystem takes a new id. The deleting alpha still holds its
  // 250 MiB until purged.
  http::Response again = live.call(*leader, "POST", "/api/v1/filesystems", R"({"name": "alpha"})");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(body_of(again)["id"], 3);
  EXPECT_EQ(body_of(again)["capacity_bytes"], usable - 250 * kMiB);
  list = body_of(live.call(*follower, "GET", "/api/v1/filesystems"));
  ASSERT_EQ(list["filesystems"].size(), 3u);
  EXPECT_EQ(list["filesystems"][0]["id"], 3) << "active first";
  EXPECT_EQ(list["filesystems"][1]["id"], 1);
  EXPECT_EQ(list["filesystems"][1]["state"], "deleting");
  EXPECT_EQ(list["filesystems"][2]["id"], 2);
  EXPECT_EQ(list["filesystems"][0]["used_bytes"], nullptr) << "id 3 is not in the report";
  EXPECT_EQ(
      live.call(*leader, "PATCH", "/api/v1/filesystems/beta", R"({"capacity_bytes": 1048576})")
          .status,
      404);
}

}  // namespace
}  // namespace tessera::api
