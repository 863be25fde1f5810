#include "sim/sim_control_plane.h"

namespace tessera::sim {

Task<Result<std::unique_ptr<ControlPlane>>> start_sim_control_plane(Simulation* simulation,
                                                                    FakeConfigStore* store,
                                                                    std::string name,
                                                                    const Clock* clock,
                                                                    int64_t lease_ttl_seconds) {
  ControlPlaneOptions options;
  options.cluster_name = std::string(kSimClusterName);
  options.host_name = name;
  options.address = name;
  options.rpc_port = 7400;
  options.http_port = 7500;
  options.lease_ttl_seconds = lease_ttl_seconds;
  options.store_timeout = std::chrono::seconds(2);
  ControlPlaneEnv env;
  env.executor = simulation->executor();
  env.clock = clock;
  env.store = &store->client(name);
  env.seed = simulation->random().next();
  env.unix_ms = [base = &simulation->clock()] {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(base->now().time_since_epoch())
            .count());
  };
  auto joined = co_await ControlPlane::join(env, options);
  if (!joined.ok()) {
    simulation->trace().add("{}: no control plane: {}", name, joined.status().message());
    co_return joined.status();
  }
  Status started = co_await (*joined)->start();
  if (!started.ok()) {
    simulation->trace().add("{}: no control plane: {}", name, started.message());
    co_await (*joined)->stop(/*revoke_lease=*/false);
    co_return started;
  }
  simulation->trace().add("{}: control plane started, host id {}, incarnation {:x}", name,
                          (*joined)->host_id(), (*joined)->incarnation());
  co_return std::move(*joined);
}

Status MapWriteChecker::check_new_writes(const FakeConfigStore& store, Trace& trace) {
  const auto& writes = store.witnessed_writes();
  for (; writes_checked_ < writes.size(); ++writes_checked_) {
    const FakeConfigStore::WitnessedWrite& write = writes[writes_checked_];
    if (write.key != keys_.map_header()) continue;
    proto::ClusterMapHeader header;
    if (!header.ParseFromString(write.value)) {
      return error(StatusCode::kInternal, "map header written at revision {} is malformed",
                   write.revision);
    }
    if (last_epoch_ != 0 && header.epoch() != last_epoch_ + 1) {
      return error(StatusCode::kInternal, "map epoch went from {} to {} (revision {})", last_epoch_,
                   header.epoch(), write.revision);
    }
    last_epoch_ = header.epoch();
    trace.add("map epoch {} written by {}", header.epoch(), write.client);
    if (!write.witness) {
      return error(StatusCode::kInternal,
                   "{} wrote map epoch {} at revision {} while nobody held the election key",
                   write.client, header.epoch(), write.revision);
    }
    if (write.witness_lease_owner != write.client) {
      return error(StatusCode::kInternal,
                   "{} wrote map epoch {} at revision {} while {} held the election key",
                   write.client, header.epoch(), write.revision, write.witness_lease_owner);
    }
  }
  return Status();
}

}  // namespace tessera::sim
