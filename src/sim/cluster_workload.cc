#include "sim/cluster_workload.h"

#include <filesystem>
#include <map>
#include <set>

#include "base/block_checksums.h"
#include "drive/chunk_store.h"
#include "drive/fake_block_device.h"
#include "drive/fault_injection_fs.h"
#include "drive_service/drive_client.h"
#include "drive_service/drive_service.h"
#include "rpc/server.h"
#include "rpc/sim_network.h"
#include "sim/sim_control_plane.h"

namespace tessera::sim {

namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr size_t kHosts = 5;
constexpr size_t kClients = 3;
constexpr uint16_t kRpcPort = 7400;
constexpr uint64_t kDriveBytes = 128 * kMiB;  // Sparse in memory; the smallest drive is 64 MiB.
constexpr int64_t kLeaseTtlSeconds = 5;
constexpr auto kChaos = 40s;
constexpr auto kCallBudget = 2s;
constexpr int kDeadDevice = 1 << 30;  // Failures queued on a dead process's device.
constexpr ClusterUuid kCluster = {0x51, 0x4d, 0xc1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};

std::string host_name(size_t index) { return fmt::format("host{}", index); }

// The bytes of a chunk: a function of its id, so any reader can check what it got.
Buffer pattern(const ChunkId& id, uint32_t blocks) {
  Buffer data = Buffer::allocate(uint64_t{blocks} * kBlockSize);
  uint64_t seed = (uint64_t{id.bucket.value()} << 40) ^ (id.stripe.value() << 8) ^ id.generation;
  auto* words = reinterpret_cast<uint64_t*>(data.data());
  for (size_t i = 0; i < data.size() / sizeof(uint64_t); ++i) {
    words[i] = seed * 0x9e3779b97f4a7c15ULL + i;
  }
  return data;
}

bool same(const Buffer& a, const Buffer& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// What the clients know of a chunk.
struct Expected {
  size_t host = 0;
  uint32_t blocks = 0;
  bool durable = false;       // Acknowledged as durable: must survive anything.
  bool maybe_present = true;  // A write in flight, failed or not durable: may be absent.
  bool removed = false;       // An acknowledged removal: must never come back.
  bool removing = false;      // A removal in flight or failed: may be either.
};

class ClusterWorkload final : public Workload {
 public:
  explicit ClusterWorkload(Simulation& simulation);
  Task<Status> run() override;
  Status check_invariants() override;
  void on_exit() override;

 private:
  // What survives a process's death: the drive and its index files.
  struct Disk {
    FakeBlockDevice device{kDriveBytes};
    std::unique_ptr<FaultInjectionFs> fs;
    std::string index_path;
  };
  // One tessd process.
  struct Process {
    std::unique_ptr<ChunkStore> store;
    std::unique_ptr<DriveService> service;
    std::unique_ptr<rpc::RpcServer> server;
    std::unique_ptr<ControlPlane> control;
  };
  struct Host {
    std::string name;
    std::unique_ptr<DriftingClock> clock;
    Disk disk;
    std::unique_ptr<Process> process;  // Null while down.
    // Blocks of its drive were overwritten behind the store's back (bit rot): from then on its
    // reads may answer kCorruption, but never other bytes than those written.
    bool rotted = false;
  };

  ChunkStoreOptions store_options(Host& host) const;
  Task<Status> format_drive(size_t index);
  // Opens the drive, checks it against what the clients were told (before anything can reach it),
  // then serves it and starts the control plane.
  Task<Status> start_process(size_t index);
  Task<void> kill_process(size_t index, bool power_loss);
  Task<Status> check_drive_after_restart(size_t index);
  Task<Status> form_cluster();
  Task<void> client_loop(size_t client);
  Task<void> client_write(size_t client, size_t host);
  Task<void> client_read(size_t client);
  Task<void> client_remove(size_t client);
  Task<Status> chaos_step();
  Task<void> rot_a_block(size_t index);
  Task<Status> heal_and_check();
  void fail(std::string what);
  DriveId drive_of(size_t host) const { return DriveId(static_cast<uint32_t>(host + 1)); }

  Simulation& sim_;
  std::string directory_;
  FakeConfigStore store_;
  ClusterKeys keys_;
  rpc::SimNetwork network_;
  std::vector<Host> hosts_;
  std::unique_ptr<DriftingClock> client_clock_;
  std::vector<std::unique_ptr<DriveClient>> clients_;  // [client * kHosts + host]
  std::map<ChunkId, Expected> chunks_;
  uint64_t next_stripe_ = 1;
  bool clients_stop_ = false;
  size_t clients_running_ = 0;
  Status failure_;
  MapWriteChecker map_writes_;
  uint64_t acknowledged_writes_ = 0;
  uint64_t verified_reads_ = 0;
  std::map<std::string, uint64_t> failed_calls_;  // By status code, for the trace.
};

ClusterWorkload::ClusterWorkload(Simulation& simulation)
    : sim_(simulation),
      directory_(fmt::format("{}/tess-sim-{}-{}", std::filesystem::temp_directory_path().string(),
                             getpid(), simulation.options().seed)),
      store_(simulation.clock()),
      keys_(std::string(kSimClusterName)),
      network_(simulation.executor(), simulation.clock(), simulation.random().next()) {
  store_.record_writes(keys_.map_header(), keys_.election());
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
  std::filesystem::create_directories(directory_, ignored);
  hosts_.resize(kHosts);
  for (size_t i = 0; i < kHosts; ++i) {
    Host& host = hosts_[i];
    host.name = host_name(i);
    host.clock = sim_.make_host_clock(50'000);
    host.disk.fs = std::make_unique<FaultInjectionFs>(rocksdb::FileSystem::Default(),
                                                      /*sync_to_disk=*/false);
    host.disk.index_path = fmt::format("{}/{}.index", directory_, host.name);
  }
  client_clock_ = sim_.make_host_clock(50'000);
  rpc::Network& client_node = network_.node("client");
  for (size_t c = 0; c < kClients; ++c) {
    for (size_t h = 0; h < kHosts; ++h) {
      DriveClientOptions options;
      options.clock = client_clock_.get();
      options.network = &client_node;
      options.timeout = milliseconds(kCallBudget);
      options.connect_timeout = 1s;
      clients_.push_back(
          std::make_unique<DriveClient>(sim_.executor(), host_name(h), kRpcPort, options));
    }
  }
}

void ClusterWorkload::fail(std::string what) {
  sim_.trace().add("VIOLATION: {}", what);
  if (failure_.ok()) failure_ = Status(StatusCode::kInternal, what);
}

ChunkStoreOptions ClusterWorkload::store_options(Host& host) const {
  ChunkStoreOptions options;
  options.clock = host.clock.get();
  options.inline_index = true;
  options.index_env = host.disk.fs->env();
  return options;
}

Task<Status> ClusterWorkload::format_drive(size_t index) {
  Host& host = hosts_[index];
  auto formatted =
      co_await ChunkStore::format(host.disk.device, host.disk.index_path, kCluster, drive_of(index),
                                  1, /*force=*/false, store_options(host));
  co_return formatted.status();
}

Task<Status> ClusterWorkload::start_process(size_t index) {
  Host& host = hosts_[index];
  auto process = std::make_unique<Process>();
  TESS_CO_ASSIGN_OR_RETURN(
      process->store,
      co_await ChunkStore::open(sim_.executor(), host.disk.device, host.disk.index_path, kCluster,
                                store_options(host)));
  host.process = std::move(process);
  sim_.trace().add("{} opened its drive: {} chunks ({} dropped at open)", host.name,
                   host.process->store->stats().chunk_count,
                   host.process->store->dropped_at_open());
  TESS_CO_RETURN_IF_ERROR(co_await check_drive_after_restart(index));
  Process* started_process = host.process.get();
  DriveServiceOptions service_options;
  service_options.clock = host.clock.get();
  started_process->service = std::make_unique<DriveService>(service_options);
  started_process->service->add_drive(started_process->store.get(), host.disk.index_path);
  rpc::ServerOptions server_options;
  server_options.clock = host.clock.get();
  server_options.network = &network_.node(host.name);
  server_options.address = host.name;
  server_options.port = kRpcPort;
  started_process->server = std::make_unique<rpc::RpcServer>(sim_.executor(), server_options);
  started_process->service->register_with(*started_process->server);
  TESS_CO_RETURN_IF_ERROR(started_process->server->start());
  // Without etcd (out of reach for this host) the process serves its drive anyway, with no
  // control plane, as a tessd keeps retrying; here the next restart tries again.
  auto control = co_await start_sim_control_plane(&sim_, &store_, host.name, host.clock.get(),
                                                  kLeaseTtlSeconds);
  if (control.ok()) started_process->control = std::move(*control);
  sim_.trace().add("{} serves its drive{}", host.name,
                   started_process->control ? "" : " (without a control plane)");
  co_return Status();
}

// kill -9 (the page cache and the device's cache survive) or a power loss (they do not).
Task<void> ClusterWorkload::kill_process(size_t index, bool power_loss) {
  Host& host = hosts_[index];
  std::unique_ptr<Process> process = std::move(host.process);
  sim_.trace().add("{}: {}", host.name, power_loss ? "power loss" : "process killed");
  // From here the process reaches neither its drive nor its index, nor the network.
  host.disk.device.fail_next(kDeadDevice);
  host.disk.fs->set_active(false);
  network_.crash(host.name);
  if (process->control) co_await process->control->crash();
  if (process->server) co_await process->server->shutdown(Deadline::after(1s, *host.clock));
  co_await process->store->close();
  process.reset();
  if (power_loss) {
    host.disk.device.crash(/*keep_probability=*/0.5, sim_.random().next());
    host.disk.fs->simulate_power_loss(/*keep_unsynced_probability=*/0.5, sim_.random().next());
  }
  host.disk.device.fail_next(0);
  host.disk.fs->set_active(true);
}

// After a restart, straight on the store: what the clients were told must hold.
Task<Status> ClusterWorkload::check_drive_after_restart(size_t index) {
  ChunkStore& store = *hosts_[index].process->store;
  for (auto it = chunks_.begin(); it != chunks_.end();) {
    auto& [id, expected] = *it;
    if (expected.host != index) {
      ++it;
      continue;
    }
    bool found = store.find(id).has_value();
    if (!found) {
      if (expected.durable && !expected.removed && !expected.removing) {
        fail(fmt::format("{}: acknowledged durable chunk {} was lost", hosts_[index].name,
                         to_string(id)));
      }
      it = chunks_.erase(it);
      continue;
    }
    if (expected.removed) {
      fail(fmt::format("{}: removed chunk {} came back", hosts_[index].name, to_string(id)));
    }
    auto read = co_await store.read_all(id);
    bool rot_found =
        !read.ok() && read.status().code() == StatusCode::kCorruption && hosts_[index].rotted;
    if (!rot_found && (!read.ok() || !same(*read, pattern(id, expected.blocks)))) {
      fail(fmt::format("{}: chunk {} is indexed but does not read back intact: {}",
                       hosts_[index].name, to_string(id),
                       read.ok() ? "wrong bytes" : read.status().to_string()));
    }
    // Recovery made it durable.
    expected.durable = true;
    expected.maybe_present = false;
    ++it;
  }
  co_return failure_;
}

Task<Status> ClusterWorkload::form_cluster() {
  for (size_t i = 0; i < kHosts; ++i) TESS_CO_RETURN_IF_ERROR(co_await format_drive(i));
  for (size_t i = 0; i < kHosts; ++i) TESS_CO_RETURN_IF_ERROR(co_await start_process(i));
  for (int attempt = 0; attempt < 200; ++attempt) {
    (void)co_await sim_.clock().sleep_for(250ms);
    for (Host& host : hosts_) {
      ControlPlane* control = host.process->control.get();
      if (control == nullptr || !control->is_leader() ||
          control->view()->registrations.size() < kHosts) {
        continue;
      }
      Status created = co_await control->create_cluster(
          CreationRequest{.data = 3, .parity = 2, .hot_spare = 0, .bucket_count = 0});
      sim_.trace().add("create cluster on {}: {}", host.name,
                       created.ok() ? "ok" : std::string(created.message()));
      if (created.ok()) co_return Status();
    }
  }
  co_return Status(StatusCode::kInternal, "the cluster was not created within 50 s");
}

Task<void> ClusterWorkload::client_write(size_t client, size_t host) {
  ChunkId id{BucketId(static_cast<uint32_t>(host)), StripeId(next_stripe_++), 0, 0};
  uint32_t blocks = static_cast<uint32_t>(sim_.random().between(1, 16));
  bool durable = sim_.random().chance(0.7);
  chunks_[id] = Expected{host, blocks, false, true, false, false};
  Status written = co_await clients_[client * kHosts + host]->write(
      Deadline::after(kCallBudget, *client_clock_), drive_of(host), id, pattern(id, blocks),
      durable);
  if (!written.ok()) {  // It may or may not be there: the model says so already.
    ++failed_calls_[std::string(status_code_name(written.code()))];
    co_return;
  }
  ++acknowledged_writes_;
  sim_.trace().add("client {} wrote {} ({} blocks{}) to {}", client, to_string(id), blocks,
                   durable ? ", durable" : "", hosts_[host].name);
  // A restart may have dropped the entry meanwhile (the chunk was not there yet); the write,
  // acknowledged by the new process, puts it back. A removal started meanwhile keeps its mark:
  // it may have been applied after the write.
  auto [entry, inserted] =
      chunks_.try_emplace(id, Expected{host, blocks, false, true, false, false});
  entry->second.durable = durable;
  entry->second.maybe_present = !durable;
}

Task<void> ClusterWorkload::client_read(size_t client) {
  if (chunks_.empty()) co_return;
  auto it = chunks_.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(sim_.random().below(chunks_.size())));
  ChunkId id = it->first;
  Expected expected = it->second;
  auto read = co_await clients_[client * kHosts + expected.host]->read(
      Deadline::after(kCallBudget, *client_clock_), drive_of(expected.host), id);
  if (read.ok()) {
    if (!same(*read, pattern(id, expected.blocks))) {
      fail(fmt::format("client {} read wrong bytes from chunk {}", client, to_string(id)));
    }
    ++verified_reads_;
    co_return;
  }
  StatusCode code = read.status().code();
  bool network = code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded ||
                 code == StatusCode::kBusy;
  if (network) co_return;
  if (code == StatusCode::kCorruption && hosts_[expected.host].rotted) co_return;
  if (code != StatusCode::kNotFound) {
    fail(fmt::format("client {} reading chunk {}: {}", client, to_string(id),
                     read.status().to_string()));
    co_return;
  }
  // Not found: wrong only if the chunk was acknowledged durable before the read was sent and no
  // removal of it has started since (a restart's check may also have dropped it from the model).
  auto now = chunks_.find(id);
  bool durable_when_sent =
      expected.durable && !expected.maybe_present && !expected.removed && !expected.removing;
  bool removal_started = now == chunks_.end() || now->second.removed || now->second.removing;
  if (durable_when_sent && !removal_started) {
    fail(fmt::format("durable chunk {} answered not found", to_string(id)));
  }
}

Task<void> ClusterWorkload::client_remove(size_t client) {
  if (chunks_.empty()) co_return;
  auto it = chunks_.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(sim_.random().below(chunks_.size())));
  ChunkId id = it->first;
  if (it->second.removed || it->second.removing) co_return;
  size_t host = it->second.host;
  it->second.removing = true;
  Status removed = co_await clients_[client * kHosts + host]->remove(
      Deadline::after(kCallBudget, *client_clock_), drive_of(host), id);
  auto now = chunks_.find(id);
  if (now == chunks_.end()) co_return;
  if (removed.ok()) {
    now->second.removed = true;
    now->second.removing = false;
  }
  // Otherwise it stays `removing`: it may or may not have happened.
}

Task<void> ClusterWorkload::client_loop(size_t client) {
  ++clients_running_;
  while (!clients_stop_) {
    uint64_t dice = sim_.random().below(100);
    if (dice < 45) {
      co_await client_write(client, sim_.random().below(kHosts));
    } else if (dice < 90) {
      co_await client_read(client);
    } else {
      co_await client_remove(client);
    }
    (void)co_await client_clock_->sleep_for(milliseconds(sim_.random().between(1, 200)));
  }
  --clients_running_;
}

Task<Status> ClusterWorkload::chaos_step() {
  SimRandom& random = sim_.random();
  size_t index = random.below(kHosts);
  Host& host = hosts_[index];
  size_t up = 0;
  for (const Host& h : hosts_) up += h.process ? 1 : 0;
  switch (random.below(8)) {
    case 0:
    case 1:  // kill -9 or power loss, then a restart a little later.
      if (!host.process || up <= kHosts / 2 + 1) break;
      co_await kill_process(index, /*power_loss=*/random.chance(0.4));
      (void)co_await sim_.clock().sleep_for(milliseconds(random.between(10, 7000)));
      TESS_CO_RETURN_IF_ERROR(co_await start_process(index));
      break;
    case 2: {  // The clients lose one host, both ways or one way.
      bool one_way = random.chance(0.5);
      auto duration = milliseconds(random.between(100, 12000));
      sim_.trace().add("partition client {} {} for {} ms", one_way ? "->" : "<->", host.name,
                       duration.count());
      if (one_way) {
        network_.partition_one_way("client", host.name);
      } else {
        network_.partition("client", host.name);
      }
      (void)co_await sim_.clock().sleep_for(duration);
      network_.heal();
      break;
    }
    case 3: {  // Two hosts lose each other.
      size_t other = (index + 1 + random.below(kHosts - 1)) % kHosts;
      auto duration = milliseconds(random.between(100, 8000));
      sim_.trace().add("partition {} <-> {} for {} ms", host.name, hosts_[other].name,
                       duration.count());
      network_.partition(host.name, hosts_[other].name);
      (void)co_await sim_.clock().sleep_for(duration);
      network_.heal();
      break;
    }
    case 4: {  // A link stalls.
      auto duration = milliseconds(random.between(50, 3000));
      sim_.trace().add("client <-> {} stalls for {} ms", host.name, duration.count());
      network_.stall("client", host.name, duration);
      break;
    }
    case 5: {  // The host's etcd stalls or fails.
      auto duration = milliseconds(random.between(200, 8000));
      auto fault =
          random.chance(0.5) ? FakeConfigStore::Fault::kStall : FakeConfigStore::Fault::kFail;
      sim_.trace().add("{}: etcd {} for {} ms", host.name,
                       fault == FakeConfigStore::Fault::kStall ? "stalls" : "fails",
                       duration.count());
      store_.set_fault(host.name, fault);
      (void)co_await sim_.clock().sleep_for(duration);
      store_.set_fault(host.name, FakeConfigStore::Fault::kNone);
      break;
    }
    case 6:  // etcd ends a lease early.
      sim_.trace().add("etcd ends the leases of {} early ({} ended)", host.name,
                       store_.expire_leases_of(host.name));
      break;
    case 7:  // Bit rot: a block of the drive's used region changes behind the store's back.
      if (host.process && random.chance(0.3)) co_await rot_a_block(index);
      break;
  }
  (void)co_await sim_.clock().sleep_for(milliseconds(random.between(100, 1500)));
  co_return failure_;
}

Task<void> ClusterWorkload::rot_a_block(size_t index) {
  Host& host = hosts_[index];
  const ChunkStore& store = *host.process->store;
  // The allocator fills the data area from its start: aim at the part in use (or just past it).
  uint64_t used_blocks = store.stats().used_bytes / kBlockSize;
  uint64_t block = store.superblock().data_start_block + sim_.random().below(used_blocks + 8);
  Buffer garbage = Buffer::allocate(kBlockSize);
  auto* words = reinterpret_cast<uint64_t*>(garbage.data());
  for (size_t i = 0; i < kBlockSize / sizeof(uint64_t); ++i) words[i] = sim_.random().next();
  host.rotted = true;
  sim_.trace().add("{}: bit rot in block {}", host.name, block);
  (void)co_await host.disk.device.write(block * kBlockSize, garbage.span());
  (void)co_await host.disk.device.flush();
}

Task<Status> ClusterWorkload::heal_and_check() {
  clients_stop_ = true;
  while (clients_running_ > 0) (void)co_await sim_.clock().sleep_for(100ms);
  sim_.trace().add("healing: network, etcd, every process up");
  network_.heal();
  for (Host& host : hosts_) store_.set_fault(host.name, FakeConfigStore::Fault::kNone);
  for (size_t i = 0; i < kHosts; ++i) {
    if (!hosts_[i].process) {
      TESS_CO_RETURN_IF_ERROR(co_await start_process(i));
    } else if (!hosts_[i].process->control) {
      // Its control plane never started: restart the process so that it joins.
      co_await kill_process(i, /*power_loss=*/false);
      TESS_CO_RETURN_IF_ERROR(co_await start_process(i));
    }
  }
  (void)co_await sim_.clock().sleep_for(3 * std::chrono::seconds(kLeaseTtlSeconds) + 5s);
  // Every durable chunk, through the network.
  uint64_t checked = 0;
  for (const auto& [id, expected] : chunks_) {
    if (!expected.durable || expected.removed || expected.removing) continue;
    auto read = co_await clients_[expected.host]->read(Deadline::after(10s, *client_clock_),
                                                       drive_of(expected.host), id);
    bool rot_found = !read.ok() && read.status().code() == StatusCode::kCorruption &&
                     hosts_[expected.host].rotted;
    if (!rot_found && (!read.ok() || !same(*read, pattern(id, expected.blocks)))) {
      fail(fmt::format("at the end, durable chunk {} on {} does not read back: {}", to_string(id),
                       hosts_[expected.host].name,
                       read.ok() ? "wrong bytes" : read.status().to_string()));
    }
    ++checked;
  }
  // The control planes: one leader, every host up with its current incarnation.
  const ControlPlane* leader = nullptr;
  for (const Host& host : hosts_) {
    if (host.process->control->is_leader()) leader = host.process->control.get();
  }
  if (leader == nullptr) fail("no management leader at the end");
  if (leader != nullptr && leader->view()->map) {
    for (const Host& host : hosts_) {
      const ControlPlane& control = *host.process->control;
      if (control.view()->leader_host_id != leader->host_id()) {
        fail(fmt::format("{} believes host {} leads", host.name, control.view()->leader_host_id));
      }
      bool seen = false;
      for (const proto::HostEntry& entry : leader->view()->map->header.hosts()) {
        if (entry.host_id() != control.host_id()) continue;
        seen = entry.up() && entry.incarnation() == control.incarnation();
      }
      if (!seen) fail(fmt::format("the map does not show {} up as its current process", host.name));
    }
  }
  std::string failures;
  for (const auto& [code, count] : failed_calls_) failures += fmt::format(" {} {}", code, count);
  sim_.trace().add(
      "end: {} writes acknowledged, {} reads verified, {} durable chunks checked; failed writes:{}",
      acknowledged_writes_, verified_reads_, checked, failures.empty() ? " none" : failures);
  co_return failure_;
}

Task<Status> ClusterWorkload::run() {
  TESS_CO_RETURN_IF_ERROR(co_await form_cluster());
  for (size_t c = 0; c < kClients; ++c) {
    spawn_detached(sim_.executor(), client_loop(c), "simulated client");
  }
  auto chaos_end = sim_.clock().now() + kChaos;
  while (sim_.clock().now() < chaos_end) TESS_CO_RETURN_IF_ERROR(co_await chaos_step());
  Status result = co_await heal_and_check();
  co_return result;
}

void ClusterWorkload::on_exit() {
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

Status ClusterWorkload::check_invariants() {
  if (!failure_.ok()) return failure_;
  return map_writes_.check_new_writes(store_, sim_.trace());
}

}  // namespace

std::unique_ptr<Workload> make_cluster_workload(Simulation& simulation) {
  return std::make_unique<ClusterWorkload>(simulation);
}

}  // namespace tessera::sim
