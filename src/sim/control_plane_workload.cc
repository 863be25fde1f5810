#include "sim/control_plane_workload.h"

#include <set>

#include "sim/sim_control_plane.h"

namespace tessera::sim {

namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr size_t kHosts = 5;
constexpr int64_t kLeaseTtlSeconds = 5;
constexpr auto kChaos = 60s;
constexpr auto kSettle = 3 * std::chrono::seconds(kLeaseTtlSeconds) + 5s;

std::string host_name(size_t index) { return fmt::format("host{}", index); }

class ControlPlaneWorkload final : public Workload {
 public:
  explicit ControlPlaneWorkload(Simulation& simulation)
      : sim_(simulation), store_(simulation.clock()), keys_(std::string(kSimClusterName)) {
    store_.record_writes(keys_.map_header(), keys_.election());
    for (size_t i = 0; i < kHosts; ++i) {
      hosts_.push_back(Host{host_name(i), sim_.make_host_clock(50'000), nullptr, 0});
    }
  }

  Task<Status> run() override;
  Status check_invariants() override;

 private:
  struct Host {
    std::string name;
    std::unique_ptr<DriftingClock> clock;
    std::unique_ptr<ControlPlane> control;  // Null while crashed.
    uint64_t starts = 0;
  };

  Task<Status> start_host(size_t index);
  Task<void> crash_host(size_t index);
  Task<Status> form_cluster();
  Task<Status> chaos_step();
  Task<void> depose_leader_during_a_change();
  Task<void> change_hot_spare(ControlPlane* control);
  Task<void> expire_leases_later(std::string name, Clock::Duration delay);
  Task<Status> settle_and_check();
  Status check_final_state() const;
  size_t up_count() const;
  const ControlPlane* leader() const;

  Simulation& sim_;
  FakeConfigStore store_;
  ClusterKeys keys_;
  std::vector<Host> hosts_;
  MapWriteChecker map_writes_;
};

Task<Status> ControlPlaneWorkload::start_host(size_t index) {
  Host& host = hosts_[index];
  TESS_CO_ASSIGN_OR_RETURN(
      host.control, co_await start_sim_control_plane(&sim_, &store_, host.name, host.clock.get(),
                                                     kLeaseTtlSeconds));
  ++host.starts;
  co_return Status();
}

Task<void> ControlPlaneWorkload::crash_host(size_t index) {
  Host& host = hosts_[index];
  sim_.trace().add("{} crashes{}", host.name, host.control->is_leader() ? " (the leader)" : "");
  std::unique_ptr<ControlPlane> control = std::move(host.control);
  co_await control->crash();
}

size_t ControlPlaneWorkload::up_count() const {
  size_t up = 0;
  for (const Host& host : hosts_) up += host.control ? 1 : 0;
  return up;
}

const ControlPlane* ControlPlaneWorkload::leader() const {
  for (const Host& host : hosts_) {
    if (host.control && host.control->is_leader()) return host.control.get();
  }
  return nullptr;
}

// Starts every host (retrying while etcd is not there yet) and creates a 3+2 cluster.
Task<Status> ControlPlaneWorkload::form_cluster() {
  for (size_t i = 0; i < kHosts; ++i) {
    while (!(co_await start_host(i)).ok()) (void)co_await sim_.clock().sleep_for(500ms);
  }
  for (int attempt = 0; attempt < 200; ++attempt) {
    (void)co_await sim_.clock().sleep_for(250ms);
    const ControlPlane* current = leader();
    if (current == nullptr || current->view()->registrations.size() < kHosts) continue;
    Status created = co_await const_cast<ControlPlane*>(current)->create_cluster(
        CreationRequest{.data = 3, .parity = 2, .hot_spare = 0, .bucket_count = 0});
    sim_.trace().add("create cluster on host {}: {}", current->host_id(),
                     created.ok() ? "ok" : std::string(created.message()));
    if (created.ok()) co_return Status();
  }
  co_return Status(StatusCode::kInternal, "the cluster was not created within 50 s");
}

// One random fault (or repair), then a random pause.
Task<Status> ControlPlaneWorkload::chaos_step() {
  SimRandom& random = sim_.random();
  size_t index = random.below(kHosts);
  Host& host = hosts_[index];
  switch (random.below(9)) {
    case 0:  // Crash (keep a majority of hosts up so that work goes on).
      if (host.control && up_count() > kHosts / 2 + 1) co_await crash_host(index);
      break;
    case 1:  // Restart, often within the lease TTL of the crash.
      if (!host.control) (void)co_await start_host(index);
      break;
    case 2: {  // Crash and restart quickly: within the TTL, the old lease still alive.
      if (!host.control) break;
      co_await crash_host(index);
      (void)co_await sim_.clock().sleep_for(milliseconds(random.between(50, 2000)));
      (void)co_await start_host(index);
      break;
    }
    case 3: {  // One host's etcd stalls, fails or slows for a while.
      auto fault =
          random.below(3) == 0 ? FakeConfigStore::Fault::kFail : FakeConfigStore::Fault::kStall;
      auto duration = milliseconds(random.between(200, 8000));
      sim_.trace().add("{}: etcd {} for {} ms", host.name,
                       fault == FakeConfigStore::Fault::kFail ? "fails" : "stalls",
                       duration.count());
      store_.set_fault(host.name, fault);
      (void)co_await sim_.clock().sleep_for(duration);
      store_.set_fault(host.name, FakeConfigStore::Fault::kNone);
      break;
    }
    case 4: {  // etcd loses its quorum.
      auto duration = milliseconds(random.between(200, 6000));
      sim_.trace().add("etcd loses quorum for {} ms", duration.count());
      store_.set_fault_all(FakeConfigStore::Fault::kLostQuorum);
      (void)co_await sim_.clock().sleep_for(duration);
      store_.set_fault_all(FakeConfigStore::Fault::kNone);
      break;
    }
    case 5: {  // Answers of writes get lost.
      int count = static_cast<int>(random.between(1, 4));
      sim_.trace().add("{}: the answers of its next {} writes are lost", host.name, count);
      store_.make_writes_ambiguous(host.name, count);
      break;
    }
    case 6: {  // etcd ends a lease early: the leader's, more often than not.
      const ControlPlane* current = leader();
      std::string victim = host.name;
      if (current != nullptr && random.chance(0.6)) {
        victim = current->options().host_name;
      }
      sim_.trace().add("etcd ends the leases of {} early ({} ended)", victim,
                       store_.expire_leases_of(victim));
      break;
    }
    case 7: {  // Slow reads on one host widen the window between a campaign and a write.
      auto latency = milliseconds(random.between(10, 800));
      sim_.trace().add("{}: etcd reads take {} ms", host.name, latency.count());
      store_.set_latency(host.name, latency, /*reads_only=*/true);
      break;
    }
    case 8:
      co_await depose_leader_during_a_change();
      break;
  }
  (void)co_await sim_.clock().sleep_for(milliseconds(random.between(100, 2000)));
  co_return Status();
}

// An administrator changes the hot spare on the leader just as etcd ends the leader's lease
// early, while the other hosts cannot reach etcd: the leader's write comes after its term ended,
// with no successor yet. The fence must refuse it.
Task<void> ControlPlaneWorkload::depose_leader_during_a_change() {
  ControlPlane* current = const_cast<ControlPlane*>(leader());
  if (current == nullptr) co_return;
  std::string name = current->options().host_name;
  auto read_latency = milliseconds(sim_.random().between(200, 1500));
  sim_.trace().add("{} (the leader) is deposed during a hot-spare change (reads take {} ms)", name,
                   read_latency.count());
  for (const Host& host : hosts_) {
    if (host.name != name) store_.set_fault(host.name, FakeConfigStore::Fault::kStall);
  }
  store_.set_latency(name, read_latency, /*reads_only=*/true);
  spawn_detached(sim_.executor(),
                 expire_leases_later(name, milliseconds(sim_.random().between(1, 400))),
                 "early lease expiry");
  // Awaited here, so that no later step crashes (and destroys) this control plane under it.
  co_await change_hot_spare(current);
  for (const Host& host : hosts_) store_.set_fault(host.name, FakeConfigStore::Fault::kNone);
  store_.set_latency(name, Clock::Duration::zero(), false);
}

Task<void> ControlPlaneWorkload::expire_leases_later(std::string name, Clock::Duration delay) {
  (void)co_await sim_.clock().sleep_for(delay);
  sim_.trace().add("etcd ends the leases of {} early ({} ended)", name,
                   store_.expire_leases_of(name));
}

Task<void> ControlPlaneWorkload::change_hot_spare(ControlPlane* control) {
  Status changed = co_await control->set_hot_spare(0);
  sim_.trace().add("hot-spare change on host {}: {}", control->host_id(),
                   changed.ok() ? "ok" : std::string(changed.message()));
}

Task<Status> ControlPlaneWorkload::settle_and_check() {
  sim_.trace().add("healing: etcd healthy, every host up");
  store_.set_fault_all(FakeConfigStore::Fault::kNone);
  for (Host& host : hosts_) {
    store_.set_fault(host.name, FakeConfigStore::Fault::kNone);
    store_.set_latency(host.name, Clock::Duration::zero(), false);
  }
  for (size_t i = 0; i < kHosts; ++i) {
    while (!hosts_[i].control) {
      if (!(co_await start_host(i)).ok()) (void)co_await sim_.clock().sleep_for(500ms);
    }
  }
  (void)co_await sim_.clock().sleep_for(kSettle);
  co_return check_final_state();
}

Status ControlPlaneWorkload::check_final_state() const {
  const ControlPlane* current = leader();
  if (current == nullptr) return Status(StatusCode::kInternal, "no management leader at the end");
  for (const Host& host : hosts_) {
    auto view = host.control->view();
    if (view->leader_host_id != current->host_id()) {
      return error(StatusCode::kInternal, "{} believes host {} leads, but host {} does", host.name,
                   view->leader_host_id, current->host_id());
    }
    if (host.control.get() != current && host.control->is_leader()) {
      return error(StatusCode::kInternal, "two hosts believe they lead");
    }
  }
  auto view = current->view();
  if (!view->map) return Status(StatusCode::kInternal, "no cluster map at the end");
  for (const Host& host : hosts_) {
    const proto::HostEntry* entry = nullptr;
    for (const proto::HostEntry& candidate : view->map->header.hosts()) {
      if (candidate.host_id() == host.control->host_id()) entry = &candidate;
    }
    if (entry == nullptr) return error(StatusCode::kInternal, "{} is not in the map", host.name);
    if (!entry->up())
      return error(StatusCode::kInternal, "{} is up but the map says down", host.name);
    if (entry->incarnation() != host.control->incarnation()) {
      return error(StatusCode::kInternal,
                   "{} runs incarnation {:x} but the map holds {:x}: a restart went unnoticed",
                   host.name, host.control->incarnation(), entry->incarnation());
    }
  }
  return Status();
}

Task<Status> ControlPlaneWorkload::run() {
  TESS_CO_RETURN_IF_ERROR(co_await form_cluster());
  auto chaos_end = sim_.clock().now() + kChaos;
  while (sim_.clock().now() < chaos_end) TESS_CO_RETURN_IF_ERROR(co_await chaos_step());
  Status final_state = co_await settle_and_check();
  sim_.trace().add("{} map writes checked; last epoch {}", map_writes_.writes_checked(),
                   map_writes_.last_epoch());
  for (Host& host : hosts_) {
    if (host.control) co_await host.control->stop(/*revoke_lease=*/false);
  }
  co_return final_state;
}

Status ControlPlaneWorkload::check_invariants() {
  return map_writes_.check_new_writes(store_, sim_.trace());
}

}  // namespace

std::unique_ptr<Workload> make_control_plane_workload(Simulation& simulation) {
  return std::make_unique<ControlPlaneWorkload>(simulation);
}

}  // namespace tessera::sim
