// probe_leader: which host leads a bucket now, asked of the bucket's replicas themselves. Each
// replica is sent a read of the bucket (kBucketCall, a get of a key no one writes); the one that
// answers it is the leader (it held a lease or confirmed its leadership for that read), and one
// that is not names the leader it knows, which is asked next. For tools and tests that act on a
// bucket's leader (fault injection, benchmarks): a BucketClient follows the same hints by itself.
//
// Runs on the awaiting task's executor; the RPC clients it makes are its own and are closed before
// it returns. Outcomes: the leading host; kDeadlineExceeded if no replica answered as leader by
// the deadline (the message says what the last one answered); kNotFound if the directory holds
// no replicas of the bucket.
#pragma once

#include "bucket/bucket_client.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::client {

// The key probe_leader reads (in no bucket's key space of any workload).
inline constexpr const char* kLeaderProbeKey = "\x01tess-leader-probe";

Task<Result<HostId>> probe_leader(const bucket::BucketDirectory& directory, BucketId bucket,
                                  Deadline deadline);

}  // namespace tessera::client
