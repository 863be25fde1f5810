// The control plane in a simulation: several ControlPlanes on one io_context, one FakeClock and
// one FakeConfigStore with a handle per host, the way src/sim runs them. Each test is a pure
// function of its seeds.
#include "cluster/control_plane.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "cluster/fake_config_store.h"
#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera {
namespace {

using namespace std::chrono_literals;

struct Sim {
  Sim() { store.record_writes(keys.map_header(), keys.election()); }

  boost::asio::io_context context{1};
  FakeClock clock;
  FakeConfigStore store{clock};
  ClusterKeys keys{"default"};
  std::map<std::string, std::unique_ptr<ControlPlane>> hosts;
  uint64_t next_seed = 1;
  int64_t lease_ttl_seconds = 5;
};

uint64_t fixed_unix_ms() { return 1'800'000'000'000; }

// Joins and starts host `name`; nullptr (and a test failure) if it could not.
Task<ControlPlane*> start_host(Sim* sim, std::string name) {
  ControlPlaneEnv env{.executor = sim->context.get_executor(),
                      .clock = &sim->clock,
                      .store = &sim->store.client(name),
                      .seed = sim->next_seed++,
                      .unix_ms = fixed_unix_ms};
  ControlPlaneOptions options;
  options.host_name = name;
  options.address = "127.0.0.1";
  options.lease_ttl_seconds = sim->lease_ttl_seconds;
  auto joined = co_await ControlPlane::join(env, options);
  EXPECT_TRUE(joined.ok()) << joined.status();
  if (!joined.ok()) co_return nullptr;
  std::unique_ptr<ControlPlane> control = std::move(*joined);
  Status started = co_await control->start();
  EXPECT_TRUE(started.ok()) << started;
  if (!started.ok()) co_return nullptr;
  ControlPlane* raw = control.get();
  sim->hosts[name] = std::move(control);
  co_return raw;
}

Task<bool> start_hosts(Sim* sim, int count) {
  for (int i = 1; i <= count; ++i) {
    if (co_await start_host(sim, "h" + std::to_string(i)) == nullptr) co_return false;
  }
  co_return true;
}

// The one host that believes it leads, or nullptr if none or several do.
ControlPlane* leader_of(const Sim& sim) {
  ControlPlane* leader = nullptr;
  for (const auto& [name, host] : sim.hosts) {
    if (!host->is_leader()) continue;
    if (leader != nullptr) return nullptr;
    leader = host.get();
  }
  return leader;
}

// The checker the simulator runs: every map write was made under the writer's own election key.
void expect_map_writes_fenced(const FakeConfigStore& store) {
  EXPECT_FALSE(store.witnessed_writes().empty());
  for (const auto& write : store.witnessed_writes()) {
    EXPECT_TRUE(write.witness.has_value()) << "map written at revision " << write.revision << " by "
                                           << write.client << " without a leader";
    EXPECT_EQ(write.client, write.witness_lease_owner)
        << "map written at revision " << write.revision << " by " << write.client
        << " under the election of " << write.witness_lease_owner;
  }
}

// Runs `body`, then stops every host (whatever the body's outcome), so none outlives the loop.
Task<void> scenario(Sim* sim, Task<void> body) {
  co_await std::move(body);
  for (auto& [name, host] : sim->hosts) co_await host->stop(/*revoke_lease=*/true);
}

void run(Sim& sim, Task<void> body) {
  run_simulated(sim.context, sim.clock, scenario(&sim, std::move(body)));
  sim.hosts.clear();
}

Task<Status> create(ControlPlane* leader) {
  co_return co_await leader->create_cluster(
      CreationRequest{.data = 3, .parity = 2, .hot_spare = -1, .bucket_count = 128});
}

// ---- Tests.

Task<void> elect_and_create(Sim* sim) {
  CO_ASSERT_TRUE(co_await start_hosts(sim, 5));
  (void)co_await sim->clock.sleep_for(1s);
  ControlPlane* leader = leader_of(*sim);
  CO_ASSERT_TRUE(leader != nullptr);
  for (const auto& [name, host] : sim->hosts) {
    EXPECT_EQ(host->view()->leader_host_id, leader->host_id()) << name;
  }
  CO_ASSERT_OK(co_await create(leader));
  (void)co_await sim->clock.sleep_for(1s);
  for (const auto& [name, host] : sim->hosts) EXPECT_GE(host->map_epoch().value(), 1u) << name;
  expect_map_writes_fenced(sim->store);
}

TEST(ControlPlaneTest, ElectsOneLeaderAndCreatesTheCluster) {
  Sim sim;
  run(sim, elect_and_create(&sim));
}

// Defect: a deposed leader could still write a map (store_map compared only the header). A leader
// whose lease etcd ended early, and whose successor was elected, must be refused.
Task<void> deposed_leader_is_fenced(Sim* sim) {
  CO_ASSERT_TRUE(co_await start_hosts(sim, 5));
  (void)co_await sim->clock.sleep_for(1s);
  ControlPlane* old_leader = leader_of(*sim);
  CO_ASSERT_TRUE(old_leader != nullptr);
  CO_ASSERT_OK(co_await create(old_leader));
  (void)co_await sim->clock.sleep_for(1s);
  std::string name = old_leader->options().host_name;
  // Its store calls hang (it cannot learn anything) and etcd ends its lease early.
  sim->store.set_fault(name, FakeConfigStore::Fault::kStall);
  EXPECT_GE(sim->store.expire_leases_of(name), 1u);
  (void)co_await sim->clock.sleep_for(1s);
  ControlPlane* successor = nullptr;
  for (const auto& [other, host] : sim->hosts) {
    if (other != name && host->is_leader()) successor = host.get();
  }
  CO_ASSERT_TRUE(successor != nullptr);
  EXPECT_TRUE(old_leader->is_leader()) << "it has not noticed: its rounds stall";
  uint64_t epoch = successor->map_epoch().value();
  sim->store.set_fault(name, FakeConfigStore::Fault::kNone);
  Status refused = co_await old_leader->set_hot_spare(0);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("no longer the management leader"), std::string_view::npos)
      << refused;
  (void)co_await sim->clock.sleep_for(4s);
  EXPECT_FALSE(old_leader->is_leader());
  EXPECT_EQ(old_leader->view()->leader_host_id, successor->host_id());
  EXPECT_GE(successor->map_epoch().value(), epoch);
  expect_map_writes_fenced(sim->store);
}

TEST(ControlPlaneTest, DeposedLeaderCannotWriteTheMap) {
  Sim sim;
  run(sim, deposed_leader_is_fenced(&sim));
}

// Defect: the keep-alive shared the rounds' thread, so slow rounds let a live host's lease lapse.
Task<void> slow_rounds(Sim* sim) {
  CO_ASSERT_TRUE(co_await start_host(sim, "h1") != nullptr);
  // Every read takes 2 s: a round (several reads) takes longer than the 3 s lease.
  sim->store.set_latency("h1", 2s, /*reads_only=*/true);
  (void)co_await sim->clock.sleep_for(60s);
  EXPECT_EQ(sim->store.expired_lease_count("h1"), 0u) << "the lease lapsed while the host lived";
  EXPECT_TRUE(sim->store.peek(sim->keys.host(1)).has_value());
  EXPECT_TRUE(sim->hosts["h1"]->is_leader());
}

TEST(ControlPlaneTest, KeepAliveIsNotDelayedBySlowRounds) {
  Sim sim;
  sim.lease_ttl_seconds = 3;
  run(sim, slow_rounds(&sim));
}

// Defect: a host killed and restarted within the lease TTL was silently kept.
Task<void> restart_within_ttl(Sim* sim) {
  CO_ASSERT_TRUE(co_await start_hosts(sim, 5));
  (void)co_await sim->clock.sleep_for(1s);
  ControlPlane* leader = leader_of(*sim);
  CO_ASSERT_TRUE(leader != nullptr);
  CO_ASSERT_OK(co_await create(leader));
  (void)co_await sim->clock.sleep_for(1s);
  std::string victim = leader->options().host_name == "h3" ? "h4" : "h3";
  uint32_t victim_id = sim->hosts[victim]->host_id();
  uint64_t old_incarnation = sim->hosts[victim]->incarnation();
  uint64_t epoch = leader->map_epoch().value();
  co_await sim->hosts[victim]->crash();  // kill -9: the lease stays until its TTL.
  sim->hosts.erase(victim);
  ControlPlane* restarted = co_await start_host(sim, victim);
  CO_ASSERT_TRUE(restarted != nullptr);
  EXPECT_EQ(restarted->host_id(), victim_id);
  EXPECT_NE(restarted->incarnation(), old_incarnation);
  (void)co_await sim->clock.sleep_for(1s);  // Well within the 5 s TTL.
  auto view = leader->view();
  CO_ASSERT_TRUE(view->map.has_value());
  EXPECT_GT(view->map->header.epoch(), epoch);
  bool found = false;
  for (const proto::HostEntry& host : view->map->header.hosts()) {
    if (host.host_id() != victim_id) continue;
    found = true;
    EXPECT_EQ(host.incarnation(), restarted->incarnation());
    EXPECT_EQ(host.restarts(), 1u);
    EXPECT_TRUE(host.up());
    EXPECT_GT(host.changed_epoch(), epoch);
  }
  EXPECT_TRUE(found);
}

TEST(ControlPlaneTest, RestartWithinTheLeaseTtlIsRecorded) {
  Sim sim;
  run(sim, restart_within_ttl(&sim));
}

// Defect: std::stoul on election/mgmt: one malformed value terminated every tessd.
Task<void> malformed_election(Sim* sim) {
  ConfigStore& admin = sim->store.client("admin");
  CO_ASSERT_OK(
      co_await admin.put(sim->keys.election(), "not-a-host", {}, Deadline::after(1s, sim->clock)));
  CO_ASSERT_TRUE(co_await start_host(sim, "h1") != nullptr);
  (void)co_await sim->clock.sleep_for(1s);
  auto view = sim->hosts["h1"]->view();
  EXPECT_EQ(view->etcd_status.code(), StatusCode::kCorruption) << view->etcd_status;
  EXPECT_NE(view->etcd_status.message().find("election/mgmt"), std::string_view::npos);
  EXPECT_FALSE(sim->hosts["h1"]->is_leader());
  // Once the bad value is gone the host recovers by itself.
  std::vector<WriteOp> remove(1, WriteOp{WriteOp::Kind::kDelete, sim->keys.election(), {}, {}});
  CO_ASSERT_OK(co_await admin.txn({}, std::move(remove), Deadline::after(1s, sim->clock)));
  (void)co_await sim->clock.sleep_for(1s);
  EXPECT_TRUE(sim->hosts["h1"]->is_leader());
  EXPECT_TRUE(sim->hosts["h1"]->view()->etcd_status.ok());
}

TEST(ControlPlaneTest, MalformedElectionValueIsAnErrorNotACrash) {
  Sim sim;
  run(sim, malformed_election(&sim));
}

// A map write whose answer is lost is verified by reading the header back.
Task<void> ambiguous_map_write(Sim* sim) {
  CO_ASSERT_TRUE(co_await start_hosts(sim, 5));
  (void)co_await sim->clock.sleep_for(1s);
  ControlPlane* leader = leader_of(*sim);
  CO_ASSERT_TRUE(leader != nullptr);
  CO_ASSERT_OK(co_await create(leader));
  (void)co_await sim->clock.sleep_for(1s);
  uint64_t epoch = leader->map_epoch().value();
  sim->store.make_writes_ambiguous(leader->options().host_name, 1);
  CO_ASSERT_OK(co_await leader->set_hot_spare(0));
  (void)co_await sim->clock.sleep_for(1s);
  EXPECT_EQ(leader->map_epoch().value(), epoch + 1);
  expect_map_writes_fenced(sim->store);
}

TEST(ControlPlaneTest, AmbiguousMapWriteIsVerified) {
  Sim sim;
  run(sim, ambiguous_map_write(&sim));
}

// The leader killed: its lease lapses, another host leads, and marks it down.
Task<void> leader_crash(Sim* sim) {
  CO_ASSERT_TRUE(co_await start_hosts(sim, 5));
  (void)co_await sim->clock.sleep_for(1s);
  ControlPlane* leader = leader_of(*sim);
  CO_ASSERT_TRUE(leader != nullptr);
  CO_ASSERT_OK(co_await create(leader));
  (void)co_await sim->clock.sleep_for(1s);
  std::string name = leader->options().host_name;
  uint32_t id = leader->host_id();
  co_await leader->crash();
  sim->hosts.erase(name);
  (void)co_await sim->clock.sleep_for(std::chrono::seconds(sim->lease_ttl_seconds + 2));
  ControlPlane* successor = leader_of(*sim);
  CO_ASSERT_TRUE(successor != nullptr);
  EXPECT_NE(successor->host_id(), id);
  for (const proto::HostEntry& host : successor->view()->map->header.hosts()) {
    EXPECT_EQ(host.up(), host.host_id() != id) << host.host_id();
  }
  expect_map_writes_fenced(sim->store);
}

TEST(ControlPlaneTest, LeaderCrashElectsAnotherThatMarksItDown) {
  Sim sim;
  run(sim, leader_crash(&sim));
}

// ---- Replacing the replicas of a host down for good (docs/design/2026-11-25-raft-buckets.md 6.2).

constexpr uint32_t kDelaySeconds = 10;

Task<Status> create_with_delay(ControlPlane* leader) {
  co_return co_await leader->create_cluster(
      CreationRequest{.data = 3,
                      .parity = 2,
                      .hot_spare = 0,
                      .bucket_count = 128,
                      .replica_replacement_delay_s = kDelaySeconds});
}

// Polls `condition` every 100 ms of simulated time; false if `timeout` passes first.
Task<bool> wait_for(Sim* sim, std::function<bool()> condition, Clock::Duration timeout) {
  Clock::TimePoint deadline = sim->clock.now() + timeout;
  while (!condition()) {
    if (sim->clock.now() >= deadline) co_return false;
    (void)co_await sim->clock.sleep_for(100ms);
  }
  co_return true;
}

// In `observer`'s view: buckets whose desired replicas include `host`, and whose preferred
// leader it is.
struct Holdings {
  size_t desired = 0;
  size_t preferred = 0;
};
Holdings holdings(const ControlPlane* observer, uint32_t host) {
  Holdings out;
  auto view = observer->view();
  if (!view->map) return out;
  for (const DesiredReplicas& bucket : view->map->buckets) {
    if (std::find(bucket.desired.begin(), bucket.desired.end(), HostId(host)) !=
        bucket.desired.end()) {
      ++out.desired;
    }
    if (bucket.preferred_leader == HostId(host)) ++out.preferred;
  }
  return out;
}

bool marked_down(const ControlPlane* observer, uint32_t host) {
  auto view = observer->view();
  if (!view->map) return false;
  for (const proto::HostEntry& entry : view->map->header.hosts()) {
    if (entry.host_id() == host) return !entry.up();
  }
  return false;
}

std::string a_follower(Sim* sim, const ControlPlane* leader) {
  for (const auto& [name, host] : sim->hosts) {
    if (host.get() != leader) return name;
  }
  return "";
}

Task<void> down_host_replaced_after_the_delay(Sim* sim) {
  CO_ASSERT_TRUE(co_await start_hosts(sim, 6));
  (void)co_await sim->clock.sleep_for(1s);
  ControlPlane* leader = leader_of(*sim);
  CO_ASSERT_TRUE(leader != nullptr);
  CO_ASSERT_OK(co_await create_with_delay(leader));
  (void)co_await sim->clock.sleep_for(1s);
  std::vector<DesiredReplicas> before = leader->view()->map->buckets;
  std::string victim = a_follower(sim, leader);
  uint32_t victim_id = sim->hosts[victim]->host_id();
  Holdings held = holdings(leader, victim_id);
  CO_ASSERT_TRUE(held.desired > 0 && held.preferred > 0);
  co_await sim->hosts[victim]->crash();
  sim->hosts.erase(victim);
  CO_ASSERT_TRUE(co_await wait_for(
      sim, [&] { return marked_down(leader, victim_id); },
      std::chrono::seconds(sim->lease_ttl_seconds + 3)));
  Clock::TimePoint seen_down = sim->clock.now();
  // Down briefly: it keeps every replica; its preferred leaderships moved at once.
  EXPECT_EQ(holdings(leader, victim_id).preferred, 0u);
  for (size_t b = 0; b < before.size(); ++b) {
    EXPECT_EQ(leader->view()->map->buckets[b].desired, before[b].desired) << "bucket " << b;
  }
  (void)co_await sim->clock.sleep_for(std::chrono::seconds(kDelaySeconds) - 2s);
  EXPECT_EQ(holdings(leader, victim_id).desired, held.desired) << "replaced before the delay";
  CO_ASSERT_TRUE(co_await wait_for(
      sim, [&] { return holdings(leader, victim_id).desired == 0; }, 10s));
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(sim->clock.now() - seen_down);
  EXPECT_GE(waited, std::chrono::seconds(kDelaySeconds) - 1s) << "replaced before the delay";
  EXPECT_LE(waited, std::chrono::seconds(kDelaySeconds) + 1s);
  // Only its buckets changed.
  for (size_t b = 0; b < before.size(); ++b) {
    const auto& desired = before[b].desired;
    if (std::find(desired.begin(), desired.end(), HostId(victim_id)) != desired.end()) continue;
    EXPECT_EQ(leader->view()->map->buckets[b].desired, desired) << "bucket " << b;
  }
  expect_map_writes_fenced(sim->store);
}

TEST(ControlPlaneTest, DownHostKeepsItsReplicasUntilTheDelayThenTheyAreReplaced) {
  Sim sim;
  run(sim, down_host_replaced_after_the_delay(&sim));
}

Task<void> back_within_the_delay(Sim* sim) {
  CO_ASSERT_TRUE(co_await start_hosts(sim, 6));
  (void)co_await sim->clock.sleep_for(1s);
  ControlPlane* leader = leader_of(*sim);
  CO_ASSERT_TRUE(leader != nullptr);
  CO_ASSERT_OK(co_await create_with_delay(leader));
  (void)co_await sim->clock.sleep_for(1s);
  std::string victim = a_follower(sim, leader);
  uint32_t victim_id = sim->hosts[victim]->host_id();
  size_t held = holdings(leader, victim_id).desired;
  co_await sim->hosts[victim]->crash();
  sim->hosts.erase(victim);
  CO_ASSERT_TRUE(co_await wait_for(
      sim, [&] { return marked_down(leader, victim_id); },
      std::chrono::seconds(sim->lease_ttl_seconds + 3)));
  (void)co_await sim->clock.sleep_for(std::chrono::seconds(kDelaySeconds) - 3s);
  CO_ASSERT_TRUE(co_await start_host(sim, victim) != nullptr);
  CO_ASSERT_TRUE(co_await wait_for(
      sim, [&] { return !marked_down(leader, victim_id); }, 3s));
  (void)co_await sim->clock.sleep_for(std::chrono::seconds(2 * kDelaySeconds));
  EXPECT_EQ(holdings(leader, victim_id).desired, held) << "back within the delay: kept";
}

TEST(ControlPlaneTest, HostBackWithinTheDelayKeepsItsReplicas) {
  Sim sim;
  run(sim, back_within_the_delay(&sim));
}

// The delay runs on the management leader's own clock from when it saw the host down: a new
// leader starts it afresh (replacement may come later than the delay, never earlier).
Task<void> new_leader_starts_the_delay_afresh(Sim* sim) {
  CO_ASSERT_TRUE(co_await start_hosts(sim, 7));
  (void)co_await sim->clock.sleep_for(1s);
  ControlPlane* leader = leader_of(*sim);
  CO_ASSERT_TRUE(leader != nullptr);
  CO_ASSERT_OK(co_await create_with_delay(leader));
  (void)co_await sim->clock.sleep_for(1s);
  std::string victim = a_follower(sim, leader);
  uint32_t victim_id = sim->hosts[victim]->host_id();
  size_t held = holdings(leader, victim_id).desired;
  co_await sim->hosts[victim]->crash();
  sim->hosts.erase(victim);
  CO_ASSERT_TRUE(co_await wait_for(
      sim, [&] { return marked_down(leader, victim_id); },
      std::chrono::seconds(sim->lease_ttl_seconds + 3)));
  (void)co_await sim->clock.sleep_for(std::chrono::seconds(kDelaySeconds) - 4s);
  // The leader dies 4 s before it would have replaced the victim's replicas.
  std::string old_leader = leader->options().host_name;
  co_await leader->crash();
  sim->hosts.erase(old_leader);
  ControlPlane* successor = nullptr;
  CO_ASSERT_TRUE(co_await wait_for(
      sim, [&] { return (successor = leader_of(*sim)) != nullptr; },
      std::chrono::seconds(sim->lease_ttl_seconds + 3)));
  Clock::TimePoint elected = sim->clock.now();
  (void)co_await sim->clock.sleep_for(std::chrono::seconds(kDelaySeconds) - 2s);
  EXPECT_EQ(holdings(successor, victim_id).desired, held)
      << "the successor counted the delay from before its term";
  CO_ASSERT_TRUE(co_await wait_for(
      sim, [&] { return holdings(successor, victim_id).desired == 0; }, 10s));
  EXPECT_GE(sim->clock.now() - elected, std::chrono::seconds(kDelaySeconds) - 1s);
  expect_map_writes_fenced(sim->store);
}

TEST(ControlPlaneTest, NewManagementLeaderStartsTheDelayAfresh) {
  Sim sim;
  run(sim, new_leader_starts_the_delay_afresh(&sim));
}

}  // namespace
}  // namespace tessera
