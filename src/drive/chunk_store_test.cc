#include "drive/chunk_store.h"

#include <gtest/gtest.h>

#include <boost/asio/this_coro.hpp>
#include <cstring>
#include <map>
#include <random>

#include "base/block_checksums.h"
#include "drive/fake_block_device.h"
#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera {
namespace {

using testing::run_task;
using testing::TempDir;

constexpr ClusterUuid kCluster = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
constexpr uint64_t kDataAreaBytes = 8 * kMiB;
constexpr uint64_t kDriveBytes = kDataStartBlock * kBlockSize + kDataAreaBytes;

ChunkId chunk(uint32_t bucket, uint64_t stripe, uint16_t column = 0, uint32_t generation = 1) {
  return ChunkId{BucketId(bucket), StripeId(stripe), column, generation};
}

// Contents that depend on the id and a salt, so a read can be checked without keeping a copy.
Buffer pattern(const ChunkId& id, uint32_t blocks, uint32_t salt = 0) {
  Buffer data = Buffer::allocate(uint64_t{blocks} * kBlockSize);
  std::mt19937_64 random(uint64_t{id.bucket.value()} * 1'000'003 + id.stripe.value() * 31 +
                         id.column + uint64_t{id.generation} * 7 + salt);
  auto* words = reinterpret_cast<uint64_t*>(data.data());
  for (size_t i = 0; i < data.size() / 8; ++i) words[i] = random();
  return data;
}

bool same(const Buffer& a, const Buffer& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

bool mentions(const Status& status, std::string_view text) {
  return status.message().find(text) != std::string_view::npos;
}

// A drive in memory and its index in a temporary directory.
struct Drive {
  FakeBlockDevice device{kDriveBytes};
  TempDir dir;
  std::string index_path = dir.file("index");
  ChunkStoreOptions options;

  Task<Result<std::unique_ptr<ChunkStore>>> format_and_open() {
    auto formatted =
        co_await ChunkStore::format(device, index_path, kCluster, DriveId(3), 1000, false, options);
    if (!formatted.ok()) co_return formatted.status();
    co_return co_await open();
  }
  Task<Result<std::unique_ptr<ChunkStore>>> open() {
    co_return co_await ChunkStore::open(co_await boost::asio::this_coro::executor, device,
                                        index_path, kCluster, options);
  }
};

// Free space must equal the data area minus the extents of the chunks held.
void expect_exact_space(const ChunkStore& store, uint64_t expected_data_blocks) {
  ChunkStoreStats stats = store.stats();
  EXPECT_EQ(stats.used_bytes + stats.free_bytes, stats.capacity_bytes);
  EXPECT_EQ(stats.used_bytes, (expected_data_blocks + stats.chunk_count) * kBlockSize)
      << "one header block per chunk of at most 1008 blocks";
}

Task<void> write_read_list_remove() {
  Drive drive;
  auto opened = co_await drive.format_and_open();
  CO_ASSERT_OK(opened);
  ChunkStore& store = **opened;
  for (uint32_t stripe = 0; stripe < 5; ++stripe) {
    CO_ASSERT_OK(co_await store.write(chunk(1, stripe), pattern(chunk(1, stripe), 4)));
  }
  CO_ASSERT_OK(co_await store.write(chunk(2, 0), pattern(chunk(2, 0), 256)));
  CO_ASSERT_OK(co_await store.write(chunk(0, 9), pattern(chunk(0, 9), 1)));

  auto whole = co_await store.read_all(chunk(2, 0));
  CO_ASSERT_OK(whole);
  EXPECT_TRUE(same(*whole, pattern(chunk(2, 0), 256)));
  auto range = co_await store.read(chunk(2, 0), 10, 3);
  CO_ASSERT_OK(range);
  EXPECT_EQ(std::memcmp(range->data(), whole->data() + 10 * kBlockSize, 3 * kBlockSize), 0);
  EXPECT_EQ((co_await store.read(chunk(2, 0), 255, 2)).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ((co_await store.read(chunk(2, 0), 0, 0)).status().code(), StatusCode::kOutOfRange);
  auto missing = co_await store.read_all(chunk(2, 1));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(mentions(missing.status(), "b2/s1/c0/g1")) << missing.status();

  std::vector<ChunkInfo> first = store.list(BucketId(1), std::nullopt, 3);
  CO_ASSERT_TRUE(first.size() == 3);
  EXPECT_EQ(first[0].id, chunk(1, 0));
  EXPECT_EQ(first[0].data_bytes, 4 * kBlockSize);
  std::vector<ChunkInfo> rest = store.list(BucketId(1), first.back().id, 100);
  CO_ASSERT_TRUE(rest.size() == 2);
  EXPECT_EQ(rest[1].id, chunk(1, 4));
  EXPECT_TRUE(store.list(BucketId(3), std::nullopt, 100).empty());
  EXPECT_TRUE(store.list(BucketId(1), chunk(2, 0), 100).empty());

  ChunkStoreStats stats = store.stats();
  EXPECT_EQ(stats.chunk_count, 7u);
  EXPECT_EQ(stats.capacity_bytes, kDataAreaBytes);
  expect_exact_space(store, 5 * 4 + 256 + 1);

  CO_ASSERT_OK(co_await store.remove(chunk(1, 2)));
  EXPECT_EQ((co_await store.remove(chunk(1, 2))).code(), StatusCode::kNotFound);
  EXPECT_EQ((co_await store.read_all(chunk(1, 2))).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.list(BucketId(1), std::nullopt, 100).size(), 4u);
  expect_exact_space(store, 4 * 4 + 256 + 1);
  co_await store.close();
}

TEST(ChunkStoreTest, WritesReadsListsAndRemoves) { run_task(write_read_list_remove()); }

Task<void> rejects_bad_writes() {
  Drive drive;
  auto opened = co_await drive.format_and_open();
  CO_ASSERT_OK(opened);
  ChunkStore& store = **opened;
  uint64_t free_before = store.stats().free_bytes;
  EXPECT_EQ((co_await store.write(chunk(1, 1), Buffer::allocate(100))).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((co_await store.write(chunk(1, 1), Buffer())).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((co_await store.write(chunk(1, 1), pattern(chunk(1, 1), kMaxChunkBlocks + 1))).code(),
            StatusCode::kInvalidArgument);
  // Checksums from the writer that do not match the data: nothing is written.
  Buffer data = pattern(chunk(1, 1), 8);
  ChunkWriteOptions options;
  options.block_crcs = block_checksums(data.span());
  options.block_crcs[5] ^= 1;
  Status mismatch = co_await store.write(chunk(1, 1), data, options);
  EXPECT_EQ(mismatch.code(), StatusCode::kCorruption);
  EXPECT_TRUE(mentions(mismatch, "block 5")) << mismatch;
  options.block_crcs[5] ^= 1;
  CO_ASSERT_OK(co_await store.write(chunk(1, 1), data, options));
  Status again = co_await store.write(chunk(1, 1), data);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  // A failing device: the write fails and its space is free again.
  drive.device.fail_next(1);
  EXPECT_EQ((co_await store.write(chunk(1, 2), data)).code(), StatusCode::kIoError);
  EXPECT_EQ(store.stats().free_bytes, free_before - 9 * kBlockSize);
  EXPECT_FALSE(store.find(chunk(1, 2)));
  co_await store.close();
}

TEST(ChunkStoreTest, RejectsBadWritesAndLosesNoSpace) { run_task(rejects_bad_writes()); }

Task<void> survives_reopen_and_refuses_foreign_index() {
  Drive drive;
  {
    auto opened = co_await drive.format_and_open();
    CO_ASSERT_OK(opened);
    for (uint32_t stripe = 0; stripe < 20; ++stripe) {
      CO_ASSERT_OK(co_await (*opened)->write(chunk(4, stripe), pattern(chunk(4, stripe), 16)));
    }
    CO_ASSERT_OK(co_await (*opened)->remove(chunk(4, 7)));
    co_await (*opened)->close();
  }
  auto reopened = co_await drive.open();
  CO_ASSERT_OK(reopened);
  EXPECT_EQ((*reopened)->stats().chunk_count, 19u);
  expect_exact_space(**reopened, uint64_t{19} * 16);
  for (uint32_t stripe = 0; stripe < 20; ++stripe) {
    auto read = co_await (*reopened)->read_all(chunk(4, stripe));
    if (stripe == 7) {
      EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
    } else {
      CO_ASSERT_OK(read);
      EXPECT_TRUE(same(*read, pattern(chunk(4, stripe), 16)));
    }
  }
  co_await (*reopened)->close();
  reopened->reset();

  // A forced format of the same drive destroys its own index and starts over.
  auto fresh = co_await ChunkStore::format(drive.device, drive.index_path, kCluster, DriveId(4),
                                           3000, /*force=*/true);
  CO_ASSERT_OK(fresh);
  auto opened = co_await drive.open();
  CO_ASSERT_OK(opened);
  EXPECT_EQ((*opened)->stats().chunk_count, 0u);
  EXPECT_EQ((*opened)->stats().used_bytes, 0u);
  CO_ASSERT_OK(co_await (*opened)->write(chunk(4, 1), pattern(chunk(4, 1), 2)));
  co_await (*opened)->close();
  opened->reset();

  // The same index with a drive reformatted behind its back (another drive id) is refused...
  CO_ASSERT_OK(co_await format_drive(drive.device, kCluster, DriveId(5), 4000, /*force=*/true));
  auto foreign = co_await drive.open();
  EXPECT_EQ(foreign.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(mentions(foreign.status(), "drive-4")) << foreign.status();
  // ... and a format of that drive leaves drive 4's index alone (--index-dir pointing at the
  // wrong directory must not wipe another drive's chunks).
  auto wipe = co_await ChunkStore::format(drive.device, drive.index_path, kCluster, DriveId(5),
                                          5000, /*force=*/true);
  EXPECT_EQ(wipe.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(mentions(wipe.status(), "belongs to")) << wipe.status();
  Superblock unchanged = *(co_await read_superblock(drive.device));
  EXPECT_EQ(unchanged.created_unix_ms, 4000u) << "a refused format writes nothing";
  auto index = ChunkIndex::open(drive.index_path);
  CO_ASSERT_OK(index);
  size_t kept = 0;
  CO_ASSERT_OK((*index)->load([&kept](const ChunkRecord&) {
    ++kept;
    return Status();
  }));
  EXPECT_EQ(kept, 1u);
}

TEST(ChunkStoreTest, SurvivesReopenAndRefusesAForeignIndex) {
  run_task(survives_reopen_and_refuses_foreign_index());
}

Task<void> groups_concurrent_commits() {
  Drive drive;
  auto opened = co_await drive.format_and_open();
  CO_ASSERT_OK(opened);
  ChunkStore& store = **opened;
  uint64_t flushes_before = drive.device.flushes();
  std::vector<std::future<Status>> writes;
  auto executor = co_await boost::asio::this_coro::executor;
  for (uint32_t stripe = 0; stripe < 32; ++stripe) {
    writes.push_back(
        boost::asio::co_spawn(executor, store.write(chunk(5, stripe), pattern(chunk(5, stripe), 2)),
                              boost::asio::use_future));
  }
  CO_ASSERT_TRUE(co_await testing::eventually([&writes] {
    return std::all_of(writes.begin(), writes.end(), [](auto& write) {
      return write.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
  }));
  for (auto& write : writes) EXPECT_OK(write.get());
  uint64_t flushes = drive.device.flushes() - flushes_before;
  EXPECT_GE(flushes, 1u);
  EXPECT_LT(flushes, 32u) << "concurrent durable writes should share flushes";
  EXPECT_EQ(drive.device.unflushed_blocks(), 0u);
  co_await store.close();
}

TEST(ChunkStoreTest, GroupsConcurrentCommits) { run_task(groups_concurrent_commits()); }

Task<void> reports_corruption() {
  Drive drive;
  auto opened = co_await drive.format_and_open();
  CO_ASSERT_OK(opened);
  ChunkStore& store = **opened;
  std::vector<CorruptBlock> reported;
  store.set_corruption_listener([&reported](const CorruptBlock& bad) { reported.push_back(bad); });
  for (uint32_t stripe = 0; stripe < 4; ++stripe) {
    CO_ASSERT_OK(co_await store.write(chunk(6, stripe), pattern(chunk(6, stripe), 8)));
  }
  // Flip a bit in data block 3 of the third chunk, behind the store's back.
  // Chunks are laid out one after another: header block, then 8 data blocks.
  uint64_t block = kDataStartBlock + uint64_t{2} * 9 + 1 + 3;
  Buffer raw = Buffer::allocate(kBlockSize);
  CO_ASSERT_OK(co_await drive.device.read(block * kBlockSize, raw.span()));
  raw.data()[100] ^= std::byte{0x10};
  CO_ASSERT_OK(co_await drive.device.write(block * kBlockSize, raw.span()));

  auto read = co_await store.read_all(chunk(6, 2));
  EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
  EXPECT_TRUE(mentions(read.status(), "block 3")) << read.status();
  EXPECT_TRUE(mentions(read.status(), "b6/s2/c0/g1")) << read.status();
  CO_ASSERT_OK(co_await store.read(chunk(6, 2), 0, 3));  // The good blocks still read.
  CO_ASSERT_OK(co_await store.read(chunk(6, 2), 4, 4));

  ScrubReport report = co_await store.scrub_pass(ScrubOptions{.bytes_per_second = 1 * kGiB});
  EXPECT_EQ(report.chunks, 4u);
  CO_ASSERT_TRUE(report.corrupt.size() == 1);
  EXPECT_EQ(report.corrupt[0].chunk, chunk(6, 2));
  EXPECT_EQ(report.corrupt[0].block, 3u);
  EXPECT_EQ(store.stats().corrupt_blocks_found, 1u) << "the read and the scrub found one block";
  EXPECT_EQ(store.stats().scrub_passes, 1u);
  EXPECT_EQ(reported.size(), 1u);
  co_await store.close();
}

TEST(ChunkStoreTest, ReportsCorruptionOnReadAndScrub) { run_task(reports_corruption()); }

// The rate is kept on the store's clock: on a FakeClock the pass takes exactly the simulated
// time its bytes need, and no real time passes.
Task<void> scrub_respects_its_rate(FakeClock* clock) {
  Drive drive;
  drive.options.clock = clock;
  drive.options.inline_index = true;
  auto opened = co_await drive.format_and_open();
  CO_ASSERT_OK(opened);
  for (uint32_t stripe = 0; stripe < 8; ++stripe) {
    CO_ASSERT_OK(co_await (*opened)->write(chunk(1, stripe), pattern(chunk(1, stripe), 63)));
  }
  Clock::TimePoint started = clock->now();
  ScrubReport report = co_await (*opened)->scrub_pass(ScrubOptions{.bytes_per_second = 8 * kMiB});
  EXPECT_EQ(report.bytes, 2 * kMiB);
  EXPECT_EQ(clock->now() - started, std::chrono::milliseconds(250))
      << "2 MiB at 8 MiB/s takes 0.25 s";
  co_await (*opened)->close();
}

TEST(ChunkStoreTest, ScrubRespectsItsRate) {
  boost::asio::io_context context;
  FakeClock clock;
  run_simulated(context, clock, scrub_respects_its_rate(&clock));
}

// The background scrubber pauses between passes on the store's clock, and close() ends a pause
// at once.
Task<void> scrubber_passes_on_its_clock(FakeClock* clock) {
  Drive drive;
  drive.options.clock = clock;
  drive.options.inline_index = true;
  auto opened = co_await drive.format_and_open();
  CO_ASSERT_OK(opened);
  ChunkStore& store = **opened;
  CO_ASSERT_OK(co_await store.write(chunk(1, 1), pattern(chunk(1, 1), 3)));
  EXPECT_EQ(store.start_scrubber(ScrubOptions{.bytes_per_second = 0}).code(),
            StatusCode::kInvalidArgument);
  CO_ASSERT_OK(store.start_scrubber(
      ScrubOptions{.bytes_per_second = 1 * kMiB, .pass_interval = std::chrono::hours(1)}));
  Clock::TimePoint started = clock->now();
  CO_ASSERT_OK(co_await clock->sleep_for(std::chrono::minutes(150)));
  EXPECT_EQ(store.stats().scrub_passes, 3u) << "passes at 0 h, 1 h and 2 h";
  co_await store.close();
  EXPECT_EQ(clock->now() - started, std::chrono::minutes(150)) << "close() waits for no pause";
}

TEST(ChunkStoreTest, ScrubberPassesOnItsClockAndCloseEndsItsPause) {
  boost::asio::io_context context;
  FakeClock clock;
  run_simulated(context, clock, scrubber_passes_on_its_clock(&clock));
}

TEST(ChunkStoreTest, ScrubRateArithmeticDoesNotOverflow) {
  EXPECT_EQ(check_scrub_options(ScrubOptions{.bytes_per_second = 0}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_OK(check_scrub_options(ScrubOptions{.bytes_per_second = 1}));
  EXPECT_EQ(scrub_time_for(2 * kMiB, 8 * kMiB), std::chrono::milliseconds(250));
  // 20 TB in one pass at 64 MiB/s: bytes * 10^6 overflowed 64 bits before.
  uint64_t bytes = 20'000'000'000'000;
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(scrub_time_for(bytes, 64 * kMiB)),
            std::chrono::seconds(bytes / (64 * kMiB)));
  EXPECT_EQ(scrub_time_for(UINT64_MAX, 1), Clock::Duration::max());
  EXPECT_EQ(scrub_time_for(UINT64_MAX, UINT64_MAX), std::chrono::seconds(1));
}

Task<void> full_drive() {
  Drive drive;
  auto opened = co_await drive.format_and_open();
  CO_ASSERT_OK(opened);
  ChunkStore& store = **opened;
  // 8 MiB of data area holds 7 chunks of 1 MiB plus a header block each, not 8.
  uint32_t written = 0;
  Status status;
  while ((status = co_await store.write(chunk(1, written), pattern(chunk(1, written), 256))).ok()) {
    ++written;
  }
  EXPECT_EQ(status.code(), StatusCode::kNoSpace);
  EXPECT_TRUE(mentions(status, "full")) << status;
  EXPECT_EQ(written, 7u);
  // Small chunks still fit in what is left; then nothing does.
  CO_ASSERT_OK(co_await store.write(chunk(2, 0), pattern(chunk(2, 0), 200)));
  for (uint32_t stripe = 0; stripe < written; ++stripe) {
    auto read = co_await store.read_all(chunk(1, stripe));
    CO_ASSERT_OK(read);
    EXPECT_TRUE(same(*read, pattern(chunk(1, stripe), 256)));
  }
  expect_exact_space(store, written * 256 + 200);
  CO_ASSERT_OK(co_await store.remove(chunk(1, 3)));
  CO_ASSERT_OK(co_await store.write(chunk(1, 100), pattern(chunk(1, 100), 256)));
  EXPECT_EQ((co_await store.write(chunk(1, 101), pattern(chunk(1, 101), 256))).code(),
            StatusCode::kNoSpace);
  co_await store.close();
}

TEST(ChunkStoreTest, AFullDriveSaysNoSpaceAndCorruptsNothing) { run_task(full_drive()); }

// A non-durable chunk read back after a process crash (its bytes still in the device's volatile
// cache) is recorded durable by recovery: the device must be flushed first, or a later power loss
// takes bytes that the index calls durable and never checks again.
Task<void> recovery_flushes_before_declaring_durable() {
  Drive drive;
  {
    auto opened = co_await drive.format_and_open();
    CO_ASSERT_OK(opened);
    CO_ASSERT_OK(
        co_await (*opened)->write(chunk(1, 1), pattern(chunk(1, 1), 5), {.durable = false}));
    co_await (*opened)->close();  // Its index entry is committed, unsynced; nothing is flushed.
  }
  CO_ASSERT_TRUE(drive.device.unflushed_blocks() > 0);
  {
    auto reopened = co_await drive.open();  // Process crash and restart: nothing was lost.
    CO_ASSERT_OK(reopened);
    CO_ASSERT_OK(co_await (*reopened)->read_all(chunk(1, 1)));
    co_await (*reopened)->close();
  }
  drive.device.crash();  // Then the power goes.
  auto after = co_await drive.open();
  CO_ASSERT_OK(after);
  auto read = co_await (*after)->read_all(chunk(1, 1));
  if ((*after)->find(chunk(1, 1))) {
    CO_ASSERT_OK(read);
    EXPECT_TRUE(same(*read, pattern(chunk(1, 1), 5)));
  }
  co_await (*after)->close();
}

TEST(ChunkStoreTest, RecoveryFlushesTheDeviceBeforeDeclaringChunksDurable) {
  run_task(recovery_flushes_before_declaring_durable());
}

// The corrupt-block set is bounded without reporting a block twice: beyond the bound, blocks are
// counted, not reported; removing a chunk forgets its blocks and makes room.
Task<void> bounds_corrupt_blocks() {
  Drive drive;
  drive.options.max_tracked_corrupt_blocks = 2;
  auto opened = co_await drive.format_and_open();
  CO_ASSERT_OK(opened);
  ChunkStore& store = **opened;
  std::vector<CorruptBlock> reported;
  store.set_corruption_listener([&reported](const CorruptBlock& bad) { reported.push_back(bad); });
  for (uint32_t stripe = 0; stripe < 3; ++stripe) {
    CO_ASSERT_OK(co_await store.write(chunk(6, stripe), pattern(chunk(6, stripe), 2)));
  }
  // Corrupt data block 0 of each chunk (header block, then 2 data blocks per chunk).
  for (uint64_t stripe = 0; stripe < 3; ++stripe) {
    uint64_t block = kDataStartBlock + stripe * 3 + 1;
    Buffer raw = Buffer::allocate(kBlockSize);
    CO_ASSERT_OK(co_await drive.device.read(block * kBlockSize, raw.span()));
    raw.data()[7] ^= std::byte{1};
    CO_ASSERT_OK(co_await drive.device.write(block * kBlockSize, raw.span()));
  }
  for (int pass = 0; pass < 3; ++pass) {
    ScrubReport report = co_await store.scrub_pass(ScrubOptions{.bytes_per_second = 1 * kGiB});
    EXPECT_EQ(report.corrupt.size(), 3u);
  }
  EXPECT_EQ(reported.size(), 2u) << "each remembered block is reported once, the third never";
  EXPECT_EQ(store.stats().corrupt_blocks_found, 2u);
  EXPECT_EQ(store.stats().corrupt_blocks_unreported, 3u) << "one per pass";
  CO_ASSERT_OK(co_await store.remove(chunk(6, 0)));
  (void)co_await store.scrub_pass(ScrubOptions{.bytes_per_second = 1 * kGiB});
  CO_ASSERT_TRUE(reported.size() == 3);
  EXPECT_EQ(reported[2].chunk, chunk(6, 2)) << "room again once a chunk is removed";
  co_await store.close();
}

TEST(ChunkStoreTest, BoundsTheCorruptBlockSetWithoutReportingTwice) {
  run_task(bounds_corrupt_blocks());
}

// A seeded run of random writes (durable or not), removes, barriers and crashes, checked against a
// model of what was acknowledged.
Task<void> random_crashes(uint64_t seed, uint64_t* dropped_at_open) {
  std::mt19937_64 random(seed);
  Drive drive;
  auto opened = co_await drive.format_and_open();
  CO_ASSERT_OK(opened);
  std::unique_ptr<ChunkStore> store = std::move(*opened);
  struct Expected {
    uint32_t blocks;
    bool durable;
  };
  std::map<ChunkId, Expected> acked;
  uint32_t next_stripe = 0;
  for (int step = 0; step < 400; ++step) {
    uint64_t dice = random() % 100;
    if (dice < 60) {
      ChunkId id = chunk(static_cast<uint32_t>(random() % 3), next_stripe++);
      uint32_t blocks = 1 + static_cast<uint32_t>(random() % 64);
      bool durable = random() % 2 == 0;
      Status written = co_await store->write(id, pattern(id, blocks), {.durable = durable});
      if (written.ok()) {
        acked[id] = {blocks, durable};
      } else {
        EXPECT_EQ(written.code(), StatusCode::kNoSpace) << written;
      }
    } else if (dice < 80 && !acked.empty()) {
      auto victim = std::next(acked.begin(), static_cast<long>(random() % acked.size()));
      CO_ASSERT_OK(co_await store->remove(victim->first));
      acked.erase(victim);
    } else if (dice < 90) {
      CO_ASSERT_OK(co_await store->barrier());
      for (auto& [id, expected] : acked) expected.durable = true;
    } else {
      co_await store->close();
      store.reset();
      drive.device.crash(/*keep_probability=*/0.5, random());
      auto reopened = co_await drive.open();
      CO_ASSERT_OK(reopened);
      store = std::move(*reopened);
      *dropped_at_open += store->dropped_at_open();
      // Durable chunks all survive; others survive intact or not at all.
      for (auto it = acked.begin(); it != acked.end();) {
        auto read = co_await store->read_all(it->first);
        if (it->second.durable) {
          CO_ASSERT_OK(read);
        } else if (!read.ok()) {
          EXPECT_EQ(read.status().code(), StatusCode::kNotFound) << read.status();
          it = acked.erase(it);
          continue;
        }
        EXPECT_TRUE(same(*read, pattern(it->first, it->second.blocks)));
        it->second.durable = true;  // Verified at open, so recorded durable.
        ++it;
      }
      uint64_t data_blocks = 0;
      for (const auto& [id, expected] : acked) data_blocks += expected.blocks;
      EXPECT_EQ(store->stats().chunk_count, acked.size());
      expect_exact_space(*store, data_blocks);
    }
  }
  co_await store->close();
}

TEST(ChunkStoreTest, RandomCrashesLoseNothingAcknowledged) {
  uint64_t dropped_at_open = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    run_task(random_crashes(seed, &dropped_at_open));
  }
  EXPECT_GT(dropped_at_open, 0u) << "some crashes should tear unsynced chunks, which open drops";
}

TEST(ExtentAllocatorTest, AllocatesNextFitAndCoalesces) {
  ExtentAllocator allocator(100, 200);
  auto a = allocator.allocate(10);
  auto b = allocator.allocate(20);
  auto c = allocator.allocate(30);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->first_block, 100u);
  EXPECT_EQ(b->first_block, 110u);
  EXPECT_EQ(c->first_block, 130u);
  allocator.free(*a);
  auto d = allocator.allocate(5);  // Next-fit: after c, not in a's hole.
  ASSERT_TRUE(d);
  EXPECT_EQ(d->first_block, 160u);
  EXPECT_FALSE(allocator.allocate(36));
  auto e = allocator.allocate(35);  // The tail, then the cursor wraps.
  ASSERT_TRUE(e);
  EXPECT_EQ(e->first_block, 165u);
  auto f = allocator.allocate(10);  // a's hole.
  ASSERT_TRUE(f);
  EXPECT_EQ(f->first_block, 100u);
  EXPECT_EQ(allocator.free_blocks(), 0u);
  for (Extent extent : {*b, *c, *d, *e, *f}) allocator.free(extent);
  EXPECT_EQ(allocator.free_blocks(), 100u);
  EXPECT_EQ(allocator.free_run_count(), 1u);
  EXPECT_EQ(allocator.largest_free_run(), 100u);

  EXPECT_OK(allocator.reserve(Extent{120, 10}));
  EXPECT_EQ(allocator.reserve(Extent{125, 10}).code(), StatusCode::kCorruption);
  EXPECT_EQ(allocator.reserve(Extent{195, 10}).code(), StatusCode::kCorruption);
  EXPECT_EQ(allocator.reserve(Extent{90, 5}).code(), StatusCode::kCorruption);
  EXPECT_EQ(allocator.free_blocks(), 90u);
}

TEST(ChunkFormatTest, HeaderAndIndexRoundTrip) {
  ChunkRecord record{chunk(0xfffffff0, 1ULL << 40, 19, 5), Extent{5000, 0}, 77, {}};
  for (uint32_t blocks : {1u, 1008u, 1009u, kMaxChunkBlocks}) {
    record.block_crcs.assign(blocks, 0);
    for (uint32_t i = 0; i < blocks; ++i) record.block_crcs[i] = i * 2654435761u;
    record.extent.block_count = header_blocks(blocks) + blocks;
    EXPECT_EQ(header_blocks(blocks), blocks <= 1008 ? 1u : 2u);
    Buffer header = encode_chunk_header(record);
    auto decoded = decode_chunk_header(header.span(), 5000);
    ASSERT_OK(decoded);
    EXPECT_EQ(decoded->id, record.id);
    EXPECT_EQ(decoded->block_crcs, record.block_crcs);
    EXPECT_EQ(decoded->extent.block_count, record.extent.block_count);
    header.data()[header.size() - 1] ^= std::byte{1};
    EXPECT_EQ(decode_chunk_header(header.span(), 5000).status().code(), StatusCode::kCorruption);

    auto value = decode_index_value(record.id, encode_index_value(record));
    ASSERT_OK(value);
    EXPECT_EQ(value->commit_seq, 77u);
    EXPECT_EQ(value->block_crcs, record.block_crcs);
    EXPECT_EQ(value->extent.first_block, 5000u);
  }
  EXPECT_EQ(decode_chunk_key(encode_chunk_key(record.id)), record.id);
  EXPECT_LT(encode_chunk_key(chunk(1, 99)), encode_chunk_key(chunk(2, 0)));
  EXPECT_EQ(encode_chunk_key(chunk(1, 99)).substr(0, 4), bucket_key_prefix(BucketId(1)));
}

}  // namespace
}  // namespace tessera
