#include "bucket/bucket_service.h"

#include "proto/bucket.pb.h"

namespace tessera::bucket {
namespace {

// A refusal because this replica does not lead becomes an answer naming the leader; anything
// else stays an error.
template <typename Response>
bool answer_not_leader(const Status& status, const Replica& replica, Response& response) {
  if (status.code() != StatusCode::kFailedPrecondition ||
      replica.core().role() == raft::Role::kLeader) {
    return false;
  }
  response.set_not_leader(true);
  response.set_leader_host(replica.leader().host.value());
  return true;
}

}  // namespace

Result<Replica*> BucketService::replica_of(uint32_t bucket) const {
  auto it = replicas_.find(BucketId(bucket));
  if (it == replicas_.end()) {
    return error(StatusCode::kNotFound, "no replica of bucket {} here", bucket);
  }
  return it->second;
}

Task<Result<rpc::Reply>> BucketService::handle_call(rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto call, request.parse<proto::BucketCallRequest>());
  TESS_CO_ASSIGN_OR_RETURN(Replica * replica, replica_of(call.bucket()));
  Result<proto::BucketResult> result = error(StatusCode::kInvalidArgument, "no operation");
  switch (call.operation_case()) {
    case proto::BucketCallRequest::kMutation:
      result = co_await replica->mutate(std::move(*call.mutable_mutation()), request.deadline);
      break;
    case proto::BucketCallRequest::kGet:
      result = co_await replica->get(call.get().key(), request.deadline);
      break;
    case proto::BucketCallRequest::kRange:
      result = co_await replica->range(call.range().start(), call.range().end(),
                                       call.range().limit(), request.deadline);
      break;
    case proto::BucketCallRequest::kMetaRead:
      result = co_await replica->meta_read(std::move(*call.mutable_meta_read()), request.deadline);
      break;
    case proto::BucketCallRequest::OPERATION_NOT_SET:
      break;
  }
  // The replica may have stopped and gone while the call waited (a shutdown detaches it first):
  // look it up again rather than touch it.
  auto still = replica_of(call.bucket());
  if (!still.ok()) co_return error(StatusCode::kUnavailable, "bucket {} stopped", call.bucket());
  replica = *still;
  proto::BucketCallResponse response;
  response.set_term(replica->core().term().value());
  if (!result.ok()) {
    if (!answer_not_leader(result.status(), *replica, response)) co_return result.status();
  } else {
    *response.mutable_result() = std::move(*result);
  }
  co_return rpc::Reply::of(response);
}

Task<Result<rpc::Reply>> BucketService::handle_sync(rpc::Request request) {
  TESS_CO_ASSIGN_OR_RETURN(auto sync, request.parse<proto::BucketSyncRequest>());
  TESS_CO_ASSIGN_OR_RETURN(Replica * replica, replica_of(sync.bucket()));
  Status synced = co_await replica->sync_to(sync.index(), request.deadline);
  auto still = replica_of(sync.bucket());  // As in handle_call.
  if (!still.ok()) co_return error(StatusCode::kUnavailable, "bucket {} stopped", sync.bucket());
  replica = *still;
  proto::BucketSyncResponse response;
  if (!synced.ok() && !answer_not_leader(synced, *replica, response)) co_return synced;
  co_return rpc::Reply::of(response);
}

}  // namespace tessera::bucket
