#include "meta/bucket_transport.h"

#include "bucket/kv_state_machine.h"

namespace tessera::meta {

Result<proto::MetaResult> meta_result_of(Result<proto::BucketResult> result) {
  if (!result.ok()) return result.status();
  if (result->status_code() != 0) return bucket::status_of(*result);
  return std::move(*result->mutable_meta());
}

Task<Result<proto::MetaResult>> BucketTransport::txn(BucketId bucket, proto::MetaTxnCommand command,
                                                     Deadline deadline) {
  co_return meta_result_of(co_await buckets_.meta_txn(bucket, std::move(command), deadline));
}

Task<Result<proto::MetaResult>> BucketTransport::read(BucketId bucket, proto::MetaRead read,
                                                      Deadline deadline) {
  co_return meta_result_of(co_await buckets_.meta_read(bucket, std::move(read), deadline));
}

}  // namespace tessera::meta
