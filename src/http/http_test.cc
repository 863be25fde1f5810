#include "http/http.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <future>
#include <vector>

namespace tessera::http {
namespace {

using tcp = boost::asio::ip::tcp;
using std::chrono::milliseconds;

// Well under the server's read timeout: an answer within it cannot have waited for an idle
// connection to time out.
constexpr milliseconds kPromptly{3000};

Response echo_path(const Request& request) { return Response{200, request.target, {}}; }

// TCP connections that send nothing, as a stalled or idle client would.
std::vector<tcp::socket> open_idle(boost::asio::io_context& context, uint16_t port, int count) {
  std::vector<tcp::socket> sockets;
  for (int i = 0; i < count; ++i) {
    tcp::socket socket(context);
    socket.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    sockets.push_back(std::move(socket));
  }
  return sockets;
}

Result<Response> get(uint16_t port, const std::string& target, milliseconds timeout = kPromptly) {
  return call("127.0.0.1", port, Request{"GET", target, "", {}}, timeout);
}

TEST(HttpAddressList, TrimsAndDropsEmptyItems) {
  EXPECT_EQ(split_address_list(" a:1, b:2,,c:3 ,"),
            (std::vector<std::string>{"a:1", "b:2", "c:3"}));
  EXPECT_TRUE(split_address_list("").empty());
  EXPECT_TRUE(split_address_list(" , ").empty());
  EXPECT_EQ(split_address_list("x"), (std::vector<std::string>{"x"}));
}

TEST(HttpServer, IdleConnectionsDoNotStallOtherClients) {
  Server server("127.0.0.1", 0, echo_path);
  ASSERT_TRUE(server.start().ok());
  boost::asio::io_context context;
  std::vector<tcp::socket> idle = open_idle(context, server.port(), 8);
  for (int i = 0; i < 3; ++i) {
    auto reply = get(server.port(), "/ok");
    ASSERT_TRUE(reply.ok()) << reply.status().message();
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "/ok");
  }
  server.stop();
}

TEST(HttpServer, ABlockedHandlerDoesNotBlockOtherRequests) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Server server("127.0.0.1", 0, [&entered, released](const Request& request) {
    if (request.target == "/block") {
      entered.set_value();
      released.wait_for(std::chrono::seconds(20));
    }
    return echo_path(request);
  });
  ASSERT_TRUE(server.start().ok());
  auto blocked = std::async(std::launch::async, [&server] {
    return get(server.port(), "/block", std::chrono::seconds(30));
  });
  entered.get_future().wait();
  auto reply = get(server.port(), "/fast");
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->body, "/fast");
  release.set_value();
  auto unblocked = blocked.get();
  ASSERT_TRUE(unblocked.ok()) << unblocked.status().message();
  EXPECT_EQ(unblocked->body, "/block");
  server.stop();
}

TEST(HttpServer, BeyondTheConnectionBoundAnswers503AtOnce) {
  Server server("127.0.0.1", 0, echo_path, ServerOptions{.max_connections = 2});
  ASSERT_TRUE(server.start().ok());
  boost::asio::io_context context;
  std::vector<tcp::socket> idle = open_idle(context, server.port(), 2);
  auto reply = get(server.port(), "/over");
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->status, 503);
  EXPECT_NE(reply->body.find("\"busy\""), std::string::npos) << reply->body;
  EXPECT_EQ(reply->headers["retry-after"], "1");
  // A slot frees when an idle client goes: served again.
  idle.clear();
  Result<Response> again = error(StatusCode::kInternal, "not tried");
  for (int attempt = 0; attempt < 100; ++attempt) {
    again = get(server.port(), "/again");
    if (again.ok() && again->status == 200) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->status, 200);
  server.stop();
}

TEST(HttpServer, BeyondTheWorkersAndQueueAnswers503) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Server server(
      "127.0.0.1", 0,
      [&entered, released](const Request& request) {
        if (request.target == "/block") {
          entered.set_value();
          released.wait_for(std::chrono::seconds(20));
        }
        return echo_path(request);
      },
      ServerOptions{.worker_threads = 1, .max_queued_requests = 0});
  ASSERT_TRUE(server.start().ok());
  auto blocked = std::async(std::launch::async, [&server] {
    return get(server.port(), "/block", std::chrono::seconds(30));
  });
  entered.get_future().wait();
  auto reply = get(server.port(), "/shed");
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->status, 503);
  release.set_value();
  EXPECT_TRUE(blocked.get().ok());
  server.stop();
}

TEST(HttpServer, RequestsAbove1MiBAre413) {
  Server server("127.0.0.1", 0, echo_path);
  ASSERT_TRUE(server.start().ok());
  auto reply = call("127.0.0.1", server.port(),
                    Request{"POST", "/big", std::string((1 << 20) + 1, 'x'), {}}, kPromptly);
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->status, 413);
  reply = call("127.0.0.1", server.port(), Request{"POST", "/fits", std::string(1 << 20, 'x'), {}},
               kPromptly);
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->status, 200);
  server.stop();
}

TEST(HttpServer, StopClosesIdleConnectionsAndAnswersRunningRequests) {
  std::promise<void> entered;
  Server server(
      "127.0.0.1", 0,
      [&entered](const Request& request) {
        if (request.target == "/slow") {
          entered.set_value();
          std::this_thread::sleep_for(milliseconds(300));
        }
        return echo_path(request);
      },
      ServerOptions{.read_timeout_ms = 60'000});
  ASSERT_TRUE(server.start().ok());
  boost::asio::io_context context;
  std::vector<tcp::socket> idle = open_idle(context, server.port(), 4);
  auto slow = std::async(std::launch::async, [&server] {
    return get(server.port(), "/slow", std::chrono::seconds(30));
  });
  entered.get_future().wait();
  auto started = std::chrono::steady_clock::now();
  server.stop();
  // Not the idle connections' 60 s read timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  auto answered = slow.get();
  ASSERT_TRUE(answered.ok()) << answered.status().message();
  EXPECT_EQ(answered->body, "/slow");
  EXPECT_FALSE(get(server.port(), "/after", milliseconds(500)).ok());
}

}  // namespace
}  // namespace tessera::http
