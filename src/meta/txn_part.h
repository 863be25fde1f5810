// One bucket's part of a cross-bucket transaction
// (docs/design/2026-12-05-cross-bucket-transactions.md 2 and 3): checking it and taking its locks
// (at begin for the coordinator, at prepare for a participant), applying it at the decision, and
// releasing its locks. Shared by the transaction commands in ops/txn_*.cc.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"
#include "meta/context.h"
#include "proto/meta.pb.h"

namespace tessera::meta {

// Checks every expectation of `part` against this bucket's state and, if all hold, locks its keys
// for `txn` and, for a part that creates an inode, allocates its id (returned; 0: none) and locks
// it too, so that nothing reads or changes that inode before the decision creates it. A
// refusal is the errno the operation answers (locked() when another transaction holds a key, or
// when the state no longer matches the plan).
Result<Checked<uint64_t>> check_and_lock(const OpContext& context, const proto::TxnId& txn,
                                         const proto::TxnPart& part);

// Applies `part` (its checks passed and its locks are held) and releases its locks.
// `created_inode`: the id the transaction's create allocated (0: none).
Status apply_and_unlock(const OpContext& context, const proto::TxnPart& part,
                        uint64_t created_inode);

// Releases `part`'s locks without applying it (an abort); `created_inode` as above.
void unlock(const OpContext& context, const proto::TxnPart& part, uint64_t created_inode);

bool same_txn(const proto::TxnId& a, const proto::TxnId& b);

}  // namespace tessera::meta
