#include "bucket/bucket_client.h"

#include <algorithm>

#include "base/assert.h"
#include "base/fault_points.h"
#include "rpc/message_type.h"

namespace tessera::bucket {
namespace {

// Errors after which another replica (or the same one, later) may answer.
bool retryable(StatusCode code) {
  switch (code) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kBusy:
    case StatusCode::kAborted:
    case StatusCode::kNotFound:
    case StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

struct NotLeader {
  bool not_leader = false;
  uint32_t leader_host = 0;
};

NotLeader not_leader_of(uint32_t message_type, const rpc::Reply& reply) {
  if (message_type == static_cast<uint32_t>(rpc::MessageType::kBucketSync)) {
    auto r = reply.parse<proto::BucketSyncResponse>();
    if (!r.ok()) return {};
    return {r->not_leader(), r->leader_host()};
  }
  auto r = reply.parse<proto::BucketCallResponse>();
  if (!r.ok()) return {};
  return {r->not_leader(), r->leader_host()};
}

}  // namespace

BucketClient::BucketClient(Executor executor, BucketDirectory& directory,
                           BucketClientOptions options)
    : executor_(std::move(executor)), directory_(directory), options_(std::move(options)) {
  TESS_ASSERT(options_.session != 0, "a bucket client needs a non-zero session");
}

BucketClient::~BucketClient() = default;

void BucketClient::close() {
  for (auto& [host, client] : clients_) client->close();
}

rpc::RpcClient* BucketClient::client_of(HostId host) {
  auto it = clients_.find(host);
  if (it != clients_.end()) return it->second.get();
  auto address = directory_.address(host);
  if (!address) return nullptr;
  rpc::ClientOptions o;
  o.clock = options_.clock;
  o.network = options_.network;
  auto client = std::make_unique<rpc::RpcClient>(executor_, address->host, address->port, o);
  return clients_.emplace(host, std::move(client)).first->second.get();
}

Task<Result<rpc::Reply>> BucketClient::call_leader(BucketId bucket, uint32_t message_type,
                                                   std::string request, Deadline deadline) {
  Clock::Duration backoff = options_.min_backoff;
  size_t rotation = 0;
  Status last = error(StatusCode::kDeadlineExceeded, "bucket {}: no attempt made", bucket);
  while (!deadline.expired()) {
    std::vector<HostId> replicas = directory_.replicas(bucket);
    if (replicas.empty()) {
      co_return error(StatusCode::kNotFound, "bucket {} has no replicas in the map", bucket);
    }
    HostId target = replicas[rotation % replicas.size()];
    if (auto cached = leaders_.find(bucket); cached != leaders_.end()) target = cached->second;
    rpc::RpcClient* client = client_of(target);
    ++stats_.attempts;
    Result<rpc::Reply> reply = error(StatusCode::kUnavailable, "host {} has no address", target);
    if (client != nullptr) {
      rpc::CallOptions call;
      call.timeout = options_.attempt_timeout;
      call.deadline = deadline;
      reply = co_await client->call(message_type, request, Buffer(), call);
    }
    if (reply.ok()) {
      NotLeader redirect = not_leader_of(message_type, *reply);
      if (!redirect.not_leader) {
        leaders_[bucket] = target;
        co_return reply;
      }
      last = error(StatusCode::kUnavailable, "host {} does not lead bucket {}", target, bucket);
      if (redirect.leader_host != 0 && HostId(redirect.leader_host) != target) {
        // Go where the replica says, at once.
        TESS_COVER("bucket.client_redirected");
        ++stats_.redirects;
        leaders_[bucket] = HostId(redirect.leader_host);
        continue;
      }
    } else {
      last = reply.status();
      if (!retryable(last.code())) co_return last;
      if (last.code() == StatusCode::kNotFound) (void)co_await directory_.refresh(deadline);
    }
    // No leader known there: try the next replica after a pause (an election takes a moment).
    leaders_.erase(bucket);
    ++rotation;
    ++stats_.retries;
    Clock::TimePoint wake = std::min(options_.clock->now() + backoff,
                                     deadline.is_never() ? Clock::TimePoint::max() : deadline.at());
    (void)co_await options_.clock->sleep_until(wake);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  co_return error(StatusCode::kDeadlineExceeded, "bucket {}: deadline passed ({})", bucket,
                  last.to_string());
}

uint64_t BucketClient::open_request() {
  uint64_t request = next_request_++;
  outstanding_.insert(request);
  return request;
}

void BucketClient::close_request(uint64_t request) { outstanding_.erase(request); }

Task<Result<proto::BucketResult>> BucketClient::mutate(BucketId bucket,
                                                       proto::BucketCommand command,
                                                       Deadline deadline) {
  uint64_t request = open_request();
  command.mutable_header()->set_session(options_.session);
  command.mutable_header()->set_request(request);
  // Everything below the lowest unanswered request was answered: the bucket may forget it.
  command.mutable_header()->set_acked_below(*outstanding_.begin());
  auto result = co_await send_mutation(bucket, std::move(command), deadline);
  close_request(request);
  co_return result;
}

Task<Result<proto::BucketResult>> BucketClient::send_mutation(BucketId bucket,
                                                              proto::BucketCommand command,
                                                              Deadline deadline) {
  proto::BucketCallRequest call;
  call.set_bucket(bucket.value());
  *call.mutable_mutation() = std::move(command);
  auto reply = co_await call_leader(bucket, static_cast<uint32_t>(rpc::MessageType::kBucketCall),
                                    call.SerializeAsString(), deadline);
  if (!reply.ok()) co_return reply.status();
  TESS_CO_ASSIGN_OR_RETURN(auto response, reply->parse<proto::BucketCallResponse>());
  co_return std::move(*response.mutable_result());
}

Task<Result<proto::BucketResult>> BucketClient::meta(BucketId bucket, proto::MetaCommand command,
                                                     uint64_t request, Deadline deadline) {
  TESS_ASSERT(outstanding_.contains(request), "request {} is not open", request);
  proto::BucketCommand mutation;
  mutation.mutable_header()->set_session(options_.session);
  mutation.mutable_header()->set_request(request);
  mutation.mutable_header()->set_acked_below(*outstanding_.begin());
  *mutation.mutable_meta() = std::move(command);
  co_return co_await send_mutation(bucket, std::move(mutation), deadline);
}

Task<Result<proto::BucketResult>> BucketClient::meta_txn(BucketId bucket,
                                                         proto::MetaTxnCommand command,
                                                         Deadline deadline) {
  proto::BucketCommand mutation;
  *mutation.mutable_meta_txn() = std::move(command);
  co_return co_await send_mutation(bucket, std::move(mutation), deadline);
}

Task<Result<proto::BucketResult>> BucketClient::put(BucketId bucket, std::string key,
                                                    std::string value, Deadline deadline) {
  proto::BucketCommand command;
  command.mutable_put()->set_key(std::move(key));
  command.mutable_put()->set_value(std::move(value));
  co_return co_await mutate(bucket, std::move(command), deadline);
}

Task<Result<proto::BucketResult>> BucketClient::remove(BucketId bucket, std::string key,
                                                       Deadline deadline) {
  proto::BucketCommand command;
  command.mutable_delete_()->set_key(std::move(key));
  co_return co_await mutate(bucket, std::move(command), deadline);
}

Task<Result<proto::BucketResult>> BucketClient::compare_and_set(BucketId bucket, std::string key,
                                                                std::optional<std::string> expected,
                                                                std::string value,
                                                                Deadline deadline) {
  proto::BucketCommand command;
  command.mutable_cas()->set_key(std::move(key));
  command.mutable_cas()->set_expect_absent(!expected.has_value());
  if (expected) command.mutable_cas()->set_expected(std::move(*expected));
  command.mutable_cas()->set_value(std::move(value));
  co_return co_await mutate(bucket, std::move(command), deadline);
}

Task<Result<proto::BucketResult>> BucketClient::get(BucketId bucket, std::string key,
                                                    Deadline deadline) {
  proto::BucketCallRequest call;
  call.mutable_get()->set_key(std::move(key));
  co_return co_await read(bucket, std::move(call), deadline);
}

Task<Result<proto::BucketResult>> BucketClient::range(BucketId bucket, std::string start,
                                                      std::string end, uint32_t limit,
                                                      Deadline deadline) {
  proto::BucketCallRequest call;
  call.mutable_range()->set_start(std::move(start));
  call.mutable_range()->set_end(std::move(end));
  call.mutable_range()->set_limit(limit);
  co_return co_await read(bucket, std::move(call), deadline);
}

Task<Result<proto::BucketResult>> BucketClient::meta(BucketId bucket, proto::MetaCommand command,
                                                     Deadline deadline) {
  proto::BucketCommand mutation;
  *mutation.mutable_meta() = std::move(command);
  co_return co_await mutate(bucket, std::move(mutation), deadline);
}

Task<Result<proto::BucketResult>> BucketClient::meta_read(BucketId bucket, proto::MetaRead read,
                                                          Deadline deadline) {
  proto::BucketCallRequest call;
  *call.mutable_meta_read() = std::move(read);
  co_return co_await this->read(bucket, std::move(call), deadline);
}

Task<Result<proto::BucketResult>> BucketClient::read(BucketId bucket, proto::BucketCallRequest call,
                                                     Deadline deadline) {
  call.set_bucket(bucket.value());
  auto reply = co_await call_leader(bucket, static_cast<uint32_t>(rpc::MessageType::kBucketCall),
                                    call.SerializeAsString(), deadline);
  if (!reply.ok()) co_return reply.status();
  TESS_CO_ASSIGN_OR_RETURN(auto response, reply->parse<proto::BucketCallResponse>());
  co_return std::move(*response.mutable_result());
}

Task<Status> BucketClient::sync_to(BucketId bucket, uint64_t index, Deadline deadline) {
  proto::BucketSyncRequest sync;
  sync.set_bucket(bucket.value());
  sync.set_index(index);
  auto reply = co_await call_leader(bucket, static_cast<uint32_t>(rpc::MessageType::kBucketSync),
                                    sync.SerializeAsString(), deadline);
  co_return reply.status();
}

}  // namespace tessera::bucket
