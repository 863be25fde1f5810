#include "drive/chunk_store_workload.h"

#include <boost/asio/this_coro.hpp>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "drive/chunk_store.h"
#include "drive/fake_block_device.h"
#include "drive/fault_injection_fs.h"

namespace tessera {

namespace {

constexpr ClusterUuid kCluster = {0x51, 0x4d, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
constexpr int kDeadDevice = INT32_MAX;

// What the run knows of one chunk it tried to write.
struct Expected {
  uint32_t blocks = 0;
  bool acknowledged = false;   // The write returned OK: it reads back until a crash.
  bool durable = false;        // It must survive any crash.
  bool maybe_removed = false;  // A removal failed: it may have reached the index.
};

class Workload {
 public:
  Workload(const Clock* clock, uint64_t seed, ChunkStoreWorkloadOptions options, std::string* trace)
      : clock_(clock),
        seed_(seed),
        options_(std::move(options)),
        trace_(trace),
        random_(seed),
        device_(kDataStartBlock * kBlockSize + options_.data_area_bytes),
        fs_(rocksdb::FileSystem::Default(), /*sync_to_disk=*/false),
        directory_(fmt::format("{}/chunk-store-{}", options_.directory, seed)) {
    store_options_.clock = clock_;
    store_options_.inline_index = true;
    store_options_.index_env = fs_.env();
    device_.set_after_mutation([this] { on_step(); });
    // RocksDB's background threads (compaction) are not steps of the run: count the loop's only.
    fs_.set_after_mutation([this] {
      if (std::this_thread::get_id() == loop_thread_) on_step();
    });
  }

  Task<Status> run() {
    loop_thread_ = std::this_thread::get_id();
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
    std::filesystem::create_directories(directory_, ignored);
    Status result = co_await body();
    if (store_) {
      die();  // Whatever state the run ended in, close without touching the disks.
      co_await store_->close();
      store_.reset();
    }
    std::filesystem::remove_all(directory_, ignored);
    co_return result;
  }

 private:
  Task<Status> body() {
    auto formatted = co_await ChunkStore::format(device_, index_path(), kCluster, DriveId(1), 1,
                                                 false, store_options_);
    TESS_CO_RETURN_IF_ERROR(formatted.status());
    TESS_CO_ASSIGN_OR_RETURN(store_, co_await open());
    for (step_ = 1; step_ <= options_.steps; ++step_) {
      TESS_CO_RETURN_IF_ERROR(co_await take_step());
      if (!store_->failure().ok()) {
        note("the store failed an index commit: restart");
        TESS_CO_RETURN_IF_ERROR(co_await restart(/*power_loss=*/false));
      }
    }
    note("final power loss");
    co_return co_await restart(/*power_loss=*/true);
  }

  Task<Status> take_step() {
    uint64_t dice = random_() % 100;
    if (dice < 30) co_return co_await write(random_() % 2 == 0);
    if (dice < 42) co_return co_await remove();
    if (dice < 50) co_return co_await barrier();
    if (dice < 66) co_return co_await read();
    if (dice < 70) co_return co_await write_on_failing_device();
    if (dice < 80) co_return co_await crash_during_next_operation();
    co_return co_await restart(/*power_loss=*/dice >= 90);
  }

  Task<Status> write(bool durable) {
    ChunkId id{BucketId(static_cast<uint32_t>(random_() % 3)), StripeId(next_stripe_++), 0, 1};
    auto blocks = static_cast<uint32_t>(1 + random_() % options_.max_chunk_blocks);
    Status written = co_await store_->write(id, pattern(id, blocks), {.durable = durable});
    note(fmt::format("write {} of {} blocks, {}: {}", to_string(id), blocks,
                     durable ? "durable" : "not durable", outcome(written)));
    if (written.ok()) {
      model_[id] = Expected{blocks, true, durable};
    } else if (written.code() == StatusCode::kIoError) {
      model_[id] = Expected{blocks};  // It may have reached the index before the failure.
    } else if (written.code() != StatusCode::kNoSpace) {
      co_return violation("a write failed with an unexpected error: " + written.to_string());
    }
    co_return Status();
  }

  Task<Status> write_on_failing_device() {
    device_.fail_next(1);
    note("the device fails its next operation");
    ChunkId id{BucketId(0), StripeId(next_stripe_++), 0, 1};
    Status written = co_await store_->write(id, pattern(id, 1));
    device_.fail_next(0);
    if (written.code() != StatusCode::kIoError && written.code() != StatusCode::kNoSpace) {
      co_return violation("a write on a failing device did not fail: " + outcome(written));
    }
    co_return Status();
  }

  Task<Status> remove() {
    if (model_.empty()) co_return Status();
    ChunkId id = pick();
    Expected& expected = model_[id];
    Status removed = co_await store_->remove(id);
    note(fmt::format("remove {}: {}", to_string(id), outcome(removed)));
    if (removed.ok()) {
      model_.erase(id);
      removed_.insert(id);
    } else if (removed.code() == StatusCode::kIoError) {
      expected.maybe_removed = true;
    } else if (removed.code() != StatusCode::kNotFound || expected.acknowledged) {
      co_return violation("a removal failed with an unexpected error: " + removed.to_string());
    }
    co_return Status();
  }

  Task<Status> barrier() {
    Status done = co_await store_->barrier();
    note(fmt::format("barrier: {}", outcome(done)));
    if (done.ok()) {
      for (auto& [id, expected] : model_) expected.durable = expected.acknowledged;
    } else if (done.code() != StatusCode::kIoError) {
      co_return violation("a barrier failed with an unexpected error: " + done.to_string());
    }
    co_return Status();
  }

  Task<Status> read() {
    if (model_.empty()) co_return Status();
    ChunkId id = pick();
    Expected expected = model_[id];
    auto read = co_await store_->read_all(id);
    note(fmt::format("read {}: {}", to_string(id), outcome(read.status())));
    if (read.ok() && !same(*read, pattern(id, expected.blocks))) {
      co_return violation(fmt::format("{} reads back wrong bytes", to_string(id)));
    }
    if (!read.ok() && (expected.acknowledged || read.status().code() != StatusCode::kNotFound)) {
      co_return violation(fmt::format("{} was acknowledged and does not read back: {}",
                                      to_string(id), read.status().to_string()));
    }
    co_return Status();
  }

  // The process dies after a few device or index steps of the next operation (or of background
  // commits), which can leave any commit half done; then it restarts, with or without power.
  Task<Status> crash_during_next_operation() {
    die_after_ = 1 + random_() % 6;
    steps_done_ = 0;
    note(fmt::format("the process will die after {} steps", die_after_));
    switch (random_() % 4) {
      case 0:
        TESS_CO_RETURN_IF_ERROR(co_await write(true));
        break;
      case 1:
        TESS_CO_RETURN_IF_ERROR(co_await write(false));
        break;
      case 2:
        TESS_CO_RETURN_IF_ERROR(co_await remove());
        break;
      default:
        TESS_CO_RETURN_IF_ERROR(co_await barrier());
        break;
    }
    co_return co_await restart(/*power_loss=*/random_() % 2 == 0);
  }

  Task<Status> restart(bool power_loss) {
    die();
    co_await store_->close();
    store_.reset();
    if (power_loss) {
      device_.crash(/*keep_probability=*/0.5, random_());
      fs_.simulate_power_loss(/*keep_unsynced_probability=*/0.5, random_());
    }
    revive();
    Result<std::unique_ptr<ChunkStore>> opened = co_await open();
    if (!opened.ok()) {
      co_return violation("the store did not reopen: " + opened.status().to_string());
    }
    store_ = std::move(*opened);
    note(fmt::format("{}: reopened with {} chunks, {} dropped",
                     power_loss ? "power loss" : "process crash", store_->stats().chunk_count,
                     store_->dropped_at_open()));
    co_return co_await check_recovered();
  }

  // The invariants after a restart. Chunks found are durable from here on (recovery flushed them
  // and recorded them durable); chunks not found leave the model.
  Task<Status> check_recovered() {
    uint64_t used_blocks = 0;
    for (auto it = model_.begin(); it != model_.end();) {
      const auto& [id, expected] = *it;
      if (!store_->find(id)) {
        if (expected.durable && !expected.maybe_removed) {
          co_return violation(fmt::format("acknowledged durable {} was lost", to_string(id)));
        }
        it = model_.erase(it);
        continue;
      }
      auto read = co_await store_->read_all(id);
      if (!read.ok()) {
        co_return violation(fmt::format("{} is indexed but its bytes are gone: {}", to_string(id),
                                        read.status().to_string()));
      }
      if (!same(*read, pattern(id, expected.blocks))) {
        co_return violation(fmt::format("{} reads back wrong bytes", to_string(id)));
      }
      used_blocks += header_blocks(expected.blocks) + expected.blocks;
      it->second = Expected{expected.blocks, true, true};
      ++it;
    }
    for (const ChunkId& id : removed_) {
      if (store_->find(id)) co_return violation(fmt::format("removed {} came back", to_string(id)));
    }
    co_return check_space(used_blocks);
  }

  Status check_space(uint64_t used_blocks) const {
    ChunkStoreStats stats = store_->stats();
    if (stats.chunk_count != model_.size()) {
      return violation(
          fmt::format("{} chunks indexed, {} expected", stats.chunk_count, model_.size()));
    }
    if (stats.used_bytes != used_blocks * kBlockSize ||
        stats.used_bytes + stats.free_bytes != stats.capacity_bytes) {
      return violation(fmt::format("space: {} used + {} free of {}, expected {} used",
                                   stats.used_bytes, stats.free_bytes, stats.capacity_bytes,
                                   used_blocks * kBlockSize));
    }
    return Status();
  }

  Task<Result<std::unique_ptr<ChunkStore>>> open() {
    co_return co_await ChunkStore::open(co_await boost::asio::this_coro::executor, device_,
                                        index_path(), kCluster, store_options_);
  }

  void on_step() {
    if (die_after_ != 0 && ++steps_done_ == die_after_) die();
  }
  // A dead process reaches neither the device nor the index any more.
  void die() {
    device_.fail_next(kDeadDevice);
    fs_.set_active(false);
  }
  void revive() {
    die_after_ = 0;
    device_.fail_next(0);
    fs_.set_active(true);
  }

  ChunkId pick() {
    return std::next(model_.begin(), static_cast<long>(random_() % model_.size()))->first;
  }
  Buffer pattern(const ChunkId& id, uint32_t blocks) const {
    Buffer data = Buffer::allocate(uint64_t{blocks} * kBlockSize);
    std::mt19937_64 bytes(seed_ * 1'000'003 + id.stripe.value());
    auto* words = reinterpret_cast<uint64_t*>(data.data());
    for (size_t i = 0; i < data.size() / 8; ++i) words[i] = bytes();
    return data;
  }
  static bool same(const Buffer& a, const Buffer& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
  }
  static std::string outcome(const Status& status) {
    return status.ok() ? std::string("ok") : std::string(status_code_name(status.code()));
  }
  void note(const std::string& line) {
    if (trace_ != nullptr) *trace_ += fmt::format("{} {}\n", step_, line);
  }
  Status violation(const std::string& what) const {
    return error(StatusCode::kInternal, "chunk store workload, seed {}, step {}: {}", seed_, step_,
                 what);
  }
  std::string index_path() const { return directory_ + "/index"; }

  const Clock* clock_;
  uint64_t seed_;
  ChunkStoreWorkloadOptions options_;
  std::string* trace_;
  std::mt19937_64 random_;
  FakeBlockDevice device_;
  FaultInjectionFs fs_;
  std::string directory_;
  ChunkStoreOptions store_options_;
  std::unique_ptr<ChunkStore> store_;
  std::map<ChunkId, Expected> model_;
  std::set<ChunkId> removed_;  // Acknowledged removals: never to come back.
  uint64_t next_stripe_ = 0;
  uint32_t step_ = 0;
  uint64_t die_after_ = 0;  // 0: the process does not die by itself.
  uint64_t steps_done_ = 0;
  std::thread::id loop_thread_;
};

}  // namespace

Task<Status> run_chunk_store_workload(const Clock* clock, uint64_t seed,
                                      ChunkStoreWorkloadOptions options, std::string* trace) {
  auto workload = std::make_unique<Workload>(clock, seed, std::move(options), trace);
  co_return co_await workload->run();
}

}  // namespace tessera
