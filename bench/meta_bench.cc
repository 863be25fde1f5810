// meta_bench: namespace operations through the client library on a local 8-host 5+2 cluster,
// next to the same operations on a local directory in the same run.
//
//   meta_bench [--tess PATH] [--tessd PATH] [--dir DIR] [--seconds S] [--threads N]
//              [--readdir-entries N] [--buckets N] [--budget-s S]
//
// Each phase runs with 1 caller and with --threads callers (default 16), each caller in its own
// two directories A and B, for at most S seconds (default 5) or until it runs out of files:
// creates (A/f<n>, exclusive), stats (a name of A chosen at random), renames within a directory
// (A/f<n> to A/g<n>), renames across directories (A/g<n> to B/g<n>), unlinks (whatever remains).
// On the cluster a caller is a coroutine with a NamespaceClient on one of two event loops (the
// machine's cores); a stat is a lookup (what the kernel asks for an uncached name). A and B are
// chosen in different buckets, so a rename across them is a cross-bucket transaction; the number
// of transactions each phase ran is printed. Then readdir: one directory of --readdir-entries
// files (default 10,000) listed again and again by one caller for S seconds, entries per second.
// The local side does the same with threads and syscalls in a directory of the run's own
// (open O_CREAT|O_EXCL + close, stat, rename, unlink, readdir).
//
// Everything it starts is stopped by PID through `tess local down --dir` (which checks each PID
// still runs the recorded command line), on success and on failure; a watchdog process does it if
// the benchmark itself dies (a crash, a signal, or the --budget-s alarm that bounds the run).
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "bench/bench_cluster.h"
#include "bench/bench_report.h"
#include "bucket/bucket_client.h"
#include "client/namespace_client.h"
#include "client/rest_bucket_directory.h"
#include "meta/keys.h"
#include "meta/names.h"
#include "runtime/event_loop.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using bench::on;
using bench::seconds_since;
using bench::SteadyClock;
using std::chrono::seconds;

constexpr uint16_t kBasePort = 28500;  // bucket_bench uses 28000 and 29000.
constexpr seconds kOpTimeout{10};
constexpr uint32_t kReaddirPage = meta::kMaxReaddirEntries;  // The largest page a bucket answers.

struct Options {
  std::string tess;
  std::string tessd;
  std::string dir;
  double seconds = 5;
  uint32_t threads = 16;
  uint32_t readdir_entries = 10'000;
  uint32_t buckets = 1024;
  uint32_t budget_s = 1500;
};

enum class Phase { kCreate, kStat, kRenameSame, kRenameCross, kUnlink };
constexpr Phase kPhases[] = {Phase::kCreate, Phase::kStat, Phase::kRenameSame, Phase::kRenameCross,
                             Phase::kUnlink};

const char* key_of(Phase phase) {
  switch (phase) {
    case Phase::kCreate:
      return "creates";
    case Phase::kStat:
      return "stats";
    case Phase::kRenameSame:
      return "renames_same_dir";
    case Phase::kRenameCross:
      return "renames_cross_dir";
    case Phase::kUnlink:
      return "unlinks";
  }
  return "?";
}

// Where a caller's files are after each phase: file n is A/f<n> until renamed within A (n <
// renamed_same: A/g<n>), then across (n < renamed_cross: B/g<n>); n < unlinked: gone.
struct CallerFiles {
  uint64_t created = 0;
  uint64_t renamed_same = 0;
  uint64_t renamed_cross = 0;
  uint64_t unlinked = 0;
};

// A phase's ops over all callers, and the time the slowest caller took.
struct PhaseResult {
  uint64_t ops = 0;
  uint64_t failures = 0;
  std::string first_error;
  double seconds = 0;
  uint64_t transactions = 0;  // Cluster only.
  double per_s() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

SteadyClock::time_point end_after(double duration_s) {
  return SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                  std::chrono::duration<double>(duration_s));
}

// ---- the local directory ----------------------------------------------------------------------

struct LocalCaller {
  std::string a, b;
  CallerFiles files;
  uint64_t ops = 0;
  uint64_t failures = 0;
  std::string first_error;
};

void note_failure(LocalCaller& caller, const std::string& what) {
  ++caller.failures;
  if (caller.first_error.empty()) caller.first_error = fmt::format("{}: errno {}", what, errno);
}

std::string local_name(const LocalCaller& caller, uint64_t n) {
  const CallerFiles& f = caller.files;
  if (n < f.renamed_cross) return fmt::format("{}/g{}", caller.b, n);
  if (n < f.renamed_same) return fmt::format("{}/g{}", caller.a, n);
  return fmt::format("{}/f{}", caller.a, n);
}

// One caller's share of a phase, until `end` or out of files.
void local_phase(LocalCaller& caller, Phase phase, SteadyClock::time_point end, uint64_t seed) {
  std::mt19937_64 random(seed);
  CallerFiles& f = caller.files;
  caller.ops = 0;
  while (SteadyClock::now() < end) {
    switch (phase) {
      case Phase::kCreate: {
        std::string path = fmt::format("{}/f{}", caller.a, f.created);
        int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) return note_failure(caller, "create " + path);
        close(fd);
        ++f.created;
        break;
      }
      case Phase::kStat: {
        if (f.created == 0) return;
        std::string path = local_name(caller, random() % f.created);
        struct stat st {};
        if (stat(path.c_str(), &st) != 0) return note_failure(caller, "stat " + path);
        break;
      }
      case Phase::kRenameSame: {
        if (f.renamed_same == f.created) return;
        std::string from = local_name(caller, f.renamed_same);
        std::string to = fmt::format("{}/g{}", caller.a, f.renamed_same);
        if (rename(from.c_str(), to.c_str()) != 0) return note_failure(caller, "rename " + from);
        ++f.renamed_same;
        break;
      }
      case Phase::kRenameCross: {
        if (f.renamed_cross == f.renamed_same) return;
        std::string from = local_name(caller, f.renamed_cross);
        std::string to = fmt::format("{}/g{}", caller.b, f.renamed_cross);
        if (rename(from.c_str(), to.c_str()) != 0) return note_failure(caller, "rename " + from);
        ++f.renamed_cross;
        break;
      }
      case Phase::kUnlink: {
        if (f.unlinked == f.created) return;
        std::string path = local_name(caller, f.unlinked);
        if (unlink(path.c_str()) != 0) return note_failure(caller, "unlink " + path);
        ++f.unlinked;
        break;
      }
    }
    ++caller.ops;
  }
}

PhaseResult run_local_phase(std::vector<LocalCaller>& callers, Phase phase, double duration_s) {
  auto start = SteadyClock::now();
  auto end = end_after(duration_s);
  std::vector<std::thread> threads;
  threads.reserve(callers.size());
  for (size_t i = 0; i < callers.size(); ++i) {
    threads.emplace_back(local_phase, std::ref(callers[i]), phase, end, i + 1);
  }
  for (std::thread& t : threads) t.join();
  PhaseResult result;
  result.seconds = seconds_since(start);
  for (const LocalCaller& c : callers) {
    result.ops += c.ops;
    result.failures += c.failures;
    if (result.first_error.empty()) result.first_error = c.first_error;
  }
  return result;
}

// Entries listed per second, reading `dir` again and again for `duration_s`.
double local_readdir_per_s(const std::string& dir, double duration_s) {
  auto start = SteadyClock::now();
  auto end = end_after(duration_s);
  uint64_t entries = 0;
  while (SteadyClock::now() < end) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return 0;
    while (readdir(d) != nullptr) ++entries;
    closedir(d);
  }
  return static_cast<double>(entries) / seconds_since(start);
}

// ---- the cluster --------------------------------------------------------------------------------

Deadline op_deadline() { return Deadline::after(kOpTimeout, RealClock::instance()); }

proto::Caller root_caller() {
  proto::Caller caller;  // uid 0, no permission checks: the kernel's view with default_permissions.
  return caller;
}

// What an answer says: empty when it succeeded.
std::string failure_of(const Result<proto::MetaResult>& answer) {
  if (!answer.ok()) return answer.status().to_string();
  if (answer->errno_value() != 0) {
    return fmt::format("errno {}: {}", answer->errno_value(), answer->message());
  }
  return "";
}

// One event loop's clients: its own bucket directory, BucketClient and NamespaceClient.
struct LoopClient {
  std::unique_ptr<client::RestBucketDirectory> directory;
  std::unique_ptr<bucket::BucketClient> buckets;
  std::unique_ptr<client::NamespaceClient> names;
};

struct ClusterCaller {
  LoopClient* client = nullptr;
  Executor executor;
  InodeId a, b;
  CallerFiles files;
  uint64_t ops = 0;
  uint64_t failures = 0;
  std::string first_error;
};

struct Name {
  InodeId dir;
  std::string name;
};

Name cluster_name(const ClusterCaller& caller, uint64_t n) {
  const CallerFiles& f = caller.files;
  if (n < f.renamed_cross) return {caller.b, fmt::format("g{}", n)};
  if (n < f.renamed_same) return {caller.a, fmt::format("g{}", n)};
  return {caller.a, fmt::format("f{}", n)};
}

Task<Result<proto::MetaResult>> cluster_op(ClusterCaller& caller, Phase phase, uint64_t pick) {
  client::NamespaceClient& names = *caller.client->names;
  CallerFiles& f = caller.files;
  switch (phase) {
    case Phase::kCreate:
      co_return co_await names.create(root_caller(), caller.a, fmt::format("f{}", f.created), 0644,
                                      /*exclusive=*/true, op_deadline());
    case Phase::kStat: {
      Name name = cluster_name(caller, pick);
      co_return co_await names.lookup(root_caller(), name.dir, name.name, op_deadline());
    }
    case Phase::kRenameSame: {
      Name from = cluster_name(caller, f.renamed_same);
      co_return co_await names.rename(root_caller(), from.dir, from.name, caller.a,
                                      fmt::format("g{}", f.renamed_same), 0, op_deadline());
    }
    case Phase::kRenameCross: {
      Name from = cluster_name(caller, f.renamed_cross);
      co_return co_await names.rename(root_caller(), from.dir, from.name, caller.b,
                                      fmt::format("g{}", f.renamed_cross), 0, op_deadline());
    }
    case Phase::kUnlink: {
      Name name = cluster_name(caller, f.unlinked);
      co_return co_await names.unlink(root_caller(), name.dir, name.name, /*directory=*/false,
                                      op_deadline());
    }
  }
  co_return error(StatusCode::kInternal, "no such phase");
}

// Whether the caller has a file left for `phase`.
bool has_work(const CallerFiles& f, Phase phase) {
  switch (phase) {
    case Phase::kCreate:
      return true;
    case Phase::kStat:
      return f.created > 0;
    case Phase::kRenameSame:
      return f.renamed_same < f.created;
    case Phase::kRenameCross:
      return f.renamed_cross < f.renamed_same;
    case Phase::kUnlink:
      return f.unlinked < f.created;
  }
  return false;
}

void advance(CallerFiles& f, Phase phase) {
  switch (phase) {
    case Phase::kCreate:
      ++f.created;
      break;
    case Phase::kStat:
      break;
    case Phase::kRenameSame:
      ++f.renamed_same;
      break;
    case Phase::kRenameCross:
      ++f.renamed_cross;
      break;
    case Phase::kUnlink:
      ++f.unlinked;
      break;
  }
}

// One caller's share of a phase; the first failure ends it (the file sequence would break).
Task<void> cluster_phase(ClusterCaller* caller, Phase phase, SteadyClock::time_point end,
                         uint64_t seed) {
  std::mt19937_64 random(seed);
  caller->ops = 0;
  while (SteadyClock::now() < end && has_work(caller->files, phase)) {
    uint64_t pick = caller->files.created == 0 ? 0 : random() % caller->files.created;
    auto answer = co_await cluster_op(*caller, phase, pick);
    std::string failed = failure_of(answer);
    if (!failed.empty()) {
      ++caller->failures;
      if (caller->first_error.empty()) caller->first_error = std::move(failed);
      co_return;
    }
    advance(caller->files, phase);
    ++caller->ops;
  }
}

uint64_t transactions(const std::vector<LoopClient>& clients) {
  uint64_t total = 0;
  for (const LoopClient& c : clients) total += c.names->transactions();
  return total;
}

PhaseResult run_cluster_phase(std::vector<ClusterCaller>& callers,
                              const std::vector<LoopClient>& clients, Phase phase,
                              double duration_s) {
  uint64_t transactions_before = transactions(clients);
  auto start = SteadyClock::now();
  auto end = end_after(duration_s);
  std::vector<std::future<void>> done;
  done.reserve(callers.size());
  for (size_t i = 0; i < callers.size(); ++i) {
    done.push_back(boost::asio::co_spawn(callers[i].executor,
                                         cluster_phase(&callers[i], phase, end, i + 1),
                                         boost::asio::use_future));
  }
  for (auto& d : done) d.get();
  PhaseResult result;
  result.seconds = seconds_since(start);
  for (const ClusterCaller& c : callers) {
    result.ops += c.ops;
    result.failures += c.failures;
    if (result.first_error.empty()) result.first_error = c.first_error;
  }
  result.transactions = transactions(clients) - transactions_before;
  return result;
}

Task<std::unique_ptr<bucket::BucketClient>> make_bucket_client(
    client::RestBucketDirectory* directory, uint64_t session) {
  bucket::BucketClientOptions options;
  options.session = session;
  co_return std::make_unique<bucket::BucketClient>(co_await boost::asio::this_coro::executor,
                                                   *directory, options);
}

Task<void> close_loop_client(LoopClient* client) {
  client->names.reset();
  client->buckets->close();
  client->buckets.reset();
  co_return;
}

// A directory under `parent` named `name`; its inode.
Task<Result<InodeId>> make_directory(client::NamespaceClient* names, InodeId parent,
                                     std::string name) {
  auto made = co_await names->mkdir(root_caller(), parent, name, 0755, op_deadline());
  if (std::string failed = failure_of(made); !failed.empty()) {
    co_return error(StatusCode::kInternal, "mkdir {}: {}", name, failed);
  }
  co_return InodeId(made->inode().id());
}

Task<Result<InodeId>> root_of(client::NamespaceClient* names) {
  auto root = co_await names->root(root_caller(), op_deadline());
  if (std::string failed = failure_of(root); !failed.empty()) {
    co_return error(StatusCode::kInternal, "the root: {}", failed);
  }
  co_return InodeId(root->inode().id());
}

// Caller `index`'s directories A and B, in different buckets (a new directory's bucket is a hash
// of its name, so another name is tried when they meet).
Task<Status> make_caller_dirs(ClusterCaller* caller, InodeId root, std::string prefix) {
  client::NamespaceClient* names = caller->client->names.get();
  TESS_CO_ASSIGN_OR_RETURN(caller->a, co_await make_directory(names, root, prefix + "-a"));
  for (int attempt = 0; attempt < 8; ++attempt) {
    TESS_CO_ASSIGN_OR_RETURN(
        caller->b, co_await make_directory(names, root, fmt::format("{}-b{}", prefix, attempt)));
    if (meta::bucket_of(caller->b) != meta::bucket_of(caller->a)) co_return Status();
  }
  co_return error(StatusCode::kInternal, "no directory outside bucket {} in 8 tries",
                  meta::bucket_of(caller->a));
}

// Lists `dir` with one caller for `duration_s`: entries per second, or why not.
Task<Result<double>> cluster_readdir_per_s(client::NamespaceClient* names, InodeId dir,
                                           double duration_s) {
  auto start = SteadyClock::now();
  auto end = end_after(duration_s);
  uint64_t entries = 0;
  while (SteadyClock::now() < end) {
    uint64_t cookie = 0;
    for (bool done = false; !done;) {
      proto::MetaRead read;
      *read.mutable_caller() = root_caller();
      read.mutable_readdir()->set_dir(dir.value());
      read.mutable_readdir()->set_cookie(cookie);
      read.mutable_readdir()->set_limit(kReaddirPage);
      auto page = co_await names->read(std::move(read), op_deadline());
      if (std::string failed = failure_of(page); !failed.empty()) {
        co_return error(StatusCode::kInternal, "readdir: {}", failed);
      }
      entries += static_cast<uint64_t>(page->entries_size());
      if (page->entries_size() > 0) cookie = page->entries().rbegin()->cookie();
      done = page->end() || page->entries_size() == 0;
    }
  }
  co_return static_cast<double>(entries) / seconds_since(start);
}

// Creates `count` files in `dir`, spread over `callers` concurrent coroutines.
// `next` is shared by fillers on both loops; `first_error` is this filler's own.
Task<void> fill_some(client::NamespaceClient* names, InodeId dir, std::atomic<uint32_t>* next,
                     uint32_t count, std::string* first_error) {
  for (uint32_t n = (*next)++; n < count; n = (*next)++) {
    auto made = co_await names->create(root_caller(), dir, fmt::format("e{:06}", n), 0644,
                                       /*exclusive=*/true, op_deadline());
    if (std::string failed = failure_of(made); !failed.empty() && first_error->empty()) {
      *first_error = std::move(failed);
    }
  }
}

// ---- the run --------------------------------------------------------------------------------

struct Run {
  Options options;
  std::string tess, tessd, dir;
  bench::Report* report = nullptr;
  // Figures by "<phase>_per_s_<callers>", local and cluster, for the ratios.
  std::map<std::string, double> local, cluster;
};

// The aims of issue 11 for the figures that have one.
std::string aim_of(Phase phase, uint32_t callers) {
  if (phase == Phase::kCreate && callers == 1) return " (aim >= 3,000)";
  if (phase == Phase::kStat && callers == 1) return " (aim >= 10,000)";
  if (phase == Phase::kCreate && callers == 16) return " (aim >= 15,000)";
  return "";
}

std::string figure_key(Phase phase, uint32_t callers) {
  return fmt::format("{}_per_s_{}", key_of(phase), callers);
}

void print_failures(const PhaseResult& r, const std::string& what) {
  if (r.failures > 0)
    fmt::print("  {}: {} failed; the first: {}\n", what, r.failures, r.first_error);
}

Status measure_local(Run& run) {
  const Options& o = run.options;
  bench::Report& report = *run.report;
  std::string base = run.dir + "/local";
  for (uint32_t callers : {1u, o.threads}) {
    std::vector<LocalCaller> local(callers);
    for (uint32_t i = 0; i < callers; ++i) {
      local[i].a = fmt::format("{}/{}-{}-a", base, callers, i);
      local[i].b = fmt::format("{}/{}-{}-b", base, callers, i);
      fs::create_directories(local[i].a);
      fs::create_directories(local[i].b);
    }
    for (Phase phase : kPhases) {
      PhaseResult r = run_local_phase(local, phase, o.seconds);
      print_failures(r, fmt::format("local {}", key_of(phase)));
      std::string key = figure_key(phase, callers);
      run.local[key] = r.per_s();
      report.add("local_" + key, r.per_s(), fmt::format("local directory, {} thread(s)", callers));
    }
  }
  std::string big = base + "/readdir";
  fs::create_directories(big);
  for (uint32_t n = 0; n < o.readdir_entries; ++n) {
    int fd = open(fmt::format("{}/e{:06}", big, n).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return error(StatusCode::kIoError, "create in {}: errno {}", big, errno);
    close(fd);
  }
  double listed = local_readdir_per_s(big, o.seconds);
  run.local["readdir_entries_per_s"] = listed;
  report.add("local_readdir_entries_per_s", listed,
             fmt::format("local directory of {} files, 1 thread", o.readdir_entries));
  std::error_code ignored;
  fs::remove_all(base, ignored);
  return Status();
}

Result<FilesystemId> create_filesystem(const bench::LocalCluster& cluster) {
  TESS_ASSIGN_OR_RETURN(auto created, cluster.tess({"fs", "create", "meta-bench", "--json"}));
  auto [code, out] = created;
  if (code != 0) return error(StatusCode::kUnavailable, "tess fs create exited {}: {}", code, out);
  // The JSON answer is all there is but for warnings before it (stderr goes to the same log).
  size_t brace = out.find('{');
  nlohmann::json doc = nlohmann::json::parse(brace == std::string::npos ? "" : out.substr(brace),
                                             nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("id") || !doc["id"].is_number_unsigned()) {
    return error(StatusCode::kInternal, "tess fs create --json said: {}", out);
  }
  return FilesystemId(doc["id"].get<uint32_t>());
}

Status make_loop_clients(EventLoopGroup& loops, const bench::LocalCluster& cluster,
                         FilesystemId fs_id, std::vector<LoopClient>& clients) {
  for (size_t loop = 0; loop < loops.size(); ++loop) {
    LoopClient c;
    client::RestBucketDirectoryOptions options;
    options.api = cluster.api();
    c.directory = std::make_unique<client::RestBucketDirectory>(options);
    TESS_RETURN_IF_ERROR(c.directory->load(Deadline::after(seconds(30), RealClock::instance())));
    c.buckets = on(loops.executor(loop), make_bucket_client(c.directory.get(), 0x3e7a0001 + loop));
    client::NamespaceClientOptions names;
    names.bucket_count = static_cast<uint32_t>(c.directory->bucket_count());
    names.fs = fs_id;
    names.seed = loop + 1;
    c.names = std::make_unique<client::NamespaceClient>(*c.buckets, names);
    clients.push_back(std::move(c));
  }
  return Status();
}

Status measure_on_cluster(Run& run, EventLoopGroup& loops, std::vector<LoopClient>& clients) {
  const Options& o = run.options;
  bench::Report& report = *run.report;
  client::NamespaceClient* first = clients[0].names.get();
  // The root answers once every bucket it needs has a leader: retried while the cluster settles.
  Result<InodeId> root = error(StatusCode::kUnavailable, "not asked");
  for (auto start = SteadyClock::now(); seconds_since(start) < 120;) {
    root = on(loops.executor(0), root_of(first));
    if (root.ok()) break;
    std::this_thread::sleep_for(seconds(1));
  }
  if (!root.ok()) return root.status();
  for (uint32_t callers : {1u, o.threads}) {
    std::vector<ClusterCaller> named(callers);
    for (uint32_t i = 0; i < callers; ++i) {
      size_t loop = i % clients.size();
      named[i].client = &clients[loop];
      named[i].executor = loops.executor(loop);
      TESS_RETURN_IF_ERROR(on(
          named[i].executor, make_caller_dirs(&named[i], *root, fmt::format("{}-{}", callers, i))));
    }
    for (Phase phase : kPhases) {
      PhaseResult r = run_cluster_phase(named, clients, phase, o.seconds);
      print_failures(r, key_of(phase));
      std::string key = figure_key(phase, callers);
      run.cluster[key] = r.per_s();
      report.add(key, r.per_s(),
                 fmt::format("{} caller(s), {} ops, {} as transactions{}", callers, r.ops,
                             r.transactions, aim_of(phase, callers)));
    }
  }
  TESS_ASSIGN_OR_RETURN(InodeId big,
                        on(loops.executor(0), make_directory(first, *root, "readdir")));
  std::atomic<uint32_t> next{0};
  std::vector<std::string> fill_errors(o.threads);
  std::vector<std::future<void>> filled;
  for (uint32_t i = 0; i < o.threads; ++i) {
    LoopClient& c = clients[i % clients.size()];
    filled.push_back(boost::asio::co_spawn(
        loops.executor(i % clients.size()),
        fill_some(c.names.get(), big, &next, o.readdir_entries, &fill_errors[i]),
        boost::asio::use_future));
  }
  for (auto& f : filled) f.get();
  for (const std::string& failed : fill_errors) {
    if (!failed.empty())
      return error(StatusCode::kInternal, "filling the readdir directory: {}", failed);
  }
  TESS_ASSIGN_OR_RETURN(double listed,
                        on(loops.executor(0), cluster_readdir_per_s(first, big, o.seconds)));
  run.cluster["readdir_entries_per_s"] = listed;
  report.add("readdir_entries_per_s", listed,
             fmt::format("a directory of {} files, 1 caller, pages of {}", o.readdir_entries,
                         kReaddirPage));
  return Status();
}

Status measure_cluster(Run& run) {
  bench::LocalCluster cluster(run.tess, run.tessd, run.dir + "/cluster", kBasePort);
  fmt::print("starting an 8-host 5+2 cluster with {} buckets\n", run.options.buckets);
  TESS_RETURN_IF_ERROR(cluster.up(run.options.buckets));
  TESS_ASSIGN_OR_RETURN(FilesystemId fs_id, create_filesystem(cluster));
  EventLoopGroup loops(2);
  std::vector<LoopClient> clients;
  Status measured = make_loop_clients(loops, cluster, fs_id, clients);
  if (measured.ok()) measured = measure_on_cluster(run, loops, clients);
  for (size_t loop = 0; loop < clients.size(); ++loop) {
    on(loops.executor(loop), close_loop_client(&clients[loop]));
  }
  clients.clear();
  loops.stop();
  Status stopped = cluster.down();
  return measured.ok() ? stopped : measured;
}

void report_ratios(const Run& run) {
  bench::Report& report = *run.report;
  for (const auto& [key, value] : run.cluster) {
    auto local = run.local.find(key);
    if (local == run.local.end() || local->second <= 0) continue;
    report.add(key + "_local_ratio", value / local->second, "cluster / local directory");
  }
  auto same = run.cluster.find(figure_key(Phase::kRenameSame, 1));
  auto cross = run.cluster.find(figure_key(Phase::kRenameCross, 1));
  if (same != run.cluster.end() && cross != run.cluster.end() && cross->second > 0) {
    report.add("cross_rename_cost_ratio", same->second / cross->second,
               "time of a cross-bucket rename / a same-directory one, 1 caller (aim <= 3)");
  }
}

int run(const Options& options) {
  Run r;
  r.options = options;
  auto setup = bench::prepare_run("meta", options.tess, options.tessd, options.dir);
  if (!setup.ok()) {
    fmt::print(stderr, "meta_bench: {}\n", setup.status());
    return 2;
  }
  r.tess = setup->tess;
  r.tessd = setup->tessd;
  r.dir = setup->dir;
  // Before any thread: the watchdog is a fork of this process.
  bench::Watchdog watchdog(r.tess, {r.dir + "/cluster"}, setup->own_dir ? r.dir : "");
  alarm(options.budget_s);  // Bounded: past the budget, the process ends and the watchdog cleans.
  fmt::print("meta_bench: tess {}, tessd {}, in {} (budget {} s)\n", r.tess, r.tessd, r.dir,
             options.budget_s);

  bench::Report report("meta");
  r.report = &report;
  Status failed = measure_local(r);
  if (failed.ok()) failed = measure_cluster(r);
  if (failed.ok()) report_ratios(r);
  alarm(0);
  watchdog.done();
  bench::finish_run(*setup);
  if (!failed.ok()) fmt::print("meta_bench: FAILED: {}\n", failed);
  report.print_json();
  return failed.ok() ? 0 : 1;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  tessera::Options options;
  CLI::App app("meta_bench: namespace operations on a local cluster against a local directory",
               "meta_bench");
  app.add_option("--tess", options.tess, "the tess binary (default: beside this one)");
  app.add_option("--tessd", options.tessd, "the tessd binary (default: beside this one)");
  app.add_option("--dir", options.dir,
                 "where the cluster and the local directory go (default: a new temp dir)");
  app.add_option("--seconds", options.seconds, "the longest each phase runs")
      ->check(CLI::Range(0.5, 600.0))
      ->capture_default_str();
  app.add_option("--threads", options.threads, "callers of the concurrent runs")
      ->check(CLI::Range(2u, 256u))
      ->capture_default_str();
  app.add_option("--readdir-entries", options.readdir_entries, "files of the listed directory")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--buckets", options.buckets, "buckets of the cluster")->capture_default_str();
  app.add_option("--budget-s", options.budget_s, "the whole run ends by then, cleaned up")
      ->check(CLI::Range(60u, 86400u))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  (void)tessera::init_logging({.level = "warn", .file_path = "", .process_name = "meta_bench"});
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // Progress shows as it happens, also into a file.
  return tessera::run(options);
}
