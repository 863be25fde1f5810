// tess-kv-load: load on a cluster's buckets that checks what it is told (design 2026-11-25 §9,
// "real processes"). Run it against a running cluster while hosts fail:
//
//   tess-kv-load --api 127.0.0.1:7500 [--api ...] [--threads 4] [--duration-s 30]
//                [--keys-per-thread 64] [--op-timeout-ms 10000] [--seed N] [--json]
//   tess-kv-load --api 127.0.0.1:7500 --leaders [--bucket B]
//       (prints {"leaders": {"<bucket>": <host id or null>}}, asked of the replicas, and exits)
//
// Each thread has its own BucketClient (own random non-zero session) on its own event loop, owns
// its keys (bucket = hash(key) % bucket count, so the keys spread over the buckets) and, one
// operation at a time, writes a key of its own with the next version ("k=<key> v=<n>") or reads a
// random key of another thread. It remembers, per key, the last acknowledged version and the
// versions whose outcome is unknown (the write failed: deadline exceeded, or another error after
// which it may still have been applied); a shared per-key "acked" watermark makes every read
// checkable: a read that began after version n was acknowledged must return n or later (else a
// stale read). After --duration-s every thread reads its keys back with a long deadline: each must
// hold the last acknowledged version or a later unknown-outcome one (else a lost write).
//
// Also measured: the longest time a thread went without a successful operation
// (max_unavailable_ms), the longest a bucket went from a failed operation to the next success
// (max_bucket_unavailable_ms), latencies per operation type.
//
// Exit codes: 0 every check passed (no stale read, no lost write, every key read back, every
// value well-formed, at least one acknowledged write); 1 a check failed; 2 bad arguments or the
// cluster's bucket table could not be read.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/use_future.hpp>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "bucket/bucket_client.h"
#include "client/leader_probe.h"
#include "client/rest_bucket_directory.h"
#include "http/http.h"
#include "runtime/event_loop.h"

namespace tessera {
namespace {

using Clock = RealClock;
using std::chrono::milliseconds;

struct Options {
  std::vector<std::string> api;
  uint32_t threads = 4;
  double duration_s = 30;
  uint32_t keys_per_thread = 64;
  uint32_t op_timeout_ms = 10'000;
  uint32_t final_timeout_s = 60;  // The read-back phase, all keys together.
  uint32_t read_percent = 50;
  uint64_t seed = 0;  // 0: from the machine's randomness (printed).
  bool json = false;
  bool leaders = false;
  int64_t bucket = -1;  // --leaders of this bucket only; -1: every bucket.
};

// FNV-1a: the key's bucket is the same in every run and every process.
uint64_t hash_of(const std::string& text) {
  uint64_t hash = 1469598103934665603ULL;
  for (char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::string value_of(const std::string& key, uint64_t version) {
  return fmt::format("k={} v={}", key, version);
}

// The version a value holds: 0 for absent; nullopt if the value is not one of ours for `key`.
std::optional<uint64_t> version_of(const std::string& key, const proto::BucketResult& result) {
  if (!result.found()) return 0;
  const std::string& value = result.value();
  std::string prefix = fmt::format("k={} v=", key);
  if (value.size() <= prefix.size() || value.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  uint64_t version = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data() + prefix.size(), end, version);
  if (ec != std::errc() || ptr != end || version == 0) return std::nullopt;
  return version;
}

// A command's own answer as a Status (a code we do not know is kInternal).
Status status_of(const proto::BucketResult& result) {
  if (result.status_code() == 0) return Status();
  StatusCode code = result.status_code() < static_cast<uint32_t>(kStatusCodeCount)
                        ? static_cast<StatusCode>(result.status_code())
                        : StatusCode::kInternal;
  return Status(code, result.message());
}

double ms_between(Clock::TimePoint a, Clock::TimePoint b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Key {
  std::string name;
  BucketId bucket;
  uint32_t owner = 0;
};

// What every thread shares. The vectors are fixed before the threads start; the atomics and the
// mutex-guarded parts change.
struct Shared {
  std::vector<Key> keys;
  // Per key: the highest version acknowledged (stored after the ack arrived, so a read that began
  // after this store began after the ack) and the highest version sent.
  std::unique_ptr<std::atomic<uint64_t>[]> acked;
  std::unique_ptr<std::atomic<uint64_t>[]> sent;

  // Guards outage_start, max_bucket_unavailable_ms and examples.
  std::mutex mutex;
  std::vector<std::optional<Clock::TimePoint>> outage_start;  // Per bucket: first failure since
                                                              // its last success.
  double max_bucket_unavailable_ms = 0;
  uint32_t worst_bucket = 0;
  std::vector<std::string> examples;  // The first few failed checks, printed at the end.

  void note(std::string what) {
    std::lock_guard lock(mutex);
    if (examples.size() < 10) examples.push_back(std::move(what));
  }
  void bucket_failed(BucketId bucket, Clock::TimePoint start) {
    std::lock_guard lock(mutex);
    auto& open = outage_start[bucket.value()];
    if (!open || start < *open) open = start;
  }
  void bucket_succeeded(BucketId bucket, Clock::TimePoint end) {
    std::lock_guard lock(mutex);
    auto& open = outage_start[bucket.value()];
    if (!open) return;
    double gap = ms_between(*open, end);
    if (gap > max_bucket_unavailable_ms) {
      max_bucket_unavailable_ms = gap;
      worst_bucket = bucket.value();
    }
    open.reset();
  }
};

// One thread's state and counters; touched only by its own loop until the thread ends.
struct Worker {
  uint32_t index = 0;
  uint64_t session = 0;
  uint64_t seed = 0;
  std::unique_ptr<client::RestBucketDirectory> directory;
  std::vector<size_t> own;  // Indexes into Shared::keys.
  // Per own key (same order): the next version to write, the last acknowledged, and the
  // versions above it whose outcome is unknown.
  std::vector<uint64_t> next_version, last_acked;
  std::vector<std::set<uint64_t>> unknown;

  uint64_t ops = 0, acked_writes = 0, unknown_writes = 0, reads = 0, failed_reads = 0;
  uint64_t stale_reads = 0, bad_values = 0, lost_writes = 0, unreadable_keys = 0;
  uint64_t verified_keys = 0;
  std::map<std::string, uint64_t> write_errors;  // By status code name.
  double max_unavailable_ms = 0;
  std::vector<float> write_ms, read_ms;
  bucket::BucketClientStats client_stats;
};

struct Run {
  Options options;
  Shared* shared = nullptr;
  Clock::TimePoint load_end;
  Clock::TimePoint final_end;
};

Task<void> write_one(bucket::BucketClient* client, Worker* w, const Run* run, size_t slot) {
  Shared& shared = *run->shared;
  const Key& key = shared.keys[w->own[slot]];
  uint64_t version = w->next_version[slot]++;
  shared.sent[w->own[slot]].store(version);
  Clock::TimePoint start = Clock::instance().now();
  auto result = co_await client->put(
      key.bucket, key.name, value_of(key.name, version),
      Deadline::after(milliseconds(run->options.op_timeout_ms), Clock::instance()));
  Clock::TimePoint end = Clock::instance().now();
  ++w->ops;
  Status status = result.ok() ? status_of(*result) : result.status();
  if (status.ok()) {
    ++w->acked_writes;
    w->last_acked[slot] = version;
    shared.acked[w->own[slot]].store(version);
    auto& unknown = w->unknown[slot];
    unknown.erase(unknown.begin(), unknown.upper_bound(version));
    w->write_ms.push_back(static_cast<float>(ms_between(start, end)));
    shared.bucket_succeeded(key.bucket, end);
  } else {
    // Not acknowledged: it may or may not have been applied (a deadline, or a connection lost
    // after the request left), so it is an accepted final value but no promise.
    ++w->unknown_writes;
    ++w->write_errors[std::string(status_code_name(status.code()))];
    w->unknown[slot].insert(version);
    shared.bucket_failed(key.bucket, start);
  }
}

// Reads `key_index` and checks it against what was acknowledged before the read began. Returns
// whether the read succeeded.
Task<bool> read_one(bucket::BucketClient* client, Worker* w, const Run* run, size_t key_index,
                    Deadline deadline) {
  Shared& shared = *run->shared;
  const Key& key = shared.keys[key_index];
  uint64_t floor = shared.acked[key_index].load();
  Clock::TimePoint start = Clock::instance().now();
  auto result = co_await client->get(key.bucket, key.name, deadline);
  Clock::TimePoint end = Clock::instance().now();
  uint64_t ceiling = shared.sent[key_index].load();
  ++w->ops;
  ++w->reads;
  bool ok = result.ok() && result->status_code() == 0;
  if (!ok) {
    ++w->failed_reads;
    shared.bucket_failed(key.bucket, start);
    co_return false;
  }
  w->read_ms.push_back(static_cast<float>(ms_between(start, end)));
  shared.bucket_succeeded(key.bucket, end);
  std::optional<uint64_t> version = version_of(key.name, *result);
  if (!version || *version > ceiling) {
    ++w->bad_values;
    shared.note(fmt::format("bad value: key {} (bucket {}) holds \"{}\" (highest version sent: {})",
                            key.name, key.bucket, result->value().substr(0, 80), ceiling));
  } else if (*version < floor) {
    ++w->stale_reads;
    shared.note(
        fmt::format("stale read: key {} (bucket {}) returned version {} although version {} was "
                    "acknowledged before the read began",
                    key.name, key.bucket, *version, floor));
  }
  co_return true;
}

Task<void> verify_own(bucket::BucketClient* client, Worker* w, const Run* run) {
  Shared& shared = *run->shared;
  for (size_t slot = 0; slot < w->own.size(); ++slot) {
    const Key& key = shared.keys[w->own[slot]];
    Deadline deadline(Clock::instance(),
                      std::min(run->final_end, Clock::instance().now() + std::chrono::seconds(30)));
    std::optional<proto::BucketResult> got;
    while (!got && !deadline.expired()) {
      auto result = co_await client->get(key.bucket, key.name, deadline);
      if (result.ok() && result->status_code() == 0) {
        got = std::move(*result);
      } else {
        (void)co_await Clock::instance().sleep_for(milliseconds(100));
      }
    }
    if (!got) {
      ++w->unreadable_keys;
      shared.note(fmt::format("unreadable: key {} (bucket {}) did not answer the final read",
                              key.name, key.bucket));
      continue;
    }
    ++w->verified_keys;
    std::optional<uint64_t> version = version_of(key.name, *got);
    uint64_t acked = w->last_acked[slot];
    bool accepted = version && (*version == acked || w->unknown[slot].count(*version) > 0);
    if (!version) {
      ++w->bad_values;
      shared.note(fmt::format("bad value: key {} (bucket {}) holds \"{}\" at the end", key.name,
                              key.bucket, got->value().substr(0, 80)));
    } else if (!accepted) {
      ++w->lost_writes;
      shared.note(fmt::format(
          "lost write: key {} (bucket {}) holds version {} at the end; the last acknowledged is "
          "{}, unknown-outcome versions above it: {}",
          key.name, key.bucket, *version, acked, w->unknown[slot].size()));
    }
  }
}

Task<void> run_worker(Worker* w, const Run* run) {
  Executor executor = co_await boost::asio::this_coro::executor;
  bucket::BucketClientOptions client_options;
  client_options.session = w->session;
  bucket::BucketClient client(executor, *w->directory, client_options);
  std::mt19937_64 random(w->seed);
  Shared& shared = *run->shared;
  Clock::TimePoint last_success = Clock::instance().now();
  while (Clock::instance().now() < run->load_end) {
    bool write = random() % 100 >= run->options.read_percent;
    bool succeeded = false;
    if (write) {
      size_t slot = random() % w->own.size();
      uint64_t acked_before = w->acked_writes;
      co_await write_one(&client, w, run, slot);
      succeeded = w->acked_writes > acked_before;
    } else {
      // Another thread's key (one's own when alone).
      size_t key_index = random() % shared.keys.size();
      while (shared.keys.size() > w->own.size() && shared.keys[key_index].owner == w->index) {
        key_index = random() % shared.keys.size();
      }
      Deadline deadline =
          Deadline::after(milliseconds(run->options.op_timeout_ms), Clock::instance());
      succeeded = co_await read_one(&client, w, run, key_index, deadline);
    }
    Clock::TimePoint now = Clock::instance().now();
    if (succeeded) {
      w->max_unavailable_ms = std::max(w->max_unavailable_ms, ms_between(last_success, now));
      last_success = now;
    } else {
      // A failure the client did not retry (e.g. a replica without the bucket service) must not
      // become a busy loop against a cluster that is in trouble.
      (void)co_await Clock::instance().sleep_for(milliseconds(20));
    }
  }
  w->max_unavailable_ms =
      std::max(w->max_unavailable_ms, ms_between(last_success, Clock::instance().now()));
  co_await verify_own(&client, w, run);
  w->client_stats = client.stats();
  client.close();
}

// Probes buckets next, next+1, ... (shared with the other probers of the loop) into `leaders`.
Task<void> probe_some(client::RestBucketDirectory* directory, std::vector<BucketId> buckets,
                      size_t* next, std::vector<std::optional<HostId>>* leaders) {
  while (*next < buckets.size()) {
    size_t i = (*next)++;
    auto leader = co_await client::probe_leader(
        *directory, buckets[i], Deadline::after(std::chrono::seconds(5), Clock::instance()));
    if (leader.ok()) (*leaders)[i] = *leader;
  }
}

int print_leaders(const Options& options) {
  client::RestBucketDirectoryOptions directory_options;
  directory_options.api = options.api;
  client::RestBucketDirectory directory(directory_options);
  Status loaded = directory.load(Deadline::after(std::chrono::seconds(30), Clock::instance()));
  if (!loaded.ok()) {
    fmt::print(stderr, "tess-kv-load: {}\n", loaded);
    return 2;
  }
  std::vector<BucketId> buckets;
  if (options.bucket >= 0) {
    if (static_cast<size_t>(options.bucket) >= directory.bucket_count()) {
      fmt::print(stderr, "tess-kv-load: --bucket {}: the cluster has {} buckets\n", options.bucket,
                 directory.bucket_count());
      return 2;
    }
    buckets.emplace_back(static_cast<uint32_t>(options.bucket));
  } else {
    for (size_t b = 0; b < directory.bucket_count(); ++b)
      buckets.emplace_back(static_cast<uint32_t>(b));
  }
  // Up to 32 buckets at once: a stopped replica costs each probe an attempt timeout.
  std::vector<std::optional<HostId>> leaders(buckets.size());
  size_t next = 0;
  {
    EventLoopGroup loops(1);
    std::vector<std::future<void>> done;
    done.reserve(32);
    for (int i = 0; i < 32; ++i) {
      done.push_back(boost::asio::co_spawn(loops.executor(0),
                                           probe_some(&directory, buckets, &next, &leaders),
                                           boost::asio::use_future));
    }
    for (auto& d : done) d.get();
    loops.stop();
  }
  std::string out = "{\"leaders\": {";
  for (size_t i = 0; i < buckets.size(); ++i) {
    out += fmt::format("{}\"{}\": {}", i == 0 ? "" : ", ", buckets[i],
                       leaders[i] ? std::to_string(leaders[i]->value()) : "null");
  }
  fmt::print("{}}}}}\n", out);
  return 0;
}

double percentile(std::vector<float>& values, double p) {
  if (values.empty()) return 0;
  size_t at =
      std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())));
  std::nth_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(at), values.end());
  return values[at];
}

int run_load(const Options& options) {
  uint64_t seed = options.seed != 0 ? options.seed : std::random_device()() | 1;
  std::mt19937_64 random(seed);
  std::vector<std::unique_ptr<Worker>> workers;
  Shared shared;
  // Each thread's directory is its own (a loop object); all read the same table.
  for (uint32_t t = 0; t < options.threads; ++t) {
    auto w = std::make_unique<Worker>();
    w->index = t;
    do {
      w->session = random();
    } while (w->session == 0);
    w->seed = random();
    client::RestBucketDirectoryOptions directory_options;
    directory_options.api = options.api;
    w->directory = std::make_unique<client::RestBucketDirectory>(directory_options);
    Status loaded =
        w->directory->load(Deadline::after(std::chrono::seconds(30), Clock::instance()));
    if (!loaded.ok()) {
      fmt::print(stderr, "tess-kv-load: {}\n", loaded);
      return 2;
    }
    workers.push_back(std::move(w));
  }
  size_t buckets = workers[0]->directory->bucket_count();
  if (buckets == 0) {
    fmt::print(stderr, "tess-kv-load: the cluster has no buckets\n");
    return 2;
  }
  for (const auto& w : workers) {
    if (w->directory->bucket_count() != buckets) {
      fmt::print(stderr, "tess-kv-load: the bucket count changed while starting ({} then {})\n",
                 buckets, w->directory->bucket_count());
      return 2;
    }
  }
  // Keys of this run only: a cluster keeps the keys of earlier runs, whose versions this run's
  // checks know nothing of.
  uint64_t run_id = (uint64_t{std::random_device()()} << 32) | std::random_device()();
  for (auto& w : workers) {
    for (uint32_t i = 0; i < options.keys_per_thread; ++i) {
      std::string name = fmt::format("kv-load/{:016x}/t{}/k{}", run_id, w->index, i);
      BucketId bucket(static_cast<uint32_t>(hash_of(name) % buckets));
      w->own.push_back(shared.keys.size());
      shared.keys.push_back(Key{name, bucket, w->index});
    }
    w->next_version.assign(w->own.size(), 1);
    w->last_acked.assign(w->own.size(), 0);
    w->unknown.assign(w->own.size(), {});
  }
  shared.acked = std::make_unique<std::atomic<uint64_t>[]>(shared.keys.size());
  shared.sent = std::make_unique<std::atomic<uint64_t>[]>(shared.keys.size());
  shared.outage_start.assign(buckets, std::nullopt);
  std::set<uint32_t> covered;
  for (const Key& key : shared.keys) covered.insert(key.bucket.value());
  fmt::print(stderr, "tess-kv-load: {} threads, {} keys on {} of {} buckets, {:.0f} s, seed {}\n",
             options.threads, shared.keys.size(), covered.size(), buckets, options.duration_s,
             seed);

  Run run;
  run.options = options;
  run.shared = &shared;
  Clock::TimePoint start = Clock::instance().now();
  run.load_end = start + std::chrono::duration_cast<Clock::Duration>(
                             std::chrono::duration<double>(options.duration_s));
  run.final_end = run.load_end + milliseconds(options.op_timeout_ms) +
                  std::chrono::seconds(options.final_timeout_s);
  {
    EventLoopGroup loops(options.threads);
    std::vector<std::future<void>> done;
    done.reserve(workers.size());
    for (auto& w : workers) {
      done.push_back(boost::asio::co_spawn(loops.executor(w->index), run_worker(w.get(), &run),
                                           boost::asio::use_future));
    }
    for (auto& d : done) d.get();
    loops.stop();
  }
  double elapsed_s = std::chrono::duration<double>(Clock::instance().now() - start).count();

  Worker total;
  std::vector<float> write_ms, read_ms;
  for (const auto& w : workers) {
    total.ops += w->ops;
    total.acked_writes += w->acked_writes;
    total.unknown_writes += w->unknown_writes;
    total.reads += w->reads;
    total.failed_reads += w->failed_reads;
    total.stale_reads += w->stale_reads;
    total.bad_values += w->bad_values;
    total.lost_writes += w->lost_writes;
    total.unreadable_keys += w->unreadable_keys;
    total.verified_keys += w->verified_keys;
    total.max_unavailable_ms = std::max(total.max_unavailable_ms, w->max_unavailable_ms);
    total.client_stats.attempts += w->client_stats.attempts;
    total.client_stats.redirects += w->client_stats.redirects;
    total.client_stats.retries += w->client_stats.retries;
    for (const auto& [code, n] : w->write_errors) total.write_errors[code] += n;
    write_ms.insert(write_ms.end(), w->write_ms.begin(), w->write_ms.end());
    read_ms.insert(read_ms.end(), w->read_ms.begin(), w->read_ms.end());
  }
  // A bucket still failing at the end was unavailable until now.
  for (uint32_t b = 0; b < buckets; ++b) {
    if (shared.outage_start[b]) shared.bucket_succeeded(BucketId(b), Clock::instance().now());
  }
  double write_p50 = percentile(write_ms, 0.5), write_p99 = percentile(write_ms, 0.99);
  double read_p50 = percentile(read_ms, 0.5), read_p99 = percentile(read_ms, 0.99);
  double write_max = write_ms.empty() ? 0 : *std::max_element(write_ms.begin(), write_ms.end());
  double read_max = read_ms.empty() ? 0 : *std::max_element(read_ms.begin(), read_ms.end());
  bool passed = total.stale_reads == 0 && total.lost_writes == 0 && total.unreadable_keys == 0 &&
                total.bad_values == 0 && total.acked_writes > 0;

  for (const std::string& example : shared.examples) fmt::print(stderr, "  {}\n", example);
  std::string errors;
  for (const auto& [code, n] : total.write_errors)
    errors += fmt::format("{}{} {}", errors.empty() ? "" : ", ", n, code);
  fmt::print(
      stderr,
      "ops {} in {:.1f} s: writes {} acknowledged, {} unknown outcome{}; reads {} ({} "
      "failed)\n"
      "checks: {} stale reads, {} lost writes, {} of {} keys unreadable at the end, {} "
      "bad values\n"
      "unavailable: a thread at most {:.0f} ms, a bucket at most {:.0f} ms (bucket {})\n"
      "latency ms: write p50 {:.1f} p99 {:.1f} max {:.0f}; read p50 {:.1f} p99 {:.1f} max "
      "{:.0f}\n"
      "client: {} attempts, {} redirects, {} retries\n"
      "{}\n",
      total.ops, elapsed_s, total.acked_writes, total.unknown_writes,
      errors.empty() ? "" : fmt::format(" ({})", errors), total.reads, total.failed_reads,
      total.stale_reads, total.lost_writes, total.unreadable_keys, shared.keys.size(),
      total.bad_values, total.max_unavailable_ms, shared.max_bucket_unavailable_ms,
      shared.worst_bucket, write_p50, write_p99, write_max, read_p50, read_p99, read_max,
      total.client_stats.attempts, total.client_stats.redirects, total.client_stats.retries,
      passed ? "PASS" : (total.acked_writes == 0 ? "FAIL: no write was acknowledged" : "FAIL"));
  if (options.json) {
    fmt::print(
        "{{\"ops\": {}, \"acked_writes\": {}, \"unknown_writes\": {}, \"reads\": {}, "
        "\"failed_reads\": {}, \"stale_reads\": {}, \"lost_writes\": {}, \"unreadable_keys\": {}, "
        "\"bad_values\": {}, \"verified_keys\": {}, \"keys\": {}, \"buckets\": {}, "
        "\"max_unavailable_ms\": {:.0f}, \"max_bucket_unavailable_ms\": {:.0f}, "
        "\"write_p50_ms\": {:.2f}, \"write_p99_ms\": {:.2f}, \"write_max_ms\": {:.0f}, "
        "\"read_p50_ms\": {:.2f}, \"read_p99_ms\": {:.2f}, \"read_max_ms\": {:.0f}, "
        "\"threads\": {}, \"duration_s\": {:.1f}, \"seed\": {}, \"passed\": {}}}\n",
        total.ops, total.acked_writes, total.unknown_writes, total.reads, total.failed_reads,
        total.stale_reads, total.lost_writes, total.unreadable_keys, total.bad_values,
        total.verified_keys, shared.keys.size(), buckets, total.max_unavailable_ms,
        shared.max_bucket_unavailable_ms, write_p50, write_p99, write_max, read_p50, read_p99,
        read_max, options.threads, elapsed_s, seed, passed ? "true" : "false");
  }
  std::fflush(stdout);
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  tessera::Options options;
  std::vector<std::string> api_flags;
  CLI::App app("tess-kv-load: checked key-value load on a cluster's buckets", "tess-kv-load");
  app.add_option("--api", api_flags, "a REST API HOST:PORT (repeatable, or comma-separated)")
      ->required();
  app.add_option("--threads", options.threads, "client threads, each with its own client")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  app.add_option("--duration-s", options.duration_s, "seconds of load before the read-back")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--keys-per-thread", options.keys_per_thread, "keys each thread owns and writes")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  app.add_option("--op-timeout-ms", options.op_timeout_ms,
                 "deadline of each operation (a write past it has an unknown outcome)")
      ->check(CLI::Range(10u, 600000u))
      ->capture_default_str();
  app.add_option("--final-timeout-s", options.final_timeout_s,
                 "time allowed for reading every key back at the end")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  app.add_option("--read-percent", options.read_percent, "share of operations that are reads")
      ->check(CLI::Range(0u, 100u))
      ->capture_default_str();
  app.add_option("--seed", options.seed, "randomness (default: a new seed, printed)");
  app.add_flag("--json", options.json, "print one JSON line of figures last");
  app.add_flag("--leaders", options.leaders,
               "print each bucket's current leader (asked of its replicas) as JSON and exit");
  app.add_option("--bucket", options.bucket, "with --leaders: only this bucket")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 31));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (const std::string& flag : api_flags) {
    for (std::string& address : tessera::http::split_address_list(flag)) {
      std::string host;
      uint16_t port = 0;
      tessera::Status valid = tessera::http::split_host_port(address, &host, &port);
      if (!valid.ok()) {
        fmt::print(stderr, "tess-kv-load: --api {}: {}\n", address, valid.message());
        return 2;
      }
      options.api.push_back(std::move(address));
    }
  }
  if (options.api.empty()) {
    fmt::print(stderr, "tess-kv-load: --api needs at least one HOST:PORT\n");
    return 2;
  }
  (void)tessera::init_logging({.level = "warn", .file_path = "", .process_name = "tess-kv-load"});
  if (options.leaders) return tessera::print_leaders(options);
  return tessera::run_load(options);
}
