#include "cluster/etcd_config_store.h"

#include "runtime/offload.h"

namespace tessera {

namespace {

// The caller's deadline may be on any clock (a simulation's, in tests); HTTP timeouts are real
// time, so the blocking call gets the time left, on the real clock.
Deadline real_deadline(const Deadline& deadline) {
  return Deadline::after(deadline.remaining(), RealClock::instance());
}

Status no_deadline() {
  return error(StatusCode::kInvalidArgument, "an etcd call needs a deadline");
}

// The blocking calls, built outside the coroutines (runtime/offload.h: GCC 12 and init-captures
// inside coroutine bodies).
auto range_call(const EtcdClient* client, RangeRequest request, Deadline deadline) {
  return
      [client, request = std::move(request), deadline] { return client->range(request, deadline); };
}

auto txn_call(const EtcdClient* client, std::vector<Compare> compares, std::vector<WriteOp> success,
              Deadline deadline) {
  return [client, compares = std::move(compares), success = std::move(success), deadline] {
    return client->txn(compares, success, deadline);
  };
}

}  // namespace

EtcdConfigStore::EtcdConfigStore(std::vector<std::string> endpoints, size_t threads)
    : client_(std::move(endpoints)), pool_(threads) {}

EtcdConfigStore::~EtcdConfigStore() { pool_.join(); }

Task<Result<RangeResult>> EtcdConfigStore::range(RangeRequest request, Deadline deadline) {
  if (deadline.is_never()) co_return no_deadline();
  co_return co_await offload(pool_,
                             range_call(&client_, std::move(request), real_deadline(deadline)));
}

Task<Result<TxnResult>> EtcdConfigStore::txn(std::vector<Compare> compares,
                                             std::vector<WriteOp> success, Deadline deadline) {
  if (deadline.is_never()) co_return no_deadline();
  co_return co_await offload(
      pool_, txn_call(&client_, std::move(compares), std::move(success), real_deadline(deadline)));
}

Task<Result<LeaseId>> EtcdConfigStore::grant_lease(std::chrono::seconds ttl, Deadline deadline) {
  if (deadline.is_never()) co_return no_deadline();
  const EtcdClient* client = &client_;
  Deadline real = real_deadline(deadline);
  co_return co_await offload(pool_, [client, ttl, real] { return client->grant_lease(ttl, real); });
}

Task<Status> EtcdConfigStore::keep_alive(LeaseId lease, Deadline deadline) {
  if (deadline.is_never()) co_return no_deadline();
  const EtcdClient* client = &client_;
  Deadline real = real_deadline(deadline);
  co_return co_await offload(pool_,
                             [client, lease, real] { return client->keep_alive(lease, real); });
}

Task<Status> EtcdConfigStore::revoke_lease(LeaseId lease, Deadline deadline) {
  if (deadline.is_never()) co_return no_deadline();
  const EtcdClient* client = &client_;
  Deadline real = real_deadline(deadline);
  co_return co_await offload(pool_,
                             [client, lease, real] { return client->revoke_lease(lease, real); });
}

}  // namespace tessera
