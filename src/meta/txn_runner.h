// Running a planned cross-bucket transaction to its end
// (docs/design/2026-12-05-cross-bucket-transactions.md 3): begin at the coordinator, prepare
// every participant, decide, finish every participant, forget. The client library runs it right
// after a single-bucket attempt answered cross_bucket; a bucket leader's recovery runs the tail
// (decide or finish) of transactions whose driver went away.
//
// The answer is the operation's (a refusal included). A failed Result means the outcome is not
// known to this driver (the deadline passed, a bucket was unreachable): the transaction is then
// decided by whoever drives it next, and the client request's stored result will say how.
#pragma once

#include "base/status.h"
#include "meta/meta_transport.h"
#include "meta/plan.h"
#include "proto/meta.pb.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::meta {

// `cycle_checks` (a directory move's, plan.h) run once the rename lock's part is prepared; a
// cycle aborts with EINVAL.
// REQUIRES: begin.parts(0) is the coordinator's part; every part names a different bucket; with
// cycle checks, parts(0) or parts(1) holds the rename lock.
Task<Result<proto::MetaResult>> run_transaction(MetaTransport& transport, FilesystemId fs,
                                                proto::TxnBegin begin,
                                                std::vector<CycleCheck> cycle_checks,
                                                Deadline deadline);

// The cross-bucket half of a client's namespace mutation: `command` was sent as (session,
// request) to bucket_for(command) and answered cross_bucket; this plans it and runs the
// transaction, which answers that same request. The caller holds the request open until this
// returns (BucketClient::open_request). A `locked` answer means: retry as a new request.
Task<Result<proto::MetaResult>> run_cross_bucket(MetaTransport& transport, uint32_t bucket_count,
                                                 const proto::MetaCommand& command,
                                                 uint64_t session, uint64_t request,
                                                 Deadline deadline);

// Tells every participant of a decided transaction and, after a commit, forgets it at the
// coordinator. Transport failures are returned; nothing is lost by stopping early (the leaders'
// recovery finishes it).
Task<Status> finish_transaction(MetaTransport& transport, FilesystemId fs, const proto::TxnId& id,
                                const google::protobuf::RepeatedPtrField<proto::TxnPart>& parts,
                                bool commit, Deadline deadline);

}  // namespace tessera::meta
