// Crash tests of the chunk store: the process dies after every single step of a commit (each
// device write and flush, each append and sync of the index), then either restarts at once
// (process crash: the device's volatile cache and the page cache survive) or after a power loss
// (FakeBlockDevice::crash tears unflushed blocks; FaultInjectionFs drops the index's unsynced
// tail), for durable and non-durable writes. After every recovery: each acknowledged durable
// chunk reads back intact, every other chunk is intact or absent, space accounting is exact, and
// no chunk is indexed whose bytes are gone (checked again after one more power loss).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstring>
#include <map>
#include <random>

#include "drive/chunk_index.h"
#include "drive/chunk_store.h"
#include "drive/fake_block_device.h"
#include "drive/fault_injection_fs.h"
#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera {
namespace {

using testing::TempDir;

constexpr ClusterUuid kCluster = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
constexpr uint64_t kDriveBytes = kDataStartBlock * kBlockSize + 4 * kMiB;
constexpr uint64_t kNever = UINT64_MAX;

ChunkId chunk(uint64_t stripe) { return ChunkId{BucketId(1), StripeId(stripe), 0, 1}; }

Buffer pattern(const ChunkId& id, uint32_t blocks) {
  Buffer data = Buffer::allocate(uint64_t{blocks} * kBlockSize);
  std::mt19937_64 random(id.stripe.value() * 7919 + blocks);
  auto* words = reinterpret_cast<uint64_t*>(data.data());
  for (size_t i = 0; i < data.size() / 8; ++i) words[i] = random();
  return data;
}

bool same(const Buffer& a, const Buffer& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// A drive whose device and index die together after a given number of steps.
struct Machine {
  FakeBlockDevice device{kDriveBytes};
  FaultInjectionFs fs{rocksdb::FileSystem::Default(), /*sync_to_disk=*/false};
  TempDir dir;
  std::string index_path = dir.file("index");
  ChunkStoreOptions options;
  uint64_t steps = 0;
  uint64_t die_after = kNever;

  Machine() {
    options.inline_index = true;
    options.index_env = fs.env();
    device.set_after_mutation([this] { step(); });
    fs.set_after_mutation([this] { step(); });
  }
  void step() {
    if (++steps == die_after) die();
  }
  // The process is dead: nothing it still tries reaches the device or the index.
  void die() {
    device.fail_next(INT32_MAX);
    fs.set_active(false);
  }
  void revive() {
    device.fail_next(0);
    fs.set_active(true);
  }
  void power_loss(uint64_t seed) {
    device.crash(/*keep_probability=*/0.5, seed);
    fs.simulate_power_loss();
  }
  Task<Result<std::unique_ptr<ChunkStore>>> open() {
    co_return co_await ChunkStore::open(co_await boost::asio::this_coro::executor, device,
                                        index_path, kCluster, options);
  }
};

struct Outcome {
  uint32_t blocks;
  bool acknowledged = false;
  bool durable = false;        // Acknowledged durable, or made durable by an acknowledged barrier.
  bool removed = false;        // An acknowledged removal.
  bool maybe_removed = false;  // A removal that failed: it may have reached the index.
};

// Reads every chunk the model knows and checks the invariants; `present` gets the ones found.
Task<void> check_invariants(ChunkStore* store, std::map<ChunkId, Outcome> model,
                            std::map<ChunkId, Outcome>* present) {
  uint64_t data_blocks = 0;
  for (const auto& [id, outcome] : model) {
    SCOPED_TRACE("chunk " + to_string(id));
    bool indexed = store->find(id).has_value();
    if (outcome.removed) {
      EXPECT_FALSE(indexed) << "an acknowledged removal came back";
      continue;
    }
    if (outcome.durable && !outcome.maybe_removed) {
      EXPECT_TRUE(indexed) << "an acknowledged durable chunk was lost";
    }
    if (!indexed) continue;
    auto read = co_await store->read_all(id);
    EXPECT_TRUE(read.ok()) << "indexed but its bytes are gone: " << read.status();
    if (read.ok()) {
      EXPECT_TRUE(same(*read, pattern(id, outcome.blocks)));
    }
    data_blocks += outcome.blocks;
    (*present)[id] = outcome;
  }
  ChunkStoreStats stats = store->stats();
  EXPECT_EQ(stats.chunk_count, present->size()) << "a chunk the model does not know";
  EXPECT_EQ(stats.used_bytes, (data_blocks + stats.chunk_count) * kBlockSize);
  EXPECT_EQ(stats.used_bytes + stats.free_bytes, stats.capacity_bytes);
}

// One run: a baseline chunk, then the steps under test, with the process dying after
// `die_after` steps (kNever: it does not), then a restart, with a power loss first if asked.
// `steps_seen` gets the number of steps the run took.
Task<void> crash_run(bool durable, uint64_t die_after, bool power_loss, uint64_t* steps_seen) {
  Machine machine;
  std::map<ChunkId, Outcome> model;
  {
    auto formatted = co_await ChunkStore::format(machine.device, machine.index_path, kCluster,
                                                 DriveId(1), 1, false, machine.options);
    CO_ASSERT_OK(formatted);
    auto opened = co_await machine.open();
    CO_ASSERT_OK(opened);
    std::unique_ptr<ChunkStore> store = std::move(*opened);
    CO_ASSERT_OK(co_await store->write(chunk(0), pattern(chunk(0), 3)));
    model[chunk(0)] = Outcome{3, true, true};

    machine.steps = 0;
    machine.die_after = die_after;
    for (uint64_t stripe = 1; stripe <= 2; ++stripe) {
      uint32_t blocks = static_cast<uint32_t>(stripe + 1);
      Status written = co_await store->write(chunk(stripe), pattern(chunk(stripe), blocks),
                                             {.durable = durable});
      model[chunk(stripe)] = Outcome{blocks, written.ok(), written.ok() && durable};
    }
    Status removed = co_await store->remove(chunk(0));
    model[chunk(0)].removed = removed.ok();
    model[chunk(0)].maybe_removed = !removed.ok();
    if (!durable && (co_await store->barrier()).ok()) {
      for (auto& [id, outcome] : model) outcome.durable = outcome.acknowledged;
    }
    co_await store->close();
  }
  *steps_seen = machine.steps;
  machine.die();  // Whatever the run did not get to, a dead process does not do.
  if (power_loss) machine.power_loss(die_after);
  machine.revive();

  std::map<ChunkId, Outcome> present;
  {
    auto reopened = co_await machine.open();
    CO_ASSERT_OK(reopened);
    co_await check_invariants(reopened->get(), model, &present);
    co_await (*reopened)->close();
  }
  // Recovery recorded what it kept as durable: one more power loss must not take any of it.
  machine.power_loss(die_after + 1000);
  auto again = co_await machine.open();
  CO_ASSERT_OK(again);
  for (auto& [id, outcome] : present) {
    outcome.durable = true;
    outcome.maybe_removed = false;
  }
  std::map<ChunkId, Outcome> still_present;
  co_await check_invariants(again->get(), present, &still_present);
  co_await (*again)->close();
}

void run(bool durable, uint64_t die_after, bool power_loss, uint64_t* steps_seen) {
  boost::asio::io_context context;
  FakeClock clock;
  run_simulated(context, clock, crash_run(durable, die_after, power_loss, steps_seen));
}

TEST(ChunkStoreCrashTest, DiesAfterEveryCommitStep) {
  for (bool durable : {true, false}) {
    uint64_t total = 0;
    run(durable, kNever, false, &total);
    // Each write: header and data writes, then (durable) a flush, an index append and sync; the
    // removal: a flush, an append and a sync; a barrier: a flush, an append and a sync.
    EXPECT_GE(total, 8u);
    for (uint64_t die_after = 1; die_after <= total; ++die_after) {
      for (bool power_loss : {false, true}) {
        SCOPED_TRACE(fmt::format("{} writes, dying after step {} of {}, {}",
                                 durable ? "durable" : "non-durable", die_after, total,
                                 power_loss ? "power loss" : "process crash"));
        uint64_t steps = 0;
        run(durable, die_after, power_loss, &steps);
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
}

// The fault file system itself: unsynced appends vanish at a power loss, synced ones stay, and a
// dead file system changes nothing.
TEST(FaultInjectionFsTest, DropsWhatWasNotSynced) {
  FaultInjectionFs fs;
  TempDir dir;
  std::string path = dir.file("index");
  ChunkRecord synced{chunk(1), Extent{kDataStartBlock, 2}, 1, {7}};
  ChunkRecord unsynced{chunk(2), Extent{kDataStartBlock + 2, 2}, 2, {8}};
  {
    auto index = ChunkIndex::open(path, {.env = fs.env()});
    ASSERT_OK(index);
    ASSERT_OK((*index)->commit({{synced}, {}}, /*sync=*/true, 1));
    ASSERT_OK((*index)->commit({{unsynced}, {}}, /*sync=*/false, 1));
    fs.fail_next_syncs(1);
    EXPECT_FALSE((*index)->commit({}, /*sync=*/true, 2).ok()) << "an injected sync failure";
    fs.set_active(false);
  }
  fs.simulate_power_loss();
  fs.set_active(true);
  auto index = ChunkIndex::open(path, {.env = fs.env()});
  ASSERT_OK(index);
  std::vector<ChunkId> ids;
  ASSERT_OK((*index)->load([&ids](const ChunkRecord& record) {
    ids.push_back(record.id);
    return Status();
  }));
  EXPECT_EQ(ids, std::vector<ChunkId>{chunk(1)});
  EXPECT_EQ((*index)->durable_seq(), 1u);
}

}  // namespace
}  // namespace tessera
