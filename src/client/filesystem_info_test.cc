// A filesystem read from the REST API, and its statfs figures
// (docs/design/2026-12-06-filesystem-usage.md 3).
#include "client/filesystem_info.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <functional>

#include "http/api_error.h"
#include "http/http.h"
#include "testing/testing.h"

namespace tessera::client {
namespace {

using namespace std::chrono_literals;

constexpr const char* kAlpha = R"({"id": 3, "name": "alpha", "capacity_bytes": 1048576000,
  "used_bytes": 4096000, "files": 12, "created_unix_ms": 1, "state": "active",
  "deleting_since_unix_ms": null})";

TEST(FilesystemInfo, ParsesTheApisAnswer) {
  auto info = parse_filesystem_info(kAlpha);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->id, FilesystemId(3));
  EXPECT_EQ(info->name, "alpha");
  EXPECT_EQ(info->capacity_bytes, 1048576000u);
  EXPECT_EQ(info->used_bytes, 4096000u);
  EXPECT_EQ(info->files, 12u);
  EXPECT_FALSE(info->deleting);

  auto unknown = parse_filesystem_info(
      R"({"id": 3, "name": "a", "capacity_bytes": 1, "used_bytes": null, "files": null,
          "state": "deleting"})");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_FALSE(unknown->used_bytes.has_value());
  EXPECT_FALSE(unknown->files.has_value());
  EXPECT_TRUE(unknown->deleting);
}

TEST(FilesystemInfo, RefusesMalformedAnswersWithAClearError) {
  struct Case {
    const char* body;
    const char* says;
  };
  for (const Case& bad : std::vector<Case>{
           {"", "is not JSON"},
           {"[]", "is not a JSON object"},
           {R"({"name": "a", "capacity_bytes": 1, "used_bytes": 0, "files": 0, "state": "active"})",
            "has no \"id\""},
           {R"({"id": 0, "name": "a", "capacity_bytes": 1, "used_bytes": 0, "files": 0,
                "state": "active"})",
            "id 0"},
           {R"({"id": 1, "name": 5, "capacity_bytes": 1, "used_bytes": 0, "files": 0,
                "state": "active"})",
            "no string \"name\""},
           {R"({"id": 1, "name": "a", "capacity_bytes": -1, "used_bytes": 0, "files": 0,
                "state": "active"})",
            "\"capacity_bytes\" is not an integer"},
           {R"({"id": 1, "name": "a", "capacity_bytes": 1, "files": 0, "state": "active"})",
            "has no \"used_bytes\""},
           {R"({"id": 1, "name": "a", "capacity_bytes": 1, "used_bytes": 0, "files": 0,
                "state": "gone"})",
            "state is \"gone\""},
       }) {
    auto parsed = parse_filesystem_info(bad.body);
    ASSERT_FALSE(parsed.ok()) << bad.body;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(bad.says), std::string::npos)
        << parsed.status() << " for " << bad.body;
  }
}

TEST(Statfs, BlocksOfTheCapacityAndWhatUseLeaves) {
  FilesystemInfo info;
  info.id = FilesystemId(3);
  info.name = "alpha";
  info.capacity_bytes = 1000 * 4096 + 100;  // A partial block is not counted.
  info.used_bytes = 250 * 4096 + 1;
  info.files = 12;
  auto figures = statfs_of(info);
  ASSERT_TRUE(figures.ok()) << figures.status();
  EXPECT_EQ(figures->block_size, 4096u);
  EXPECT_EQ(figures->fragment_size, 4096u);
  EXPECT_EQ(figures->blocks, 1000u);
  EXPECT_EQ(figures->free_blocks, 750u);  // (capacity - used) / 4096, rounded down.
  EXPECT_EQ(figures->available_blocks, 750u);
  EXPECT_EQ(figures->free_files, 750u);
  EXPECT_EQ(figures->files, 762u);
  EXPECT_EQ(figures->fsid, 3u);
  EXPECT_EQ(figures->name_max, 255u);

  // Used at or over capacity (a sparse file counts its apparent size): nothing free, no wrap.
  info.used_bytes = 2000 * 4096;
  figures = statfs_of(info);
  ASSERT_TRUE(figures.ok());
  EXPECT_EQ(figures->free_blocks, 0u);
  EXPECT_EQ(figures->files, 12u);

  // Unknown usage is an error, not an empty filesystem.
  info.used_bytes.reset();
  EXPECT_EQ(statfs_of(info).status().code(), StatusCode::kUnavailable);
}

uint16_t closed_port() {
  boost::asio::io_context context;
  boost::asio::ip::tcp::acceptor acceptor(
      context, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

http::Response fake_api(const http::Request& request) {
  if (request.target == "/api/v1/filesystems/alpha") return {200, kAlpha, {}};
  return {404,
          fmt::format(R"({{"error": {{"code": "{}", "message": "no filesystem named 'beta'"}}}})",
                      http::api_code_name(StatusCode::kNotFound)),
          {}};
}

TEST(FilesystemInfo, FetchedFromTheFirstAddressThatAnswers) {
  http::Server server("127.0.0.1", 0, fake_api);
  ASSERT_TRUE(server.start().ok());
  std::vector<std::string> api{"no-port-here", fmt::format("127.0.0.1:{}", closed_port()),
                               fmt::format("127.0.0.1:{}", server.port())};
  auto deadline = Deadline::after(10s, RealClock::instance());
  auto alpha = fetch_filesystem_info(api, "alpha", 2s, deadline);
  ASSERT_TRUE(alpha.ok()) << alpha.status();
  EXPECT_EQ(alpha->files, 12u);

  // The cluster's answer is final: no other address would say otherwise.
  auto beta = fetch_filesystem_info(api, "beta", 2s, deadline);
  EXPECT_EQ(beta.status().code(), StatusCode::kNotFound) << beta.status();
  EXPECT_NE(beta.status().message().find("no filesystem named 'beta'"), std::string::npos);
  server.stop();

  // Nobody answers: each address's reason.
  auto none = fetch_filesystem_info({api[0], api[1]}, "alpha", 2s, deadline);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable) << none.status();
  EXPECT_NE(none.status().message().find("no-port-here: "), std::string::npos) << none.status();
  EXPECT_NE(none.status().message().find(api[1] + ": "), std::string::npos) << none.status();
  EXPECT_EQ(fetch_filesystem_info({}, "alpha", 2s, deadline).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::client
