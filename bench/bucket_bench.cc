// bucket_bench: replicated bucket puts on a real local cluster against one local RocksDB.
//
//   bucket_bench [--tess PATH] [--tessd PATH] [--dir DIR] [--seconds S] [--buckets N]
//                [--idle-buckets N] [--budget-s S]
//
// First the baseline: S seconds of puts (the same key and value sizes) into one RocksDB in the
// run's directory, WAL on, sync = false, from one thread. Then `tess local up` starts an 8-host
// 5+2 cluster with N buckets (binaries beside this one, or --tess / --tessd), and once every
// bucket answers a read (has a leader) and has gone back to sleep (hibernated, design 5.2), it
// measures, through BucketClient and RestBucketDirectory: the cluster's idle CPU (10 s),
// replicated puts per second with 1 caller and with 32 concurrent callers (coroutines on two
// loops, one client each), their p50 and p99 latency, and failover: kill -9 of the host leading
// one bucket, timed until a put to that bucket succeeds. Then a second cluster with
// --idle-buckets buckets (default 4,096) is started, read and let hibernate, and its idle CPU
// measured: the
// utime + stime of every tessd over 10 s of no load, as a fraction of one core.
//
// Everything it starts is stopped by PID through `tess local down --dir` (which checks each PID
// still runs the recorded command line), on success and on failure; a watchdog process does it if
// the benchmark itself dies (a crash, a signal, or the --budget-s alarm that bounds the run).
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "bench/bench_cluster.h"
#include "bench/bench_report.h"
#include "bucket/bucket_client.h"
#include "client/leader_probe.h"
#include "client/rest_bucket_directory.h"
#include "http/http.h"
#include "runtime/event_loop.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using bench::kClusterHosts;
using bench::LocalCluster;
using bench::on;
using bench::percentile;
using bench::seconds_since;
using bench::SteadyClock;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kValueBytes = 128;
constexpr uint32_t kConcurrentCallers = 32;
constexpr uint16_t kBasePort = 28000;  // The cluster tests use 20000-26799, the fault test 27000.
constexpr uint16_t kIdleBasePort = 29000;  // The second cluster's.
constexpr seconds kCpuWindow{10};

struct Options {
  std::string tess;
  std::string tessd;
  std::string dir;
  double seconds = 10;
  uint32_t buckets = 1024;
  uint32_t idle_buckets = 4096;
  uint32_t budget_s = 1500;
};

// FNV-1a: keys spread over the buckets the same way in every run.
uint64_t hash_of(const std::string& text) {
  uint64_t hash = 1469598103934665603ULL;
  for (char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::string key_of(uint32_t caller, uint64_t n) {
  return fmt::format("bench/{:02}/{:012}", caller, n);
}

double idle_cpu_core_fraction(const LocalCluster& cluster) {
  std::vector<pid_t> pids = cluster.tessd_pids();
  double before = bench::cpu_seconds(pids);
  auto start = SteadyClock::now();
  std::this_thread::sleep_for(kCpuWindow);
  return (bench::cpu_seconds(pids) - before) / seconds_since(start);
}

// Seconds until every bucket hibernated (GET /api/v1/buckets of any host says so): waiting for
// the leaders read every bucket, which woke it. kDeadlineExceeded, saying how many slept, after
// `timeout`.
Result<double> wait_for_hibernation(const LocalCluster& cluster, seconds timeout) {
  auto start = SteadyClock::now();
  std::string last = "no host answered";
  while (SteadyClock::now() - start < timeout) {
    for (std::string api : cluster.api()) {
      if (api.rfind("http://", 0) == 0) api = api.substr(7);
      std::string host;
      uint16_t port = 0;
      if (!http::split_host_port(api, &host, &port).ok()) continue;
      auto response =
          http::call(host, port, http::Request{"GET", "/api/v1/buckets", "", {}}, seconds(10));
      if (!response.ok() || response->status != 200) continue;
      json doc = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded() || !doc.contains("buckets") || !doc["buckets"].is_array()) continue;
      size_t total = doc["buckets"].size();
      size_t asleep = 0;
      for (const json& b : doc["buckets"]) {
        if (b.is_object() && b.value("hibernated", false)) ++asleep;
      }
      if (asleep == total) return seconds_since(start);
      last = fmt::format("{} of {} buckets hibernated", asleep, total);
      break;
    }
    std::this_thread::sleep_for(seconds(1));
  }
  return error(StatusCode::kDeadlineExceeded, "not every bucket hibernated within {} s: {}",
               timeout.count(), last);
}

// Waits for hibernation and reports how long it took (or why not), under `name`.
void report_hibernation(bench::Report& report, const LocalCluster& cluster,
                        const std::string& name) {
  auto asleep = wait_for_hibernation(cluster, seconds(120));
  if (asleep.ok()) {
    report.add(name, *asleep, "after the reads above, until every bucket hibernated");
  } else {
    fmt::print("  {}\n", asleep.status());
  }
}

// ---- the RocksDB baseline ---------------------------------------------------------------------

Result<double> rocksdb_puts_per_s(const std::string& path, double duration_s) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status opened = rocksdb::DB::Open(options, path, &raw);
  if (!opened.ok()) return error(StatusCode::kIoError, "rocksdb {}: {}", path, opened.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions write;
  write.sync = false;
  write.disableWAL = false;
  std::string value(kValueBytes, 'v');
  uint64_t puts = 0;
  auto start = SteadyClock::now();
  while (seconds_since(start) < duration_s) {
    for (int i = 0; i < 64; ++i) {
      rocksdb::Status put = db->Put(write, key_of(0, puts++), value);
      if (!put.ok()) return error(StatusCode::kIoError, "rocksdb put: {}", put.ToString());
    }
  }
  double rate = static_cast<double>(puts) / seconds_since(start);
  db.reset();
  std::error_code ignored;
  fs::remove_all(path, ignored);
  return rate;
}

// ---- the cluster through BucketClient -----------------------------------------------------------

// One loop's client and directory.
struct Client {
  std::unique_ptr<client::RestBucketDirectory> directory;
  std::unique_ptr<bucket::BucketClient> bucket_client;
};

Task<std::unique_ptr<bucket::BucketClient>> make_client(client::RestBucketDirectory* directory,
                                                        uint64_t session) {
  bucket::BucketClientOptions options;
  options.session = session;
  co_return std::make_unique<bucket::BucketClient>(co_await boost::asio::this_coro::executor,
                                                   *directory, options);
}

Task<void> close_client(std::unique_ptr<bucket::BucketClient> client) {
  client->close();
  client.reset();
  co_return;
}

struct PutRun {
  SteadyClock::time_point end;
  std::string value;
  uint32_t buckets = 0;
};

struct CallerStats {
  uint64_t puts = 0;
  uint64_t failures = 0;
  std::vector<float> latencies_ms;
  std::string first_error;
};

Task<void> put_loop(bucket::BucketClient* client, const PutRun* run, uint32_t caller,
                    CallerStats* stats) {
  for (uint64_t n = 0; SteadyClock::now() < run->end; ++n) {
    std::string key = key_of(caller, n);
    BucketId bucket(static_cast<uint32_t>(hash_of(key) % run->buckets));
    auto start = SteadyClock::now();
    auto put = co_await client->put(bucket, key, run->value,
                                    Deadline::after(seconds(5), RealClock::instance()));
    bool ok = put.ok() && put->status_code() == 0;
    if (ok) {
      ++stats->puts;
      stats->latencies_ms.push_back(static_cast<float>(seconds_since(start) * 1000));
    } else {
      ++stats->failures;
      if (stats->first_error.empty())
        stats->first_error = put.ok() ? put->message() : put.status().to_string();
    }
  }
}

struct PutFigures {
  double puts_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t failures = 0;
  std::string first_error;
};

// `callers` put loops, spread over the clients (one per loop), for `duration_s`.
PutFigures measure_puts(EventLoopGroup& loops, std::vector<Client>& clients, uint32_t callers,
                        double duration_s, uint32_t buckets) {
  PutRun run;
  run.value = std::string(kValueBytes, 'v');
  run.buckets = buckets;
  std::vector<CallerStats> stats(callers);
  std::vector<std::future<void>> done;
  done.reserve(callers);
  auto start = SteadyClock::now();
  run.end = start + std::chrono::duration_cast<SteadyClock::duration>(
                        std::chrono::duration<double>(duration_s));
  for (uint32_t c = 0; c < callers; ++c) {
    size_t loop = c % clients.size();
    done.push_back(boost::asio::co_spawn(
        loops.executor(loop), put_loop(clients[loop].bucket_client.get(), &run, c, &stats[c]),
        boost::asio::use_future));
  }
  for (auto& d : done) d.get();
  double elapsed = seconds_since(start);
  PutFigures figures;
  std::vector<float> latencies;
  uint64_t puts = 0;
  for (CallerStats& s : stats) {
    puts += s.puts;
    figures.failures += s.failures;
    if (figures.first_error.empty()) figures.first_error = s.first_error;
    latencies.insert(latencies.end(), s.latencies_ms.begin(), s.latencies_ms.end());
  }
  figures.puts_per_s = static_cast<double>(puts) / elapsed;
  figures.p50_ms = percentile(latencies, 0.5);
  figures.p99_ms = percentile(latencies, 0.99);
  return figures;
}

// Reads each pending bucket once (a read needs a leader); those that did not answer stay pending.
Task<void> read_some(bucket::BucketClient* client, std::vector<uint32_t> buckets, size_t* next,
                     std::vector<uint32_t>* failed) {
  while (*next < buckets.size()) {
    BucketId bucket(buckets[(*next)++]);
    auto got = co_await client->get(bucket, "bench/ready",
                                    Deadline::after(seconds(2), RealClock::instance()));
    if (!got.ok() || got->status_code() != 0) failed->push_back(bucket.value());
  }
}

// Until every bucket answers a read; the seconds it took.
Result<double> wait_for_leaders(EventLoopGroup& loops, Client& client, uint32_t buckets,
                                seconds timeout) {
  auto start = SteadyClock::now();
  std::vector<uint32_t> pending(buckets);
  for (uint32_t b = 0; b < buckets; ++b) pending[b] = b;
  while (true) {
    std::vector<uint32_t> failed;
    size_t next = 0;
    std::vector<std::future<void>> done;
    done.reserve(32);
    for (int i = 0; i < 32; ++i) {
      done.push_back(boost::asio::co_spawn(
          loops.executor(0), read_some(client.bucket_client.get(), pending, &next, &failed),
          boost::asio::use_future));
    }
    for (auto& d : done) d.get();
    if (failed.empty()) return seconds_since(start);
    if (SteadyClock::now() - start > timeout) {
      return error(StatusCode::kDeadlineExceeded,
                   "{} of {} buckets did not answer a read within {} s (first: bucket {}); does "
                   "tessd serve the buckets?",
                   failed.size(), buckets, timeout.count(), failed.front());
    }
    pending = std::move(failed);
    std::this_thread::sleep_for(milliseconds(500));
  }
}

Result<std::vector<Client>> make_clients(EventLoopGroup& loops, const LocalCluster& cluster,
                                         uint64_t first_session) {
  std::vector<Client> clients;
  for (size_t loop = 0; loop < loops.size(); ++loop) {
    Client c;
    client::RestBucketDirectoryOptions options;
    options.api = cluster.api();
    c.directory = std::make_unique<client::RestBucketDirectory>(options);
    TESS_RETURN_IF_ERROR(c.directory->load(Deadline::after(seconds(30), RealClock::instance())));
    c.bucket_client =
        on(loops.executor(loop), make_client(c.directory.get(), first_session + loop));
    clients.push_back(std::move(c));
  }
  return clients;
}

void close_clients(EventLoopGroup& loops, std::vector<Client>& clients) {
  for (size_t loop = 0; loop < clients.size(); ++loop) {
    if (clients[loop].bucket_client)
      on(loops.executor(loop), close_client(std::move(clients[loop].bucket_client)));
  }
  clients.clear();
}

Task<Status> put_once(bucket::BucketClient* client, BucketId bucket, std::string key,
                      std::string value, Deadline deadline) {
  auto put = co_await client->put(bucket, std::move(key), std::move(value), deadline);
  if (!put.ok()) co_return put.status();
  if (put->status_code() != 0) co_return Status(StatusCode::kInternal, put->message());
  co_return Status();
}

Task<Result<HostId>> leader_of(const bucket::BucketDirectory* directory, BucketId bucket) {
  co_return co_await client::probe_leader(*directory, bucket,
                                          Deadline::after(seconds(10), RealClock::instance()));
}

// kill -9 of the host leading `bucket`; the seconds until a put to it succeeds.
Result<double> failover(EventLoopGroup& loops, Client& client, LocalCluster& cluster,
                        BucketId bucket) {
  std::string value(kValueBytes, 'f');
  // A put first, so the client knows the leader it is about to lose.
  TESS_RETURN_IF_ERROR(
      on(loops.executor(0), put_once(client.bucket_client.get(), bucket, "bench/failover/0", value,
                                     Deadline::after(seconds(10), RealClock::instance()))));
  TESS_ASSIGN_OR_RETURN(HostId leader,
                        on(loops.executor(0), leader_of(client.directory.get(), bucket)));
  auto address = client.directory->address(leader);
  if (!address) return error(StatusCode::kNotFound, "host {} has no address", leader);
  TESS_RETURN_IF_ERROR(cluster.kill_host(fmt::format("{}:{}", address->host, address->port)));
  auto start = SteadyClock::now();
  fmt::print("  killed host {} (leader of bucket {}, {}:{})\n", leader, bucket, address->host,
             address->port);
  for (int attempt = 1;; ++attempt) {
    Status put =
        on(loops.executor(0),
           put_once(client.bucket_client.get(), bucket, fmt::format("bench/failover/{}", attempt),
                    value, Deadline::after(seconds(5), RealClock::instance())));
    if (put.ok()) return seconds_since(start);
    if (seconds_since(start) > 60)
      return error(StatusCode::kDeadlineExceeded, "no put to bucket {} succeeded within 60 s: {}",
                   bucket, put);
  }
}

// ---- the run --------------------------------------------------------------------------------

struct Run {
  Options options;
  std::string tess, tessd;
  std::string dir;
  bench::Report* report;
  // Figures the ratios are made of (0: not measured).
  double rocksdb_puts_per_s = 0;
  double puts_per_s_1 = 0;
  double puts_per_s_32 = 0;
};

Status measure_cluster(Run& run) {
  const Options& o = run.options;
  bench::Report& report = *run.report;
  LocalCluster cluster(run.tess, run.tessd, run.dir + "/cluster", kBasePort);
  fmt::print("starting an 8-host 5+2 cluster with {} buckets\n", o.buckets);
  TESS_RETURN_IF_ERROR(cluster.up(o.buckets));
  EventLoopGroup loops(2);
  auto made = make_clients(loops, cluster, 0x6e6e0001);
  if (!made.ok()) return made.status();
  std::vector<Client> clients = std::move(*made);
  struct CloseOnExit {
    EventLoopGroup& loops;
    std::vector<Client>& clients;
    ~CloseOnExit() { close_clients(loops, clients); }
  } close_on_exit{loops, clients};
  uint32_t buckets = static_cast<uint32_t>(clients[0].directory->bucket_count());
  auto ready = wait_for_leaders(loops, clients[0], buckets, seconds(180));
  if (!ready.ok()) return ready.status();
  report.add("leaders_ready_s", *ready,
             fmt::format("until all {} buckets answered a read", buckets));
  report_hibernation(report, cluster, "hibernated_s");
  report.add(fmt::format("idle_cpu_core_fraction_{}", buckets), idle_cpu_core_fraction(cluster),
             fmt::format("{} tessd, {} buckets, 10 s without load", kClusterHosts, buckets));

  (void)measure_puts(loops, clients, 1, 1.0, buckets);  // Warm up: connections, caches.
  PutFigures one = measure_puts(loops, clients, 1, o.seconds, buckets);
  PutFigures many = measure_puts(loops, clients, kConcurrentCallers, o.seconds, buckets);
  for (const PutFigures* f : {&one, &many}) {
    if (f->failures > 0)
      fmt::print("  {} puts failed; the first: {}\n", f->failures, f->first_error);
  }
  report.add("puts_per_s_1", one.puts_per_s, "1 caller, 128 B values (aim >= 4,000)");
  report.add("put_p50_ms_1", one.p50_ms, "1 caller");
  report.add("put_p99_ms_1", one.p99_ms, "1 caller");
  report.add("puts_per_s_32", many.puts_per_s, "32 callers on 2 loops (aim >= 20,000)");
  report.add("put_p50_ms_32", many.p50_ms, "32 callers");
  report.add("put_p99_ms_32", many.p99_ms, "32 callers");
  run.puts_per_s_1 = one.puts_per_s;
  run.puts_per_s_32 = many.puts_per_s;
  report.add("ratio_1", one.puts_per_s / run.rocksdb_puts_per_s, "1 caller / one local RocksDB");
  report.add("ratio_32", many.puts_per_s / run.rocksdb_puts_per_s,
             "32 callers / one local RocksDB");
  report.add("put_failures", static_cast<double>(one.failures + many.failures),
             "puts not acknowledged within 5 s (aim 0)");

  auto failover_s = failover(loops, clients[0], cluster, BucketId(1 % buckets));
  if (!failover_s.ok()) return failover_s.status().with_context("failover");
  report.add("failover_s", *failover_s, "kill -9 of a leader to the next put there (aim < 2)");
  close_clients(loops, clients);
  loops.stop();
  return cluster.down();
}

Status measure_idle(const Run& run) {
  const Options& o = run.options;
  bench::Report& report = *run.report;
  LocalCluster cluster(run.tess, run.tessd, run.dir + "/idle", kIdleBasePort);
  fmt::print("starting an 8-host 5+2 cluster with {} buckets\n", o.idle_buckets);
  TESS_RETURN_IF_ERROR(cluster.up(o.idle_buckets));
  EventLoopGroup loops(1);
  auto made = make_clients(loops, cluster, 0x6e6e1001);
  if (!made.ok()) return made.status();
  std::vector<Client> clients = std::move(*made);
  uint32_t buckets = static_cast<uint32_t>(clients[0].directory->bucket_count());
  auto ready = wait_for_leaders(loops, clients[0], buckets, seconds(300));
  close_clients(loops, clients);
  loops.stop();
  if (!ready.ok()) return ready.status();
  report.add("idle_cluster_leaders_ready_s", *ready,
             fmt::format("until all {} buckets answered a read", buckets));
  report_hibernation(report, cluster, "idle_cluster_hibernated_s");
  report.add(
      "idle_cpu_core_fraction", idle_cpu_core_fraction(cluster),
      fmt::format("{} tessd, {} buckets, 10 s without load (aim < 0.05)", kClusterHosts, buckets));
  return cluster.down();
}

int run(const Options& options) {
  Run r;
  r.options = options;
  auto setup = bench::prepare_run("bucket", options.tess, options.tessd, options.dir);
  if (!setup.ok()) {
    fmt::print(stderr, "bucket_bench: {}\n", setup.status());
    return 2;
  }
  r.tess = setup->tess;
  r.tessd = setup->tessd;
  r.dir = setup->dir;
  // Before any thread: the watchdog is a fork of this process.
  bench::Watchdog watchdog(r.tess, {r.dir + "/cluster", r.dir + "/idle"},
                           setup->own_dir ? r.dir : "");
  alarm(options.budget_s);  // Bounded: past the budget, the process ends and the watchdog cleans.
  fmt::print("bucket_bench: tess {}, tessd {}, in {} (budget {} s)\n", r.tess, r.tessd, r.dir,
             options.budget_s);

  bench::Report report("bucket");
  r.report = &report;
  Status failed;
  auto baseline = rocksdb_puts_per_s(r.dir + "/rocksdb", options.seconds);
  if (!baseline.ok()) {
    failed = baseline.status();
  } else {
    r.rocksdb_puts_per_s = *baseline;
    report.add("rocksdb_puts_per_s", *baseline, "one RocksDB, WAL on, sync = false, 1 thread");
    failed = measure_cluster(r);
    if (failed.ok() && options.idle_buckets > 0) failed = measure_idle(r);
  }
  alarm(0);
  watchdog.done();
  bench::finish_run(*setup);
  if (!failed.ok()) fmt::print("bucket_bench: FAILED: {}\n", failed);
  report.print_json();
  return failed.ok() ? 0 : 1;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  tessera::Options options;
  CLI::App app("bucket_bench: replicated bucket puts against one local RocksDB", "bucket_bench");
  app.add_option("--tess", options.tess, "the tess binary (default: beside this one)");
  app.add_option("--tessd", options.tessd, "the tessd binary (default: beside this one)");
  app.add_option("--dir", options.dir,
                 "where clusters and the RocksDB go (default: a new temp dir)");
  app.add_option("--seconds", options.seconds, "seconds of each put measurement")
      ->check(CLI::Range(1.0, 600.0))
      ->capture_default_str();
  app.add_option("--buckets", options.buckets, "buckets of the cluster the puts go to")
      ->capture_default_str();
  app.add_option("--idle-buckets", options.idle_buckets,
                 "buckets of the cluster whose idle CPU is measured (0: skip it)")
      ->capture_default_str();
  app.add_option("--budget-s", options.budget_s, "the whole run ends by then, cleaned up")
      ->check(CLI::Range(60u, 86400u))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  (void)tessera::init_logging({.level = "warn", .file_path = "", .process_name = "bucket_bench"});
  // Progress shows as it happens, also when the output goes to a file.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return tessera::run(options);
}
