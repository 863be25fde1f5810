// BucketTransport: MetaTransport over a BucketClient: what the client library's NamespaceClient
// runs its transactions over, and what a bucket leader's recovery of abandoned transactions
// (txn_recovery.h) uses.
//
// Executor: the BucketClient's; call it only from tasks there.
#pragma once

#include "bucket/bucket_client.h"
#include "meta/meta_transport.h"

namespace tessera::meta {

// A bucket's answer as MetaTransport returns it: the MetaResult, or the bucket's own error (a
// non-OK status_code) as a failed Result.
Result<proto::MetaResult> meta_result_of(Result<proto::BucketResult> result);

class BucketTransport final : public MetaTransport {
 public:
  // REQUIRES: `buckets` outlives the transport.
  explicit BucketTransport(bucket::BucketClient& buckets) : buckets_(buckets) {}

  Task<Result<proto::MetaResult>> txn(BucketId bucket, proto::MetaTxnCommand command,
                                      Deadline deadline) override;
  Task<Result<proto::MetaResult>> read(BucketId bucket, proto::MetaRead read,
                                       Deadline deadline) override;

 private:
  bucket::BucketClient& buckets_;
};

}  // namespace tessera::meta
