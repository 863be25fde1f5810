#include "cluster/rest_api.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace tessera {
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

}  // namespace
}  // namespace tessera
