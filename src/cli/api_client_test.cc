#include "cli/api_client.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "http/http.h"
#include "testing/testing.h"

namespace tessera::cli {
namespace {

using nlohmann::json;

// A REST API stand-in that answers every request with `status` and `body`.
std::unique_ptr<http::Server> serve(int status, const json& body) {
  auto server =
      std::make_unique<http::Server>("127.0.0.1", 0, [status, body](const http::Request&) {
        return http::Response{status, body.dump(), {}};
      });
  EXPECT_TRUE(server->start().ok());
  return server;
}

std::string address_of(const http::Server& server) {
  return fmt::format("127.0.0.1:{}", server.port());
}

// An address nobody listens on: a server's port, once that server has stopped.
std::string dead_address() {
  auto server = serve(200, json::object());
  std::string address = address_of(*server);
  server->stop();
  return address;
}

TEST(ApiClient, TriesTheNextEndpointWhenOneIsDownOrBusy) {
  auto busy = serve(503, json{{"error", {{"code", "busy"}, {"message", "too many"}}}});
  auto live = serve(200, json{{"from", "live"}});
  ApiClient client({dead_address(), address_of(*busy), address_of(*live)});
  auto answer = client.call("GET", "/api/v1/status");
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ((*answer)["from"], "live");
}

TEST(ApiClient, AnAnswerOtherThanBusyIsFinal) {
  auto refusing = serve(409, json{{"error", {{"code", "failed_precondition"}, {"message", "no"}}}});
  auto no_quorum = serve(503, json{{"error", {{"code", "unavailable"}, {"message", "no quorum"}}}});
  auto live = serve(200, json{{"from", "live"}});
  auto answer = ApiClient({address_of(*refusing), address_of(*live)})
                    .call("POST", "/api/v1/cluster", json::object());
  EXPECT_EQ(answer.status().code(), StatusCode::kFailedPrecondition);
  answer = ApiClient({address_of(*no_quorum), address_of(*live)}).call("GET", "/api/v1/status");
  EXPECT_EQ(answer.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(answer.status().message(), "no quorum");
}

TEST(ApiClient, TheErrorSaysHowManyEndpointsWereTried) {
  ApiClient client({dead_address(), dead_address(), dead_address()});
  auto answer = client.call("GET", "/api/v1/status");
  EXPECT_EQ(answer.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(answer.status().message().find("tried 3 endpoints"), std::string_view::npos)
      << answer.status().message();
}

TEST(ApiClient, ApiFlagAndEnvironmentTakeCommaSeparatedLists) {
  auto live = serve(200, json{{"from", "live"}});
  std::string list = dead_address() + "," + address_of(*live);
  auto answer = ApiClient::resolve(list).call("GET", "/api/v1/hosts");
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ((*answer)["from"], "live");
  ASSERT_EQ(setenv("TESS_API", list.c_str(), 1), 0);
  answer = ApiClient::resolve("").call("GET", "/api/v1/hosts");
  unsetenv("TESS_API");
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ((*answer)["from"], "live");
}

TEST(ApiClient, EndpointsLearntFromTheMapAreTriedWhenTheConfiguredOnesAreDown) {
  tessera::testing::TempDir dir;
  std::string cache = (dir.path() / "cache" / "api.json").string();
  auto other = serve(200, json{{"from", "other"}});
  // The configured host's status names itself and another host (RPC address, HTTP port).
  auto configured = serve(
      200, json{{"hosts",
                 json::array({{{"address", "127.0.0.1:7400"}, {"http_port", 1}},
                              {{"address", "127.0.0.1:7401"}, {"http_port", other->port()}}})}});
  std::string configured_address = address_of(*configured);
  ASSERT_TRUE(ApiClient({configured_address}, cache).call("GET", "/api/v1/status").ok());
  configured->stop();

  ApiClient later({configured_address}, cache);  // A later invocation, same --api.
  EXPECT_EQ(later.endpoints(),
            (std::vector<std::string>{configured_address, "127.0.0.1:1", address_of(*other)}));
  auto answer = later.call("GET", "/api/v1/drives");
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ((*answer)["from"], "other");
  // Another configured list learns nothing from this one.
  EXPECT_EQ(ApiClient({"127.0.0.1:2"}, cache).endpoints(), std::vector<std::string>{"127.0.0.1:2"});
}

}  // namespace
}  // namespace tessera::cli
