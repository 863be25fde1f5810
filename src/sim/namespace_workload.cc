#include "sim/namespace_workload.h"

#include <cerrno>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "bucket/bucket_client.h"
#include "bucket/bucket_host.h"
#include "client/namespace_client.h"
#include "drive/fault_injection_fs.h"
#include "meta/bucket_transport.h"
#include "meta/keys.h"
#include "meta/namespace_check.h"
#include "meta/namespace_handler.h"
#include "meta/txn_recovery.h"
#include "rpc/server.h"
#include "rpc/sim_network.h"
#include "sim/namespace_model.h"

namespace tessera::sim {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr size_t kHosts = 3;
constexpr uint32_t kBuckets = 4;
constexpr size_t kClients = 3;
constexpr uint16_t kPort = 7600;
constexpr FilesystemId kFs{1};
constexpr auto kChaos = 3s;
constexpr auto kOpBudget = 3s;
constexpr uint64_t kUnixEpochMs = 1'764'000'000'000;
constexpr ClusterUuid kCluster = {0x4e, 0x53, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
const char* const kNames[] = {"a", "b", "c", "d", "e"};

std::string host_name(size_t index) { return fmt::format("h{}", index + 1); }
HostId host_id(size_t index) { return HostId(static_cast<uint32_t>(index + 1)); }

using Position = std::pair<uint32_t, uint64_t>;    // (bucket, log index)
using RequestKey = std::pair<uint64_t, uint64_t>;  // (session, request)
using TxnKey = std::pair<uint32_t, uint64_t>;      // (coordinator, begin index)

TxnKey txn_key(const proto::TxnId& id) { return {id.coordinator(), id.begin_index()}; }

// Every bucket on every host.
class Directory final : public bucket::BucketDirectory {
 public:
  std::vector<HostId> replicas(BucketId) const override {
    std::vector<HostId> hosts;
    for (size_t i = 0; i < kHosts; ++i) hosts.push_back(host_id(i));
    return hosts;
  }
  std::optional<bucket::PeerAddress> address(HostId host) const override {
    return bucket::PeerAddress{host_name(host.value() - 1), kPort};
  }
  Task<Status> refresh(Deadline) override { co_return Status(); }
};

class NamespaceWorkload;

// The namespace handler of every replica, with the workload watching each apply.
class Recorder final : public bucket::CommandHandler {
 public:
  explicit Recorder(NamespaceWorkload* workload) : workload_(workload) {}
  Result<proto::MetaResult> execute(bucket::StateStore& store, const bucket::ApplyContext& context,
                                    const proto::MetaCommand& command) override;
  Result<proto::MetaResult> execute_txn(bucket::StateStore& store,
                                        const bucket::ApplyContext& context,
                                        const proto::MetaTxnCommand& command) override;
  Result<proto::MetaResult> read(bucket::StateStore& store, BucketId bucket,
                                 const proto::MetaRead& read) override {
    return inner_.read(store, bucket, read);
  }

 private:
  meta::NamespaceHandler inner_;
  NamespaceWorkload* workload_;
};

class NamespaceWorkload final : public Workload {
 public:
  explicit NamespaceWorkload(Simulation& simulation);
  Task<Status> run() override;
  Status check_invariants() override { return failure_; }
  void on_exit() override;

  void on_command(const bucket::ApplyContext& context, const proto::MetaCommand& command,
                  const proto::MetaResult& result);
  void on_txn(const bucket::ApplyContext& context, const proto::MetaTxnCommand& command,
              const proto::MetaResult& result);

 private:
  // One tessd's compute role: what a kill -9 throws away.
  struct Process {
    std::unique_ptr<bucket::BucketHost> host;
    std::unique_ptr<rpc::RpcServer> server;
    std::unique_ptr<bucket::BucketClient> client;
    std::unique_ptr<meta::BucketTransport> transport;
    std::unique_ptr<meta::RecoveryLoop> recovery;
    bool dying = false;  // Killed: its recovery starts nothing more.
  };
  struct Host {
    std::unique_ptr<DriftingClock> clock;
    std::unique_ptr<FaultInjectionFs> fs;
    std::unique_ptr<Process> process;  // Null while down.
    uint64_t boots = 0;
    bool busy = false;  // Being killed or restarted: nobody else touches it meanwhile.
  };
  struct Client {
    std::string node;
    std::unique_ptr<bucket::BucketClient> buckets;
    std::unique_ptr<client::NamespaceClient> ns;
  };
  // What the buckets applied for one client request.
  struct Request {
    proto::MetaCommand command;
    Position executed;                        // Where the handler ran it.
    std::optional<proto::MetaResult> answer;  // Its final answer, once settled.
  };

  // Starts the host's process: opens its store, serves, holds every bucket once they are founded,
  // and recovers transactions. On failure the process may be partly up (restart_host).
  Task<Status> start_host(size_t index);
  Task<void> kill_host(size_t index, bool power_loss);
  // Kills what runs of the host and starts it again, until it starts (at most 10 times).
  Task<Status> restart_host(size_t index);
  bool has_failed(size_t index) const;
  Task<Status> supervise();
  // Runs supervise() every 100 ms until supervisor_stop_, as systemd watches tessd.
  Task<void> supervisor_loop();
  Task<Status> chaos_step();
  void new_session(size_t index);
  Task<void> client_loop(size_t index);
  proto::MetaCommand random_command();
  void check_answer(const Client& client, uint64_t session, size_t settled_before,
                    const proto::MetaCommand& command, const Result<proto::MetaResult>& answer);
  Task<Status> make_root();
  Task<Status> wait_for_recovery();
  Task<Status> compare_with_model();
  Task<Status> check_namespace();

  // Whether a later apply of `position` answered as the first did.
  bool first_apply(Position position, const std::string& result);
  void settle(RequestKey key, const proto::MetaResult& answer);
  void check_refusal(const Request& request, const proto::MetaResult& refusal, const char* where);
  void commit(const TxnKey& txn, const proto::MetaResult& answer);
  void fail(std::string what);

  Simulation& sim_;
  std::string directory_;
  rpc::SimNetwork network_;
  Recorder recorder_;
  Directory bucket_directory_;
  raft::Config founding_;
  std::vector<Host> hosts_;
  std::unique_ptr<DriftingClock> client_clock_;
  std::vector<Client> clients_;
  // Clients replaced after a call of unknown outcome; kept until the end (tasks may hold them).
  std::vector<Client> retired_clients_;
  uint64_t next_client_ = 0;
  bool clients_stop_ = false;
  size_t clients_running_ = 0;
  bool supervisor_stop_ = false;
  bool supervisor_running_ = false;

  NamespaceModel model_;
  std::map<Position, std::string> applied_;  // The first answer of every log position.
  std::map<RequestKey, Request> requests_;
  std::map<uint64_t, std::vector<proto::MetaResult>> settled_;  // Per session, in order.
  std::map<TxnKey, RequestKey> txns_;
  std::set<TxnKey> committed_;
  std::vector<InodeId> removed_dirs_;
  Status failure_;
  uint64_t operations_ = 0;
  uint64_t model_effects_ = 0;
  uint64_t unknown_outcomes_ = 0;
};

Result<proto::MetaResult> Recorder::execute(bucket::StateStore& store,
                                            const bucket::ApplyContext& context,
                                            const proto::MetaCommand& command) {
  auto result = inner_.execute(store, context, command);
  if (result.ok()) workload_->on_command(context, command, *result);
  return result;
}

Result<proto::MetaResult> Recorder::execute_txn(bucket::StateStore& store,
                                                const bucket::ApplyContext& context,
                                                const proto::MetaTxnCommand& command) {
  auto result = inner_.execute_txn(store, context, command);
  if (result.ok()) workload_->on_txn(context, command, *result);
  return result;
}

NamespaceWorkload::NamespaceWorkload(Simulation& simulation)
    : sim_(simulation),
      directory_(fmt::format("{}/tess-sim-ns-{}-{}",
                             std::filesystem::temp_directory_path().string(), getpid(),
                             simulation.options().seed)),
      network_(simulation.executor(), simulation.clock(), simulation.random().next()),
      recorder_(this) {
  // A failed store write or sync stops the process (the supervisor restarts it): rare enough
  // that the cluster makes progress between them.
  sim_.fault_points().cap("log_store.write_fails", 500);
  sim_.fault_points().cap("log_store.sync_fails", 2000);
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
  std::filesystem::create_directories(directory_, ignored);
  hosts_.resize(kHosts);
  for (Host& host : hosts_) {
    host.clock = sim_.make_host_clock(50'000);
    host.fs = std::make_unique<FaultInjectionFs>(rocksdb::FileSystem::Default(),
                                                 /*sync_to_disk=*/false);
  }
  client_clock_ = sim_.make_host_clock(50'000);
  clients_.resize(kClients);
  for (size_t c = 0; c < kClients; ++c) new_session(c);
}

void NamespaceWorkload::on_exit() {
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

void NamespaceWorkload::fail(std::string what) {
  sim_.trace().add("VIOLATION: {}", what);
  if (failure_.ok()) failure_ = Status(StatusCode::kInternal, what);
}

// ---- What the buckets applied ----

bool NamespaceWorkload::first_apply(Position position, const std::string& result) {
  auto [it, inserted] = applied_.emplace(position, result);
  if (!inserted && it->second != result) {
    fail(fmt::format("bucket {} index {}: applied again with another answer", position.first,
                     position.second));
  }
  return inserted;
}

void NamespaceWorkload::settle(RequestKey key, const proto::MetaResult& answer) {
  Request& request = requests_[key];
  if (request.answer) {
    if (request.answer->errno_value() != answer.errno_value()) {
      fail(fmt::format("request {}/{} answered {} after {}", key.first, key.second,
                       answer.errno_value(), request.answer->errno_value()));
    }
    return;
  }
  request.answer = answer;
  settled_[key.first].push_back(answer);
}

void NamespaceWorkload::check_refusal(const Request& request, const proto::MetaResult& refusal,
                                      const char* where) {
  if (model_.expect(request.command) == 0) {
    fail(fmt::format("{} refused with errno {} ({}), the model expected success: {}", where,
                     refusal.errno_value(), refusal.message(), request.command.ShortDebugString()));
  }
}

void NamespaceWorkload::on_command(const bucket::ApplyContext& context,
                                   const proto::MetaCommand& command,
                                   const proto::MetaResult& result) {
  if (!first_apply({context.bucket.value(), context.index}, result.SerializeAsString())) return;
  RequestKey key{context.session, context.request};
  auto [it, inserted] = requests_.try_emplace(key);
  Request& request = it->second;
  if (!inserted) {
    fail(fmt::format("request {}/{} executed twice: at bucket {} index {} and bucket {} index {}",
                     key.first, key.second, request.executed.first, request.executed.second,
                     context.bucket.value(), context.index));
    return;
  }
  request.command = command;
  request.executed = {context.bucket.value(), context.index};
  if (result.cross_bucket() || result.locked()) return;  // No effect (yet).
  int expected = model_.expect(command);
  if (expected != result.errno_value()) {
    fail(fmt::format("bucket {} index {}: answered errno {} ({}), the model expected {}: {}",
                     context.bucket.value(), context.index, result.errno_value(), result.message(),
                     expected, command.ShortDebugString()));
    return;
  }
  if (expected == 0) {
    if (command.has_unlink() && command.unlink().directory()) {
      // Remembered, so that clients now and then name a directory that is gone.
      const NamespaceModel::Node& parent = model_.nodes().at(InodeId(command.unlink().parent()));
      removed_dirs_.push_back(parent.entries.at(command.unlink().name()));
    }
    if (std::string why = model_.apply(command, result); !why.empty()) fail(why);
    ++model_effects_;
  }
  settle(key, result);
}

void NamespaceWorkload::commit(const TxnKey& txn, const proto::MetaResult& answer) {
  if (!committed_.insert(txn).second) return;  // A decision asked again.
  auto found = txns_.find(txn);
  if (found == txns_.end()) {
    fail(fmt::format("transaction {}/{} committed without a begin", txn.first, txn.second));
    return;
  }
  Request& request = requests_[found->second];
  if (int expected = model_.expect(request.command); expected != 0) {
    fail(fmt::format("transaction {}/{} committed, the model expected errno {}: {}", txn.first,
                     txn.second, expected, request.command.ShortDebugString()));
    return;
  }
  if (std::string why = model_.apply(request.command, answer); !why.empty()) fail(why);
  ++model_effects_;
  settle(found->second, answer);
}

void NamespaceWorkload::on_txn(const bucket::ApplyContext& context,
                               const proto::MetaTxnCommand& command,
                               const proto::MetaResult& result) {
  if (!first_apply({context.bucket.value(), context.index}, result.SerializeAsString())) return;
  bool refused = result.errno_value() != 0 && !result.locked();
  if (command.has_begin()) {
    RequestKey key{command.begin().session(), command.begin().request()};
    auto request = requests_.find(key);
    if (request == requests_.end()) {
      fail(fmt::format("a transaction began for request {}/{}, never applied", key.first,
                       key.second));
      return;
    }
    if (result.has_pending()) {
      txns_.emplace(txn_key(result.pending()), key);
    } else if (refused) {
      check_refusal(request->second, result, "a transaction's begin");
      settle(key, result);
    }
    return;
  }
  if (command.has_prepare() && refused) {
    auto txn = txns_.find(txn_key(command.prepare().id()));
    if (txn == txns_.end()) return fail("a prepare for a transaction that never began");
    check_refusal(requests_[txn->second], result, "a transaction's prepare");
    return;
  }
  if (!command.has_decide()) return;
  if (result.txn().state() == proto::TXN_STATE_COMMITTED) {
    commit(txn_key(command.decide().id()), result);
  } else if (refused) {
    // Aborted with a participant's refusal: that is the request's answer (a begin asked again
    // answers it as well).
    auto txn = txns_.find(txn_key(command.decide().id()));
    if (txn != txns_.end()) settle(txn->second, result);
  }
}

// ---- Hosts ----

Task<Status> NamespaceWorkload::start_host(size_t index) {
  Host& host = hosts_[index];
  const Clock* clock = host.clock.get();
  bucket::BucketHostOptions o;
  o.clock = clock;
  o.network = &network_.node(host_name(index));
  o.host = host_id(index);
  o.cluster = kCluster;
  o.path = fmt::format("{}/{}", directory_, host_name(index));
  o.store.simulation = true;
  o.store.clock = clock;
  o.store.env = host.fs->env();
  o.store.boot_id.fill(static_cast<uint8_t>(1 + host.boots));
  o.store.boot_id[0] = static_cast<uint8_t>(index + 1);
  o.store.store_id_seed = 500 + index;
  o.store.now_unix_ms = kUnixEpochMs;
  o.store.memtable_bytes = uint64_t{1} * 1024 * 1024;
  o.seed = sim_.random().next();
  o.replica.command_handler = &recorder_;
  o.replica.unix_ms = [clock] {
    return kUnixEpochMs +
           static_cast<uint64_t>(
               std::chrono::duration_cast<milliseconds>(clock->now().time_since_epoch()).count());
  };
  auto opened = co_await bucket::BucketHost::open(sim_.executor(), o, [](HostId peer) {
    return std::optional(bucket::PeerAddress{host_name(peer.value() - 1), kPort});
  });
  if (!opened.ok()) co_return opened.status();
  // From here a failure leaves the process up for kill_host to tear down.
  host.process = std::make_unique<Process>();
  Process* process = host.process.get();
  process->host = std::move(*opened);
  rpc::ServerOptions s;
  s.clock = clock;
  s.network = &network_.node(host_name(index));
  s.port = kPort;
  process->server = std::make_unique<rpc::RpcServer>(sim_.executor(), s);
  process->host->register_handlers(*process->server);
  TESS_CO_RETURN_IF_ERROR(process->server->start());
  if (founding_.voters.size() == kHosts) {
    for (uint32_t b = 0; b < kBuckets; ++b) {
      TESS_CO_RETURN_IF_ERROR(co_await process->host->ensure_replica(BucketId(b), founding_));
    }
  }
  bucket::BucketClientOptions client;
  client.clock = clock;
  client.network = &network_.node(host_name(index));
  client.session = (uint64_t{index + 1} << 40) | (host.boots + 1);
  process->client =
      std::make_unique<bucket::BucketClient>(sim_.executor(), bucket_directory_, client);
  process->transport = std::make_unique<meta::BucketTransport>(*process->client);
  meta::RecoveryLoopOptions recovery;
  recovery.clock = clock;
  recovery.unix_ms = o.replica.unix_ms;
  recovery.interval = 500ms;
  recovery.txn_timeout = 2s;
  recovery.bucket_timeout = 1s;
  process->recovery = std::make_unique<meta::RecoveryLoop>(
      sim_.executor(), *process->transport,
      [process](uint64_t before_log_ms) {
        if (process->dying) return std::vector<BucketId>();
        return meta::buckets_to_recover(*process->host, before_log_ms);
      },
      recovery);
  process->recovery->start();
  co_return Status();
}

// kill -9 (the page cache survives) or a power loss (unsynced writes may be lost).
Task<void> NamespaceWorkload::kill_host(size_t index, bool power_loss) {
  Host& host = hosts_[index];
  std::unique_ptr<Process> process = std::move(host.process);
  sim_.trace().add("{}: {}", host_name(index), power_loss ? "power loss" : "process killed");
  // From here the process reaches neither its files nor the network; its replicas stop before
  // anything else can run, as under kill -9.
  process->dying = true;
  network_.crash(host_name(index));
  host.fs->set_active(false);
  if (process->client) process->client->close();
  (void)co_await process->host->shutdown(/*clean=*/false);
  if (process->recovery) co_await process->recovery->stop();
  if (process->server) co_await process->server->shutdown(Deadline::after(1s, *host.clock));
  process.reset();
  if (power_loss) {
    TESS_COVER("namespace_sim.power_loss");
    host.fs->simulate_power_loss(/*keep_unsynced_probability=*/0.5, sim_.random().next());
    ++host.boots;
  }
  host.fs->set_active(true);
}

Task<Status> NamespaceWorkload::restart_host(size_t index) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (hosts_[index].process) co_await kill_host(index, /*power_loss=*/false);
    Status started = co_await start_host(index);
    if (started.ok()) co_return started;
    sim_.trace().add("{} failed to start: {}", host_name(index), started.to_string());
  }
  co_return error(StatusCode::kUnavailable, "{} failed to start 10 times", host_name(index));
}

bool NamespaceWorkload::has_failed(size_t index) const {
  const Process* process = hosts_[index].process.get();
  if (process == nullptr) return false;
  if (!process->host->store().failure().ok()) return true;
  for (const bucket::ReplicaStatus& replica : process->host->status()) {
    if (replica.broken) return true;
  }
  return false;
}

// A process whose log store failed (injected write and sync failures) stops, and its supervisor
// starts it again, as systemd restarts tessd.
Task<Status> NamespaceWorkload::supervise() {
  for (size_t i = 0; i < kHosts; ++i) {
    if (hosts_[i].busy || !has_failed(i)) continue;
    TESS_COVER("namespace_sim.failed_store_restarted");
    sim_.trace().add("{}: its log store failed; restarting it", host_name(i));
    hosts_[i].busy = true;
    Status restarted = co_await restart_host(i);
    hosts_[i].busy = false;
    TESS_CO_RETURN_IF_ERROR(restarted);
  }
  co_return Status();
}

Task<void> NamespaceWorkload::supervisor_loop() {
  while (!supervisor_stop_ && failure_.ok()) {
    Status supervised = co_await supervise();
    if (!supervised.ok()) fail(supervised.to_string());
    (void)co_await sim_.clock().sleep_for(100ms);
  }
  supervisor_running_ = false;
}

Task<Status> NamespaceWorkload::chaos_step() {
  SimRandom& random = sim_.random();
  size_t index = random.below(kHosts);
  bool all_up = true;
  for (const Host& h : hosts_) all_up = all_up && h.process != nullptr && !h.busy;
  switch (random.below(6)) {
    case 0:
    case 1: {  // kill -9 or power loss of one host (a majority stays), restarted a little later.
      if (!all_up) break;
      hosts_[index].busy = true;
      co_await kill_host(index, /*power_loss=*/random.chance(0.4));
      (void)co_await sim_.clock().sleep_for(milliseconds(random.between(10, 4000)));
      Status restarted = co_await restart_host(index);
      hosts_[index].busy = false;
      TESS_CO_RETURN_IF_ERROR(restarted);
      TESS_COVER("namespace_sim.host_restarted");
      break;
    }
    case 2: {  // A client loses a host, both ways or one way.
      const std::string& client = clients_[random.below(kClients)].node;
      bool one_way = random.chance(0.5);
      auto duration = milliseconds(random.between(100, 5000));
      sim_.trace().add("partition {} {} {} for {} ms", client, one_way ? "->" : "<->",
                       host_name(index), duration.count());
      if (one_way) {
        network_.partition_one_way(client, host_name(index));
      } else {
        network_.partition(client, host_name(index));
      }
      (void)co_await sim_.clock().sleep_for(duration);
      network_.heal();
      break;
    }
    case 3: {  // Two hosts lose each other.
      size_t other = (index + 1 + random.below(kHosts - 1)) % kHosts;
      auto duration = milliseconds(random.between(100, 5000));
      sim_.trace().add("partition {} <-> {} for {} ms", host_name(index), host_name(other),
                       duration.count());
      network_.partition(host_name(index), host_name(other));
      (void)co_await sim_.clock().sleep_for(duration);
      network_.heal();
      break;
    }
    case 4: {  // A client is cut off from everything for longer than its deadline: whatever
               // transaction it drives is left to the leaders' recovery.
      const std::string& client = clients_[random.below(kClients)].node;
      auto duration = milliseconds(random.between(3500, 6000));
      sim_.trace().add("{} cut off for {} ms", client, duration.count());
      for (size_t h = 0; h < kHosts; ++h) network_.partition(client, host_name(h));
      (void)co_await sim_.clock().sleep_for(duration);
      network_.heal();
      break;
    }
    case 5: {  // A link stalls.
      auto duration = milliseconds(random.between(50, 2000));
      size_t other = (index + 1 + random.below(kHosts - 1)) % kHosts;
      sim_.trace().add("{} <-> {} stalls for {} ms", host_name(index), host_name(other),
                       duration.count());
      network_.stall(host_name(index), host_name(other), duration);
      break;
    }
  }
  (void)co_await sim_.clock().sleep_for(milliseconds(random.between(100, 1500)));
  co_return failure_;
}

// ---- Clients ----

void NamespaceWorkload::new_session(size_t index) {
  Client& client = clients_[index];
  if (client.buckets) {
    client.buckets->close();
    retired_clients_.push_back(std::move(client));
    client = Client();
  }
  client.node = fmt::format("c{}", index + 1);
  bucket::BucketClientOptions options;
  options.clock = client_clock_.get();
  options.network = &network_.node(client.node);
  options.session = (uint64_t{1} << 50) | ++next_client_;
  client.buckets =
      std::make_unique<bucket::BucketClient>(sim_.executor(), bucket_directory_, options);
  client::NamespaceClientOptions ns;
  ns.clock = client_clock_.get();
  ns.bucket_count = kBuckets;
  ns.fs = kFs;
  ns.seed = sim_.random().next();
  client.ns = std::make_unique<client::NamespaceClient>(*client.buckets, ns);
}

proto::MetaCommand NamespaceWorkload::random_command() {
  SimRandom& random = sim_.random();
  std::vector<InodeId> dirs = model_.of_type(true);
  std::vector<InodeId> files = model_.of_type(false);
  auto pick_dir = [&]() {
    if (!removed_dirs_.empty() && random.chance(0.03)) {
      return removed_dirs_[random.below(removed_dirs_.size())];
    }
    return dirs[random.below(dirs.size())];
  };
  auto name = [&]() { return std::string(kNames[random.below(std::size(kNames))]); };
  proto::MetaCommand command;
  command.set_fs(kFs.value());
  uint64_t roll = random.below(100);
  if (roll < 18) {
    proto::MetaCreate& op = *command.mutable_create();
    op.set_parent(pick_dir().value());
    op.set_name(name());
    op.set_type(proto::FILE_TYPE_DIRECTORY);
    op.set_mode(0755);
    op.set_directory_bucket(
        meta::directory_bucket(kFs, InodeId(op.parent()), op.name(), kBuckets).value());
  } else if (roll < 36) {
    proto::MetaCreate& op = *command.mutable_create();
    op.set_parent(pick_dir().value());
    op.set_name(name());
    op.set_type(proto::FILE_TYPE_REGULAR);
    op.set_mode(0644);
    op.set_exclusive(random.chance(0.7));
  } else if (roll < 50) {
    proto::MetaUnlink& op = *command.mutable_unlink();
    op.set_parent(pick_dir().value());
    op.set_name(name());
    op.set_directory(random.chance(0.4));
  } else if (roll < 80) {
    proto::MetaRename& op = *command.mutable_rename();
    op.set_parent(pick_dir().value());
    op.set_name(name());
    op.set_new_parent(random.chance(0.3) ? op.parent() : pick_dir().value());
    op.set_new_name(name());
    uint64_t flags = random.below(10);
    op.set_flags(flags == 0 ? 1u : flags == 1 ? 2u : 0u);
  } else if (roll < 92) {
    proto::MetaLink& op = *command.mutable_link();
    bool directory = files.empty() || random.chance(0.1);
    op.set_inode(directory ? pick_dir().value() : files[random.below(files.size())].value());
    op.set_new_parent(pick_dir().value());
    op.set_new_name(name());
  } else {
    proto::MetaSetattr& op = *command.mutable_setattr();
    bool directory = files.empty() || random.chance(0.5);
    op.set_inode(directory ? pick_dir().value() : files[random.below(files.size())].value());
    op.set_valid(1);  // FATTR_MODE
    op.set_mode(static_cast<uint32_t>(0600 + random.below(0200)));
  }
  return command;
}

void NamespaceWorkload::check_answer(const Client& client, uint64_t session, size_t settled_before,
                                     const proto::MetaCommand& command,
                                     const Result<proto::MetaResult>& answer) {
  ++operations_;
  if (!answer.ok()) {
    ++unknown_outcomes_;
    return;
  }
  if (answer->locked()) return;  // Gave up retrying within the deadline: nothing happened.
  const std::vector<proto::MetaResult>& settled = settled_[session];
  if (settled.size() > settled_before) {
    const proto::MetaResult& applied = settled.back();
    if (applied.errno_value() != answer->errno_value() ||
        applied.inode().id() != answer->inode().id()) {
      fail(
          fmt::format("{} was answered errno {} inode {:x}, its request was applied with errno {} "
                      "inode {:x}: {}",
                      client.node, answer->errno_value(), answer->inode().id(),
                      applied.errno_value(), applied.inode().id(), command.ShortDebugString()));
    }
    return;
  }
  // No apply answered it: a refusal a transaction's plan found in its reads, or a rename of a
  // name onto another link of the same inode (nothing to change). Anything else is an effect
  // without a linearization point.
  if (answer->errno_value() == 0 && !command.has_rename()) {
    fail(fmt::format("{} was answered success with nothing applied: {}", client.node,
                     command.ShortDebugString()));
  }
}

Task<void> NamespaceWorkload::client_loop(size_t index) {
  ++clients_running_;
  while (!clients_stop_ && failure_.ok()) {
    proto::MetaCommand command = random_command();
    Client& client = clients_[index];
    uint64_t session = client.buckets->session();
    size_t settled_before = settled_[session].size();
    auto answer = co_await client.ns->mutate(command, Deadline::after(kOpBudget, *client_clock_));
    check_answer(clients_[index], session, settled_before, command, answer);
    // After an unknown outcome, a late apply of that request must not be taken for the next
    // call's answer: the next call gets a session of its own.
    if (!answer.ok()) new_session(index);
    (void)co_await client_clock_->sleep_for(milliseconds(sim_.random().between(0, 40)));
  }
  --clients_running_;
}

Task<Status> NamespaceWorkload::make_root() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    proto::Caller root_caller;
    auto made =
        co_await clients_[0].ns->root(root_caller, Deadline::after(kOpBudget, *client_clock_));
    if (made.ok() && made->errno_value() == 0) co_return Status();
    TESS_CO_RETURN_IF_ERROR(co_await supervise());
    (void)co_await client_clock_->sleep_for(500ms);
  }
  co_return error(StatusCode::kUnavailable, "the root directory could not be made");
}

// ---- The end ----

Task<Status> NamespaceWorkload::wait_for_recovery() {
  auto clock = hosts_[0].clock.get();
  Clock::TimePoint give_up = clock->now() + 60s;
  while (true) {
    TESS_CO_RETURN_IF_ERROR(co_await supervise());
    meta::BucketTransport& transport = *hosts_[0].process->transport;
    std::string left;
    for (uint32_t b = 0; b < kBuckets; ++b) {
      proto::MetaRead list;
      list.mutable_list_intents()->set_before_log_ms(UINT64_MAX);
      auto listed = co_await transport.read(BucketId(b), list, Deadline::after(2s, *clock));
      if (!listed.ok()) left += fmt::format(" bucket {}: {};", b, listed.status().to_string());
      if (!listed.ok()) continue;
      for (const proto::TxnIntent& intent : listed->intents()) {
        left += fmt::format(" bucket {}: txn {}/{} state {} log time {};", b,
                            intent.id().coordinator(), intent.id().begin_index(),
                            static_cast<int>(intent.state()), intent.log_time_ms());
      }
    }
    if (left.empty()) co_return Status();
    if (clock->now() > give_up) {
      co_return error(StatusCode::kInternal, "intents left 60 s after healing:{}", left);
    }
    (void)co_await clock->sleep_for(500ms);
  }
}

Task<Status> NamespaceWorkload::compare_with_model() {
  client::NamespaceClient& ns = *clients_[0].ns;
  auto deadline = [this] { return Deadline::after(10s, *client_clock_); };
  for (const auto& [id, node] : model_.nodes()) {
    proto::MetaRead getattr;
    getattr.mutable_getattr()->set_inode(id.value());
    TESS_CO_ASSIGN_OR_RETURN(auto attributes, co_await ns.read(getattr, deadline()));
    if (attributes.errno_value() != 0 || attributes.inode().type() != node.type ||
        attributes.inode().nlink() != node.nlink ||
        (node.type == proto::FILE_TYPE_DIRECTORY && id != *model_.root() &&
         attributes.inode().parent() != node.parent.value())) {
      co_return error(StatusCode::kInternal,
                      "inode {:x}: the buckets answer errno {} type {} nlink {} parent {:x}, the "
                      "model type {} nlink {} parent {:x}",
                      id.value(), attributes.errno_value(),
                      static_cast<int>(attributes.inode().type()), attributes.inode().nlink(),
                      attributes.inode().parent(), static_cast<int>(node.type), node.nlink,
                      node.parent.value());
    }
    if (node.type != proto::FILE_TYPE_DIRECTORY) continue;
    std::map<std::string, InodeId> entries;
    uint64_t cookie = 0;
    for (int page = 0; page < 100; ++page) {
      proto::MetaRead readdir;
      readdir.mutable_readdir()->set_dir(id.value());
      readdir.mutable_readdir()->set_cookie(cookie);
      readdir.mutable_readdir()->set_limit(3);
      TESS_CO_ASSIGN_OR_RETURN(auto listed, co_await ns.read(readdir, deadline()));
      if (listed.errno_value() != 0) {
        co_return error(StatusCode::kInternal, "readdir {:x}: errno {}", id.value(),
                        listed.errno_value());
      }
      for (const proto::MetaDirEntry& e : listed.entries()) {
        if (e.name() == "." || e.name() == "..") continue;
        entries[e.name()] = InodeId(e.inode());
        cookie = e.cookie();
      }
      if (listed.end()) break;
    }
    if (entries != node.entries) {
      std::string have;
      for (const auto& [name, inode] : entries)
        have += fmt::format(" {}={:x}", name, inode.value());
      std::string want;
      for (const auto& [name, inode] : node.entries) {
        want += fmt::format(" {}={:x}", name, inode.value());
      }
      co_return error(StatusCode::kInternal, "directory {:x} holds{}, the model{}", id.value(),
                      have, want);
    }
  }
  co_return Status();
}

// The checker behind `tess fsck` on the quiet, healed namespace: clean in one pass, and its
// inventory holds exactly the model's inodes (none leaked by a transaction that lost its way).
Task<Status> NamespaceWorkload::check_namespace() {
  meta::CheckOptions options;
  options.fs = kFs;
  options.bucket_count = kBuckets;
  options.clock = client_clock_.get();
  options.unix_ms = [clock = client_clock_.get()] {
    return kUnixEpochMs +
           static_cast<uint64_t>(
               std::chrono::duration_cast<milliseconds>(clock->now().time_since_epoch()).count());
  };
  options.page = 4;
  TESS_CO_ASSIGN_OR_RETURN(meta::CheckReport report,
                           co_await meta::check_namespace(clients_[0].ns->transport(), options,
                                                          Deadline::after(60s, *client_clock_)));
  if (!report.clean() || report.passes != 1) {
    std::string findings;
    for (const meta::Finding& finding : report.findings) findings += " " + finding.identity();
    co_return error(StatusCode::kInternal, "the namespace check found {} ({} passes):{}",
                    report.findings_total, report.passes, findings);
  }
  if (report.inodes_listed != model_.nodes().size()) {
    co_return error(StatusCode::kInternal, "the buckets hold {} inodes, the model {}",
                    report.inodes_listed, model_.nodes().size());
  }
  // The usage counters, changed in the same batches as the inodes through every crash and
  // transaction, count every inode but the root.
  uint64_t files = 0;
  for (uint32_t b = 0; b < kBuckets; ++b) {
    proto::MetaRead read;
    read.mutable_usage();
    TESS_CO_ASSIGN_OR_RETURN(proto::MetaResult answer,
                             co_await clients_[0].ns->transport().read(
                                 BucketId(b), read, Deadline::after(10s, *client_clock_)));
    for (const proto::MetaUsageRow& row : answer.usage()) {
      if (row.fs() == kFs.value()) files += row.usage().files();
    }
  }
  if (files + 1 != model_.nodes().size()) {
    co_return error(StatusCode::kInternal,
                    "the usage counters count {} files, the model {} and a root", files,
                    model_.nodes().size() - 1);
  }
  co_return Status();
}

Task<Status> NamespaceWorkload::run() {
  // Open every host, then found the buckets on all three with one configuration.
  for (size_t i = 0; i < kHosts; ++i) TESS_CO_RETURN_IF_ERROR(co_await restart_host(i));
  for (size_t i = 0; i < kHosts; ++i) founding_.voters.push_back(hosts_[i].process->host->self());
  std::sort(founding_.voters.begin(), founding_.voters.end());
  for (size_t i = 0; i < kHosts; ++i) {
    for (uint32_t b = 0; b < kBuckets; ++b) {
      Status founded = co_await hosts_[i].process->host->ensure_replica(BucketId(b), founding_);
      if (founded.ok()) continue;
      // A restart founds every bucket (start_host, now that the configuration is known).
      sim_.trace().add("{}: founding failed: {}", host_name(i), founded.to_string());
      TESS_CO_RETURN_IF_ERROR(co_await restart_host(i));
      break;
    }
  }
  TESS_CO_RETURN_IF_ERROR(co_await make_root());
  if (!model_.root()) co_return error(StatusCode::kInternal, "the root was made but not applied");

  for (size_t c = 0; c < kClients; ++c) {
    spawn_detached(sim_.executor(), client_loop(c), "namespace sim: client");
  }
  supervisor_running_ = true;
  spawn_detached(sim_.executor(), supervisor_loop(), "namespace sim: supervisor");
  Clock::TimePoint chaos_end = sim_.clock().now() + kChaos;
  while (sim_.clock().now() < chaos_end && failure_.ok()) {
    TESS_CO_RETURN_IF_ERROR(co_await chaos_step());
  }
  clients_stop_ = true;
  supervisor_stop_ = true;
  while (supervisor_running_) (void)co_await sim_.clock().sleep_for(10ms);
  network_.heal();
  for (size_t i = 0; i < kHosts; ++i) {
    if (!hosts_[i].process) TESS_CO_RETURN_IF_ERROR(co_await restart_host(i));
  }
  while (clients_running_ > 0) (void)co_await sim_.clock().sleep_for(100ms);
  TESS_CO_RETURN_IF_ERROR(failure_);
  TESS_CO_RETURN_IF_ERROR(co_await wait_for_recovery());
  TESS_CO_RETURN_IF_ERROR(co_await compare_with_model());
  TESS_CO_RETURN_IF_ERROR(co_await check_namespace());
  sim_.trace().add("{} operations ({} of unknown outcome), {} took effect; {} inodes at the end",
                   operations_, unknown_outcomes_, model_effects_, model_.nodes().size());
  if (model_effects_ < 5) {
    co_return error(StatusCode::kInternal, "only {} operations took effect", model_effects_);
  }
  co_return failure_;
}

}  // namespace

std::unique_ptr<Workload> make_namespace_workload(Simulation& simulation) {
  return std::make_unique<NamespaceWorkload>(simulation);
}

}  // namespace tessera::sim
