// BucketService: the client-facing calls of the buckets a tessd holds on one loop (design 7):
// kBucketCall (put, get, delete, cas, range) and kBucketSync (SyncTo). A call goes to the local
// replica of its bucket; if that replica does not lead, the answer is `not_leader` with the leader
// it knows of, so the client goes there at once. A bucket with no replica here is kNotFound (the
// client refreshes its map). Every call runs within the caller's deadline.
//
// Lives on one executor (the loop of its replicas); the RPC server's handlers run there.
// REQUIRES: a replica is detached before it is destroyed.
#pragma once

#include <map>

#include "bucket/replica.h"
#include "rpc/call.h"
#include "runtime/task.h"

namespace tessera::bucket {

class BucketService {
 public:
  void attach(Replica* replica) { replicas_[replica->bucket()] = replica; }
  void detach(BucketId bucket) { replicas_.erase(bucket); }

  Task<Result<rpc::Reply>> handle_call(rpc::Request request);
  Task<Result<rpc::Reply>> handle_sync(rpc::Request request);

 private:
  Result<Replica*> replica_of(uint32_t bucket) const;
  std::map<BucketId, Replica*> replicas_;
};

}  // namespace tessera::bucket
