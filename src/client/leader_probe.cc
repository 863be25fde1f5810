#include "client/leader_probe.h"

#include <algorithm>
#include <map>
#include <memory>

#include "proto/bucket.pb.h"
#include "rpc/client.h"
#include "rpc/message_type.h"

namespace tessera::client {
namespace {

// A replica that cannot answer costs at most this per attempt.
constexpr std::chrono::milliseconds kAttemptTimeout{1000};
// Between rounds over every replica (an election takes a moment).
constexpr std::chrono::milliseconds kRoundPause{100};

}  // namespace

Task<Result<HostId>> probe_leader(const bucket::BucketDirectory& directory, BucketId bucket,
                                  Deadline deadline) {
  Executor executor = co_await boost::asio::this_coro::executor;
  std::vector<HostId> replicas = directory.replicas(bucket);
  if (replicas.empty())
    co_return error(StatusCode::kNotFound, "bucket {} has no replicas in the map", bucket);
  proto::BucketCallRequest request;
  request.set_bucket(bucket.value());
  request.mutable_get()->set_key(kLeaderProbeKey);
  std::string encoded = request.SerializeAsString();
  std::map<HostId, std::unique_ptr<rpc::RpcClient>> clients;
  std::string last = "no attempt made";
  HostId leader;
  bool found = false;
  while (!found && !deadline.expired()) {
    std::vector<HostId> queue = replicas;
    for (size_t i = 0; i < queue.size() && !found && !deadline.expired(); ++i) {
      HostId host = queue[i];
      auto address = directory.address(host);
      if (!address) {
        last = fmt::format("host {} has no address", host);
        continue;
      }
      auto& client = clients[host];
      if (!client)
        client = std::make_unique<rpc::RpcClient>(executor, address->host, address->port);
      rpc::CallOptions call;
      call.timeout = kAttemptTimeout;
      call.deadline = deadline;
      auto reply = co_await client->call(static_cast<uint32_t>(rpc::MessageType::kBucketCall),
                                         encoded, Buffer(), call);
      if (!reply.ok()) {
        last = fmt::format("host {}: {}", host, reply.status().to_string());
        continue;
      }
      auto response = reply->parse<proto::BucketCallResponse>();
      if (!response.ok()) {
        last = fmt::format("host {}: {}", host, response.status().to_string());
        continue;
      }
      if (!response->not_leader()) {
        leader = host;
        found = true;
        break;
      }
      HostId hint(response->leader_host());
      last = fmt::format("host {}: not the leader (it names host {})", host, hint);
      // Ask the named leader next.
      if (hint.value() != 0 && (i + 1 == queue.size() || queue[i + 1] != hint)) {
        queue.insert(queue.begin() + static_cast<ptrdiff_t>(i) + 1, hint);
      }
      if (queue.size() > 4 * replicas.size()) break;  // Hints going round in circles.
    }
    if (!found) {
      const Clock& clock = deadline.is_never() ? RealClock::instance() : deadline.clock();
      (void)co_await clock.sleep_until(
          std::min(clock.now() + kRoundPause,
                   deadline.is_never() ? Clock::TimePoint::max() : deadline.at()));
    }
  }
  for (auto& [host, client] : clients) client->close();
  if (found) co_return leader;
  co_return error(StatusCode::kDeadlineExceeded, "no replica of bucket {} answered as leader ({})",
                  bucket, last);
}

}  // namespace tessera::client
