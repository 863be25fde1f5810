// NamespaceHandler: the bucket::CommandHandler that runs the namespace's operations (ops/ops.h)
// in a bucket's state machine. Stateless and deterministic (command_handler.h); one per process,
// shared by its buckets.
#pragma once

#include "bucket/command_handler.h"

namespace tessera::meta {

class NamespaceHandler final : public bucket::CommandHandler {
 public:
  Result<proto::MetaResult> execute(bucket::StateStore& store, const bucket::ApplyContext& context,
                                    const proto::MetaCommand& command) override;
  Result<proto::MetaResult> execute_txn(bucket::StateStore& store,
                                        const bucket::ApplyContext& context,
                                        const proto::MetaTxnCommand& command) override;
  Result<proto::MetaResult> read(bucket::StateStore& store, BucketId bucket,
                                 const proto::MetaRead& read) override;
};

}  // namespace tessera::meta
