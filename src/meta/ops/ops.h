// The namespace's operations, one file each (docs/design/2026-12-05-namespace.md 5). Each runs
// inside a bucket's apply (mutations) or a linearizable read, on the state of `context`'s bucket
// only; an operation that needs another bucket answers cross_bucket(). Results and failures as
// context.h says.
#pragma once

#include "base/status.h"
#include "meta/context.h"
#include "proto/meta.pb.h"

namespace tessera::meta {

// Mutations.
Result<proto::MetaResult> make_root(const OpContext& context, const proto::MetaMakeRoot& op);
Result<proto::MetaResult> create(const OpContext& context, const proto::MetaCreate& op);
Result<proto::MetaResult> unlink(const OpContext& context, const proto::MetaUnlink& op);
Result<proto::MetaResult> link(const OpContext& context, const proto::MetaLink& op);
Result<proto::MetaResult> rename(const OpContext& context, const proto::MetaRename& op);
Result<proto::MetaResult> setattr(const OpContext& context, const proto::MetaSetattr& op);
Result<proto::MetaResult> setxattr(const OpContext& context, const proto::MetaSetxattr& op);
Result<proto::MetaResult> removexattr(const OpContext& context, const proto::MetaRemovexattr& op);

// Cross-bucket transactions (docs/design/2026-12-05-cross-bucket-transactions.md 3), one file
// each: ops/txn_begin.cc, txn_prepare.cc, txn_decide.cc, txn_finish.cc (finish and forget),
// txn_status.cc. Each is idempotent by transaction id.
Result<proto::MetaResult> txn_begin(const OpContext& context, const proto::TxnBegin& op);
Result<proto::MetaResult> txn_prepare(const OpContext& context, const proto::TxnPrepare& op);
Result<proto::MetaResult> txn_decide(const OpContext& context, const proto::TxnDecide& op);
Result<proto::MetaResult> txn_finish(const OpContext& context, const proto::TxnFinish& op);
Result<proto::MetaResult> txn_forget(const OpContext& context, const proto::TxnForget& op);

// Reads.
Result<proto::MetaResult> lookup(const OpContext& context, const proto::MetaLookup& op);
Result<proto::MetaResult> getattr(const OpContext& context, const proto::MetaGetattr& op);
Result<proto::MetaResult> readdir(const OpContext& context, const proto::MetaReaddir& op);
Result<proto::MetaResult> readlink(const OpContext& context, const proto::MetaReadlink& op);
Result<proto::MetaResult> getxattr(const OpContext& context, const proto::MetaGetxattr& op);
Result<proto::MetaResult> listxattr(const OpContext& context, const proto::MetaListxattr& op);
Result<proto::MetaResult> txn_status(const OpContext& context, const proto::MetaTxnStatus& op);
Result<proto::MetaResult> list_intents(const OpContext& context, const proto::MetaListIntents& op);
Result<proto::MetaResult> list_inodes(const OpContext& context, const proto::MetaListInodes& op);
Result<proto::MetaResult> usage(const OpContext& context, const proto::MetaUsage& op);

}  // namespace tessera::meta
