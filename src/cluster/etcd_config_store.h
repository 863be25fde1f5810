// EtcdConfigStore: ConfigStore over real etcd (EtcdClient, its JSON gateway). The client blocks,
// so each call runs on a small thread pool owned by the store (runtime/offload.h) and the awaiting
// task resumes on its own executor: no event loop ever blocks on etcd. The call's deadline bounds
// the blocking call (its remaining time is the HTTP timeout of each attempt); writes are never
// replayed to another member once they may have arrived (etcd_client.h).
//
// Thread-safe: tasks on any executor may call it concurrently. Destroying the store waits for the
// calls in flight (each bounded by its deadline). REQUIRES: a deadline on every call (the never()
// deadline is refused with kInvalidArgument: a limit on everything).
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <string>
#include <vector>

#include "cluster/config_store.h"
#include "cluster/etcd_client.h"

namespace tessera {

class EtcdConfigStore final : public ConfigStore {
 public:
  // `endpoints`: "host:port" of every member. `threads`: blocking calls at once.
  explicit EtcdConfigStore(std::vector<std::string> endpoints, size_t threads = 4);
  ~EtcdConfigStore() override;

  Task<Result<RangeResult>> range(RangeRequest request, Deadline deadline) override;
  Task<Result<TxnResult>> txn(std::vector<Compare> compares, std::vector<WriteOp> success,
                              Deadline deadline) override;
  Task<Result<LeaseId>> grant_lease(std::chrono::seconds ttl, Deadline deadline) override;
  Task<Status> keep_alive(LeaseId lease, Deadline deadline) override;
  Task<Status> revoke_lease(LeaseId lease, Deadline deadline) override;

  const EtcdClient& client() const { return client_; }

 private:
  EtcdClient client_;
  boost::asio::thread_pool pool_;
};

}  // namespace tessera
