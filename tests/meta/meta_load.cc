// tess-meta-load: a namespace load that checks what it is told (issue 11, "real processes"). Run
// it against a running cluster while hosts fail, then `tess fsck` the filesystem:
//
//   tess-meta-load --api 127.0.0.1:7500 [--api ...] --fs-id N [--threads 4] [--duration-s 30]
//                  [--op-timeout-ms 10000] [--final-timeout-s 60] [--seed N] [--json]
//
// Each thread has its own NamespaceClient (own BucketClient, own random session) on its own event
// loop and its own directories: a home directory under the root and three subdirectories, which
// the hash places in other buckets, so moves and links between them are cross-bucket
// transactions. One operation at a time it creates a file, renames one to another of its
// directories, links one, unlinks one, or looks one up, with names never used before. It
// remembers every name it was told exists (and the inode), and every name whose operation failed
// without an answer (deadline exceeded, unavailable): those are "unknown" and never touched
// again. A lookup of a name it was told exists must answer that inode. After --duration-s each
// thread lists its directories with a long deadline: every name it was told exists must be there
// naming its inode (else lost), and every name there must be one it was told exists or an unknown
// one (else a phantom: an acknowledged unlink or rename undone).
//
// Also measured: operations acknowledged per second, the longest a thread went without a
// successful operation (max_unavailable_ms).
//
// Exit codes: 0 every check passed and at least one operation was acknowledged; 1 a check
// failed; 2 bad arguments or the cluster's bucket table could not be read.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bucket/bucket_client.h"
#include "client/namespace_client.h"
#include "client/rest_bucket_directory.h"
#include "runtime/event_loop.h"

namespace tessera {
namespace {

using Clock = RealClock;
using std::chrono::milliseconds;

struct Options {
  std::vector<std::string> api;
  uint32_t fs_id = 0;
  uint32_t threads = 4;
  double duration_s = 30;
  uint32_t op_timeout_ms = 10'000;
  uint32_t final_timeout_s = 60;
  uint64_t seed = 0;
  bool json = false;
};

// What a thread knows of a name in one of its directories.
struct Known {
  InodeId inode;
  bool unknown = false;  // Its last operation's outcome is not known: never touched again.
};

struct Figures {
  uint64_t acked = 0;
  uint64_t unknown = 0;
  uint64_t lost = 0;
  uint64_t phantoms = 0;
  uint64_t wrong_answers = 0;
  double max_unavailable_ms = 0;
};

struct Shared {
  std::mutex mutex;
  Figures figures;
  std::vector<std::string> examples;
  void note(std::string what) {
    std::lock_guard lock(mutex);
    if (examples.size() < 10) examples.push_back(std::move(what));
  }
};

struct Worker {
  uint32_t index = 0;
  uint64_t session = 0;
  uint64_t seed = 0;
  std::unique_ptr<client::RestBucketDirectory> directory;
};

struct Run {
  Options options;
  uint32_t bucket_count = 0;
  uint64_t run_id = 0;
  Clock::TimePoint load_end;
  Shared* shared = nullptr;
};

double ms_between(Clock::TimePoint a, Clock::TimePoint b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// An answer that tells what happened: not a failure to reach the buckets in time, nor `locked`
// after the deadline (a cross-bucket operation may have begun before it met the lock).
bool answered(const Result<proto::MetaResult>& result) { return result.ok() && !result->locked(); }

class Thread {
 public:
  Thread(client::NamespaceClient& names, const Run& run, Worker& worker)
      : names_(names), run_(run), worker_(worker), random_(worker.seed) {}

  Task<void> run() {
    if (!co_await make_directories()) co_return;
    Clock::TimePoint last_success = Clock::instance().now();
    while (Clock::instance().now() < run_.load_end) {
      bool succeeded = co_await one_operation();
      Clock::TimePoint now = Clock::instance().now();
      if (succeeded) {
        figures_.max_unavailable_ms =
            std::max(figures_.max_unavailable_ms, ms_between(last_success, now));
        last_success = now;
      }
    }
    co_await verify();
    std::lock_guard lock(run_.shared->mutex);
    Figures& total = run_.shared->figures;
    total.acked += figures_.acked;
    total.unknown += figures_.unknown;
    total.lost += figures_.lost;
    total.phantoms += figures_.phantoms;
    total.wrong_answers += figures_.wrong_answers;
    total.max_unavailable_ms = std::max(total.max_unavailable_ms, figures_.max_unavailable_ms);
  }

 private:
  Deadline op_deadline() const {
    return Deadline::after(milliseconds(run_.options.op_timeout_ms), Clock::instance());
  }

  // A directory `name` in `parent`, made or found (a mkdir whose answer was lost may have made
  // it): retried until the load's end.
  Task<std::optional<InodeId>> ensure_directory(InodeId parent, const std::string& name) {
    while (Clock::instance().now() < run_.load_end) {
      auto made = co_await names_.mkdir(caller_, parent, name, 0755, op_deadline());
      if (made.ok() && made->errno_value() == 0) co_return InodeId(made->inode().id());
      auto found = co_await names_.lookup(caller_, parent, name, op_deadline());
      if (found.ok() && found->errno_value() == 0 && found->entries_size() == 1) {
        co_return InodeId(found->entries(0).inode());
      }
    }
    run_.shared->note(fmt::format("thread {}: could not make directory {}", worker_.index, name));
    ++figures_.wrong_answers;
    co_return std::nullopt;
  }

  Task<bool> make_directories() {
    std::optional<InodeId> root;
    while (!root && Clock::instance().now() < run_.load_end) {
      auto made = co_await names_.root(caller_, op_deadline());
      if (made.ok() && made->errno_value() == 0) root = InodeId(made->inode().id());
    }
    if (!root) co_return false;
    auto home = co_await ensure_directory(
        *root, fmt::format("meta-load-{:016x}-t{}", run_.run_id, worker_.index));
    if (!home) co_return false;
    dirs_.push_back(*home);
    for (int i = 0; i < 3; ++i) {
      auto sub = co_await ensure_directory(*home, fmt::format("d{}", i));
      if (!sub) co_return false;
      dirs_.push_back(*sub);
    }
    known_.resize(dirs_.size());
    co_return true;
  }

  std::string new_name() { return fmt::format("f{}", next_name_++); }
  size_t random_dir() { return random_() % dirs_.size(); }
  // A name this thread was told exists, if any: (directory index, name).
  std::optional<std::pair<size_t, std::string>> random_known() {
    size_t dir = random_dir();
    std::vector<std::string> candidates;
    for (const auto& [name, known] : known_[dir]) {
      if (!known.unknown) candidates.push_back(name);
    }
    if (candidates.empty()) return std::nullopt;
    return std::make_pair(dir, candidates[random_() % candidates.size()]);
  }

  // The outcome of a mutation: true if acknowledged; unknown (false) marks `touched`.
  bool settle(const Result<proto::MetaResult>& result, const std::string& what,
              const std::vector<Known*>& touched) {
    if (!answered(result)) {
      ++figures_.unknown;
      for (Known* known : touched) known->unknown = true;
      return false;
    }
    if (result->errno_value() != 0) {
      ++figures_.wrong_answers;
      run_.shared->note(fmt::format("thread {}: {} answered errno {}: {}", worker_.index, what,
                                    result->errno_value(), result->message()));
      for (Known* known : touched) known->unknown = true;
      return false;
    }
    ++figures_.acked;
    return true;
  }

  Task<bool> one_operation() {
    uint32_t roll = random_() % 100;
    auto existing = random_known();
    if (roll < 35 || !existing) co_return co_await create();
    auto [dir, name] = *existing;
    if (roll < 55) co_return co_await rename(dir, name);
    if (roll < 65) co_return co_await link(dir, name);
    if (roll < 85) co_return co_await unlink(dir, name);
    co_return co_await lookup(dir, name);
  }

  Task<bool> create() {
    size_t dir = random_dir();
    std::string name = new_name();
    auto made = co_await names_.create(caller_, dirs_[dir], name, 0644, true, op_deadline());
    Known& known = known_[dir][name];
    if (!settle(made, fmt::format("create {}", name), {&known})) co_return false;
    known.inode = InodeId(made->inode().id());
    co_return true;
  }

  Task<bool> rename(size_t dir, const std::string& name) {
    size_t to = random_dir();
    std::string new_name = this->new_name();
    auto moved =
        co_await names_.rename(caller_, dirs_[dir], name, dirs_[to], new_name, 0, op_deadline());
    InodeId inode = known_[dir][name].inode;
    Known& target = known_[to][new_name];
    target.inode = inode;
    if (!settle(moved, fmt::format("rename {} to {}", name, new_name),
                {&known_[dir][name], &target})) {
      co_return false;
    }
    known_[dir].erase(name);
    co_return true;
  }

  Task<bool> link(size_t dir, const std::string& name) {
    size_t to = random_dir();
    std::string new_name = this->new_name();
    InodeId inode = known_[dir][name].inode;
    proto::MetaCommand command;
    *command.mutable_caller() = caller_;
    command.mutable_link()->set_inode(inode.value());
    command.mutable_link()->set_new_parent(dirs_[to].value());
    command.mutable_link()->set_new_name(new_name);
    auto linked = co_await names_.mutate(std::move(command), op_deadline());
    Known& target = known_[to][new_name];
    target.inode = inode;
    co_return settle(linked, fmt::format("link {} as {}", name, new_name), {&target});
  }

  Task<bool> unlink(size_t dir, const std::string& name) {
    auto removed = co_await names_.unlink(caller_, dirs_[dir], name, false, op_deadline());
    if (!settle(removed, fmt::format("unlink {}", name), {&known_[dir][name]})) co_return false;
    known_[dir].erase(name);
    co_return true;
  }

  Task<bool> lookup(size_t dir, const std::string& name) {
    auto found = co_await names_.lookup(caller_, dirs_[dir], name, op_deadline());
    if (!answered(found)) co_return false;
    InodeId want = known_[dir][name].inode;
    if (found->errno_value() != 0 || found->entries_size() != 1 ||
        InodeId(found->entries(0).inode()) != want) {
      ++figures_.lost;
      run_.shared->note(
          fmt::format("thread {}: lookup of acknowledged {} (inode {:x}) answered "
                      "errno {}: {}",
                      worker_.index, name, want.value(), found->errno_value(), found->message()));
      known_[dir][name].unknown = true;  // Reported once.
      co_return false;
    }
    co_return true;
  }

  // Every directory listed in full, compared with what this thread was told.
  Task<void> verify() {
    Deadline deadline =
        Deadline::after(std::chrono::seconds(run_.options.final_timeout_s), Clock::instance());
    for (size_t d = 0; d < dirs_.size(); ++d) {
      std::map<std::string, InodeId> listed;
      uint64_t cookie = 0;
      for (;;) {
        proto::MetaRead read;
        *read.mutable_caller() = caller_;
        read.mutable_readdir()->set_dir(dirs_[d].value());
        read.mutable_readdir()->set_cookie(cookie);
        auto page = co_await names_.read(read, deadline);
        if (!page.ok() || page->errno_value() != 0) {
          ++figures_.lost;
          run_.shared->note(fmt::format("thread {}: directory {} could not be listed: {}",
                                        worker_.index, d,
                                        page.ok() ? page->message() : page.status().to_string()));
          break;
        }
        for (const proto::MetaDirEntry& entry : page->entries()) {
          listed[entry.name()] = InodeId(entry.inode());
          cookie = entry.cookie();
        }
        if (page->end() || page->entries_size() == 0) break;
      }
      for (const auto& [name, known] : known_[d]) {
        if (known.unknown) continue;
        auto found = listed.find(name);
        if (found == listed.end() || found->second != known.inode) {
          ++figures_.lost;
          run_.shared->note(fmt::format("thread {}: acknowledged {} in directory {} is {}",
                                        worker_.index, name, d,
                                        found == listed.end() ? "missing" : "another inode"));
        }
      }
      for (const auto& [name, inode] : listed) {
        if (d == 0 && name.size() == 2 && name[0] == 'd') continue;  // The subdirectories.
        if (known_[d].contains(name)) continue;
        ++figures_.phantoms;
        run_.shared->note(fmt::format("thread {}: {} in directory {} was never acknowledged there",
                                      worker_.index, name, d));
      }
    }
  }

  client::NamespaceClient& names_;
  const Run& run_;
  Worker& worker_;
  std::mt19937_64 random_;
  proto::Caller caller_;  // Root, unchecked: the load is not about permissions.
  std::vector<InodeId> dirs_;
  std::vector<std::map<std::string, Known>> known_;
  uint64_t next_name_ = 0;
  Figures figures_;
};

Task<void> run_worker(Worker* worker, const Run* run) {
  Executor executor = co_await boost::asio::this_coro::executor;
  bucket::BucketClientOptions bucket_options;
  bucket_options.session = worker->session;
  bucket::BucketClient buckets(executor, *worker->directory, bucket_options);
  client::NamespaceClientOptions names_options;
  names_options.bucket_count = run->bucket_count;
  names_options.fs = FilesystemId(run->options.fs_id);
  names_options.seed = worker->seed;
  client::NamespaceClient names(buckets, names_options);
  Thread thread(names, *run, *worker);
  co_await thread.run();
}

int run_load(const Options& options) {
  uint64_t seed = options.seed != 0 ? options.seed : std::random_device()();
  std::mt19937_64 random(seed);
  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t i = 0; i < options.threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->index = i;
    while (worker->session == 0) worker->session = random();
    worker->seed = random();
    client::RestBucketDirectoryOptions directory_options;
    directory_options.api = options.api;
    worker->directory = std::make_unique<client::RestBucketDirectory>(directory_options);
    Status loaded =
        worker->directory->load(Deadline::after(std::chrono::seconds(30), Clock::instance()));
    if (!loaded.ok()) {
      fmt::print(stderr, "tess-meta-load: the cluster's buckets could not be read: {}\n",
                 loaded.to_string());
      return 2;
    }
    workers.push_back(std::move(worker));
  }
  Shared shared;
  Run run;
  run.options = options;
  run.shared = &shared;
  run.bucket_count = static_cast<uint32_t>(workers[0]->directory->bucket_count());
  run.run_id = (uint64_t{std::random_device()()} << 32) | std::random_device()();
  if (run.bucket_count == 0) {
    fmt::print(stderr, "tess-meta-load: the cluster has no buckets\n");
    return 2;
  }
  fmt::print(stderr, "tess-meta-load: {} threads on filesystem {}, {} buckets, {:.0f} s, seed {}\n",
             options.threads, options.fs_id, run.bucket_count, options.duration_s, seed);
  Clock::TimePoint start = Clock::instance().now();
  run.load_end = start + std::chrono::duration_cast<Clock::Duration>(
                             std::chrono::duration<double>(options.duration_s));
  {
    EventLoopGroup loops(options.threads);
    std::vector<std::future<void>> done;
    done.reserve(workers.size());
    for (auto& worker : workers) {
      done.push_back(boost::asio::co_spawn(
          loops.executor(worker->index), run_worker(worker.get(), &run), boost::asio::use_future));
    }
    for (auto& d : done) d.get();
    loops.stop();
  }
  const Figures& f = shared.figures;
  double seconds = std::max(options.duration_s, 0.001);
  fmt::print(stderr,
             "tess-meta-load: {} operations acknowledged ({:.0f}/s), {} of unknown outcome, {} "
             "lost, {} phantoms, {} wrong answers; longest without success {:.0f} ms\n",
             f.acked, static_cast<double>(f.acked) / seconds, f.unknown, f.lost, f.phantoms,
             f.wrong_answers, f.max_unavailable_ms);
  for (const std::string& example : shared.examples) fmt::print(stderr, "  {}\n", example);
  if (options.json) {
    fmt::print(
        "{{\"acked\": {}, \"acked_per_s\": {:.1f}, \"unknown\": {}, \"lost\": {}, \"phantoms\": "
        "{}, \"wrong_answers\": {}, \"max_unavailable_ms\": {:.0f}, \"seed\": {}}}\n",
        f.acked, static_cast<double>(f.acked) / seconds, f.unknown, f.lost, f.phantoms,
        f.wrong_answers, f.max_unavailable_ms, seed);
  }
  bool passed = f.acked > 0 && f.lost == 0 && f.phantoms == 0 && f.wrong_answers == 0;
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  tessera::Options options;
  CLI::App app("tess-meta-load: a checked namespace load on a running cluster", "tess-meta-load");
  std::vector<std::string> api_flags;
  app.add_option("--api", api_flags, "a REST API HOST:PORT (repeatable, or comma-separated)")
      ->required();
  app.add_option("--fs-id", options.fs_id, "the filesystem's id (tess fs list)")
      ->required()
      ->check(CLI::Range(1u, 0xffffffffu));
  app.add_option("--threads", options.threads, "client threads, each with its own client")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--duration-s", options.duration_s, "seconds of load before the check")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--op-timeout-ms", options.op_timeout_ms, "one operation's deadline")
      ->capture_default_str()
      ->check(CLI::Range(10, 600'000));
  app.add_option("--final-timeout-s", options.final_timeout_s, "the listing at the end, per thread")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--seed", options.seed, "randomness (default: a new seed, printed)");
  app.add_flag("--json", options.json, "print one JSON line of figures last");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  for (const std::string& flag : api_flags) {
    size_t begin = 0;
    while (begin <= flag.size()) {
      size_t comma = flag.find(',', begin);
      std::string one = flag.substr(begin, comma == std::string::npos ? comma : comma - begin);
      if (!one.empty()) options.api.push_back(one);
      if (comma == std::string::npos) break;
      begin = comma + 1;
    }
  }
  return tessera::run_load(options);
}
