// The drive role as an operator runs it: real tessd processes on real files, reached over RPC.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "base/log.h"
#include "drive/chunk_format.h"
#include "drive/superblock.h"
#include "drive_service/drive_client.h"
#include "testing/child_process.h"
#include "testing/testing.h"

namespace tessera {
namespace {

using testing::ChildProcess;
using testing::TempDir;

constexpr const char* kClusterId = "0a0b0c0d-0000-4000-8000-000000000001";
constexpr DriveId kDrive(1);

ChunkId chunk(uint32_t bucket, uint64_t stripe) {
  return ChunkId{BucketId(bucket), StripeId(stripe), 0, 1};
}

// Contents derived from the id, so any reader can check them.
Buffer pattern(const ChunkId& id, uint32_t blocks) {
  Buffer data = Buffer::allocate(uint64_t{blocks} * kBlockSize);
  std::mt19937_64 random(uint64_t{id.bucket.value()} * 1'000'003 + id.stripe.value());
  auto* words = reinterpret_cast<uint64_t*>(data.data());
  for (size_t i = 0; i < data.size() / 8; ++i) words[i] = random();
  return data;
}

bool same(const Buffer& a, const Buffer& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One tessd with one drive file in a temporary directory.
class Tessd {
 public:
  explicit Tessd(uint64_t drive_bytes) : drive_bytes_(drive_bytes) {}
  ~Tessd() {
    if (process_.running()) process_.kill();
  }

  std::string drive_path() const { return dir_.file("drive0"); }
  std::string file(const std::string& name) const { return dir_.file(name); }
  std::string log() const { return read_file(dir_.file("tessd.log")); }
  uint16_t port() const { return port_; }

  // Starts tessd and waits until it serves; false (with the log) if it exits or never serves.
  ::testing::AssertionResult start(std::vector<std::string> extra = {}) {
    std::vector<std::string> drives = {"--drive=" + drive_path(), "--format",
                                       "--create-bytes=" + std::to_string(drive_bytes_)};
    drives.insert(drives.end(), extra.begin(), extra.end());
    return start_with(drives);
  }
  // Starts tessd with only `argv_tail` after the listen, cluster and port options.
  ::testing::AssertionResult start_with(std::vector<std::string> argv_tail) {
    std::string port_file = dir_.file("port");
    std::remove(port_file.c_str());
    std::vector<std::string> argv = {TESSD_PATH, "--listen=127.0.0.1:0",
                                     std::string("--cluster-id=") + kClusterId,
                                     "--port-file=" + port_file, "--log-level=warn"};
    argv.insert(argv.end(), argv_tail.begin(), argv_tail.end());
    auto started = ChildProcess::start(argv, dir_.file("tessd.log"));
    if (!started.ok()) return ::testing::AssertionFailure() << started.status().to_string();
    process_ = std::move(*started);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string text = read_file(port_file);
      // tessd writes the file whole (rename), so text is either empty or complete.
      if (!text.empty()) {
        auto parsed = std::from_chars(text.data(), text.data() + text.size(), port_);
        if (parsed.ec != std::errc()) {
          return ::testing::AssertionFailure() << "malformed port file: " << text;
        }
        return ::testing::AssertionSuccess();
      }
      if (exited_early()) return ::testing::AssertionFailure() << "tessd exited:\n" << log();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return ::testing::AssertionFailure() << "tessd did not serve within 30 s:\n" << log();
  }
  // Runs tessd expecting it to refuse to start; returns its exit code.
  int run_expecting_failure(std::vector<std::string> argv_tail) {
    std::vector<std::string> argv = {TESSD_PATH, "--listen=127.0.0.1:0", "--drive=" + drive_path(),
                                     "--log-level=warn"};
    argv.insert(argv.end(), argv_tail.begin(), argv_tail.end());
    auto started = ChildProcess::start(argv, dir_.file("tessd.log"));
    if (!started.ok()) return -1;
    return started->wait();
  }
  void kill9() { process_.kill(); }
  int stop() {
    process_.signal(SIGTERM);
    return process_.wait();
  }

 private:
  bool exited_early() {
    int status = 0;
    pid_t pid = process_.pid();
    return pid > 0 && waitpid(pid, &status, WNOHANG) == pid;
  }

  TempDir dir_;
  uint64_t drive_bytes_;
  ChildProcess process_;
  uint16_t port_ = 0;
};

constexpr uint64_t kSmallDriveBytes = kDataStartBlock * kBlockSize + 128 * kMiB;

// What the load knows: chunks acknowledged, chunks whose write or delete was in flight at the kill.
struct LoadModel {
  std::map<ChunkId, uint32_t> acked;  // -> blocks
  std::map<ChunkId, uint32_t> in_doubt;
  uint64_t next_stripe = 0;
};

// One writer: writes chunks of 1-64 blocks and deletes some acknowledged ones, until an error
// (the kill) stops it.
Task<void> writer(DriveClient* client, LoadModel* model, uint64_t seed) {
  std::mt19937_64 random(seed);
  while (true) {
    if (random() % 5 == 0 && !model->acked.empty()) {
      auto victim =
          std::next(model->acked.begin(), static_cast<long>(random() % model->acked.size()));
      auto [id, blocks] = *victim;
      model->acked.erase(victim);
      model->in_doubt[id] = blocks;
      Status removed = co_await client->remove(Deadline::never(), kDrive, id);
      if (!removed.ok()) co_return;
      model->in_doubt.erase(id);
      continue;
    }
    ChunkId id = chunk(static_cast<uint32_t>(random() % 4), model->next_stripe++);
    uint32_t blocks = 1 + static_cast<uint32_t>(random() % 64);
    model->in_doubt[id] = blocks;
    Status written = co_await client->write(Deadline::never(), kDrive, id, pattern(id, blocks));
    if (!written.ok()) co_return;
    model->in_doubt.erase(id);
    model->acked[id] = blocks;
  }
}

Task<void> load_then_kill(uint16_t port, LoadModel* model, Tessd* tessd, int kill_after_ms,
                          uint64_t seed) {
  Executor executor = co_await boost::asio::this_coro::executor;
  DriveClient client(executor, "127.0.0.1", port, {.timeout = std::chrono::seconds(5)});
  std::vector<std::future<void>> writers;
  for (uint64_t i = 0; i < 8; ++i) {
    writers.push_back(boost::asio::co_spawn(executor, writer(&client, model, seed * 100 + i),
                                            boost::asio::use_future));
  }
  boost::asio::steady_timer timer(executor, std::chrono::milliseconds(kill_after_ms));
  co_await timer.async_wait(use_task);
  tessd->kill9();
  (void)co_await testing::eventually([&writers] {
    return std::all_of(writers.begin(), writers.end(), [](auto& w) {
      return w.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
  });
  client.rpc().close();
}

// After a restart: every acknowledged chunk reads back intact, a chunk in doubt is absent or
// intact, nothing else exists, and the space used is exactly that of the chunks listed.
Task<void> verify_after_restart(uint16_t port, LoadModel* model) {
  Executor executor = co_await boost::asio::this_coro::executor;
  DriveClient client(executor, "127.0.0.1", port, {.timeout = std::chrono::seconds(10)});
  uint64_t expected_used = 0;
  std::map<ChunkId, uint32_t> present;
  for (uint32_t bucket = 0; bucket < 4; ++bucket) {
    auto listed = co_await client.list(Deadline::never(), kDrive, BucketId(bucket));
    CO_ASSERT_OK(listed);
    for (const proto::ListedChunk& entry : *listed) {
      ChunkId id = chunk(entry.chunk().bucket(), entry.chunk().stripe());
      auto blocks = static_cast<uint32_t>(entry.data_bytes() / kBlockSize);
      present[id] = blocks;
      expected_used += (blocks + header_blocks(blocks)) * kBlockSize;
    }
  }
  for (const auto& [id, blocks] : model->acked) {
    CO_ASSERT_TRUE(present.contains(id));
    auto read = co_await client.read(Deadline::never(), kDrive, id);
    CO_ASSERT_OK(read);
    EXPECT_TRUE(same(*read, pattern(id, blocks))) << to_string(id);
  }
  for (const auto& [id, blocks] : present) {
    if (model->acked.contains(id)) continue;
    auto doubt = model->in_doubt.find(id);
    CO_ASSERT_TRUE(doubt != model->in_doubt.end());  // Never written: must not exist.
    auto read = co_await client.read(Deadline::never(), kDrive, id);
    CO_ASSERT_OK(read);
    EXPECT_TRUE(same(*read, pattern(id, blocks)));
    model->acked[id] = blocks;  // It survived; later rounds must keep it.
  }
  model->in_doubt.clear();
  auto stats = co_await client.stat(Deadline::never(), kDrive);
  CO_ASSERT_OK(stats);
  EXPECT_EQ(stats->used_bytes(), expected_used) << "space accounting must be exact";
  EXPECT_EQ(stats->used_bytes() + stats->free_bytes(), stats->capacity_bytes());
  EXPECT_EQ(stats->chunk_count(), present.size());
  // Keep the drive from filling up over many rounds.
  while (model->acked.size() > 400) {
    auto oldest = model->acked.begin();
    CO_ASSERT_OK(co_await client.remove(Deadline::never(), kDrive, oldest->first));
    model->acked.erase(oldest);
  }
}

TEST(DriveProcessTest, KillNineDuringWritesLosesNothingAcknowledged) {
  Tessd tessd(kSmallDriveBytes);
  LoadModel model;
  std::mt19937_64 random(20261124);
  auto started = std::chrono::steady_clock::now();
  int rounds = 0;
  // Bounded: 12 rounds, or fewer if the machine is slow.
  while (rounds < 12 && std::chrono::steady_clock::now() - started < std::chrono::seconds(90)) {
    ASSERT_TRUE(tessd.start({"--no-scrub"}));
    int kill_after_ms = 50 + static_cast<int>(random() % 400);
    testing::run_task(load_then_kill(tessd.port(), &model, &tessd, kill_after_ms, rounds + 1));
    ASSERT_TRUE(tessd.start({"--no-scrub"}));
    testing::run_task(verify_after_restart(tessd.port(), &model));
    if (::testing::Test::HasFailure()) FAIL() << "round " << rounds << " log:\n" << tessd.log();
    tessd.kill9();
    ++rounds;
  }
  EXPECT_GE(rounds, 3);
  EXPECT_GT(model.acked.size(), 0u);
  std::cout << "rounds: " << rounds << ", chunks held at the end: " << model.acked.size() << "\n";
}

void flip_bit(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char byte = 0;
  ASSERT_EQ(pread(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  byte = static_cast<char>(byte ^ 0x04);
  ASSERT_EQ(pwrite(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

Task<void> write_chunks(uint16_t port, int count, uint32_t blocks) {
  DriveClient client(co_await boost::asio::this_coro::executor, "127.0.0.1", port);
  for (int stripe = 0; stripe < count; ++stripe) {
    CO_ASSERT_OK(co_await client.write(Deadline::never(), kDrive, chunk(1, stripe),
                                       pattern(chunk(1, stripe), blocks)));
  }
}

Task<void> expect_bit_rot_found(uint16_t port) {
  DriveClient client(co_await boost::asio::this_coro::executor, "127.0.0.1", port);
  auto read = co_await client.read(Deadline::never(), kDrive, chunk(1, 1));
  EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
  EXPECT_NE(read.status().message().find("block 2"), std::string::npos) << read.status();
  CO_ASSERT_OK(
      co_await client.read(Deadline::never(), kDrive, chunk(1, 0)));  // Its neighbour is fine.
  // The scrubber finds the read's block and the one nobody read (chunk 3, block 0).
  Result<proto::DriveStats> stats = error(StatusCode::kInternal, "not read");
  bool found = false;
  for (int attempt = 0; attempt < 200 && !found; ++attempt) {
    stats = co_await client.stat(Deadline::never(), kDrive);
    found = stats.ok() && stats->corrupt_blocks_found() >= 2 && stats->scrub_passes() >= 1;
    if (!found) (void)co_await RealClock::instance().sleep_for(std::chrono::milliseconds(100));
  }
  CO_ASSERT_OK(stats);
  EXPECT_TRUE(found) << "corrupt blocks found: " << stats->corrupt_blocks_found()
                     << ", scrub passes: " << stats->scrub_passes();
}

TEST(DriveProcessTest, BitRotIsReportedByReadsAndFoundByScrub) {
  Tessd tessd(kSmallDriveBytes);
  ASSERT_TRUE(tessd.start({"--no-scrub"}));
  testing::run_task(write_chunks(tessd.port(), 4, 8));
  ASSERT_EQ(tessd.stop(), 0) << tessd.log();
  // A fresh drive lays chunks out one after another: 1 header block, then 8 data blocks.
  auto data_block = [](uint64_t chunk_index, uint64_t block) {
    return (kDataStartBlock + chunk_index * 9 + 1 + block) * kBlockSize;
  };
  flip_bit(tessd.drive_path(), data_block(1, 2) + 1000);
  flip_bit(tessd.drive_path(), data_block(3, 0) + 7);
  ASSERT_TRUE(tessd.start({"--scrub-mib-per-s=1024", "--scrub-interval-s=1"}));
  testing::run_task(expect_bit_rot_found(tessd.port()));
  EXPECT_NE(tessd.log().find("corrupt block 0"), std::string::npos) << tessd.log();
  EXPECT_EQ(tessd.stop(), 0);
}

Task<void> fill_drive(uint16_t port, int* written) {
  DriveClient client(co_await boost::asio::this_coro::executor, "127.0.0.1", port);
  Status status;
  while ((status = co_await client.write(Deadline::never(), kDrive, chunk(2, *written),
                                         pattern(chunk(2, *written), 256)))
             .ok()) {
    ++*written;
  }
  EXPECT_EQ(status.code(), StatusCode::kNoSpace) << status;
  for (int stripe = 0; stripe < *written; ++stripe) {
    auto read = co_await client.read(Deadline::never(), kDrive, chunk(2, stripe));
    CO_ASSERT_OK(read);
    EXPECT_TRUE(same(*read, pattern(chunk(2, stripe), 256)));
  }
  CO_ASSERT_OK(co_await client.remove(Deadline::never(), kDrive, chunk(2, 0)));
  CO_ASSERT_OK(co_await client.write(Deadline::never(), kDrive, chunk(2, 1000),
                                     pattern(chunk(2, 1000), 256)));
  auto stats = co_await client.stat(Deadline::never(), kDrive);
  CO_ASSERT_OK(stats);
  EXPECT_EQ(stats->chunk_count(), static_cast<uint64_t>(*written));
  EXPECT_EQ(stats->used_bytes(), static_cast<uint64_t>(*written) * 257 * kBlockSize);
}

TEST(DriveProcessTest, AFullDriveAnswersNoSpace) {
  Tessd tessd(kDataStartBlock * kBlockSize + 4 * kMiB);
  ASSERT_TRUE(tessd.start({"--no-scrub"}));
  int written = 0;
  testing::run_task(fill_drive(tessd.port(), &written));
  EXPECT_EQ(written, 3) << "4 MiB holds three 1 MiB chunks with their header blocks";
  EXPECT_EQ(tessd.stop(), 0);
}

TEST(DriveProcessTest, RefusesBlankAndForeignDrives) {
  Tessd tessd(kSmallDriveBytes);
  // A blank drive without --format.
  std::ofstream(tessd.drive_path()).close();
  ASSERT_EQ(truncate(tessd.drive_path().c_str(), static_cast<off_t>(kSmallDriveBytes)), 0);
  EXPECT_EQ(tessd.run_expecting_failure({std::string("--cluster-id=") + kClusterId}), 1);
  EXPECT_NE(tessd.log().find("not formatted"), std::string::npos) << tessd.log();
  ASSERT_TRUE(tessd.start());
  EXPECT_EQ(tessd.stop(), 0);
  // The drive now belongs to kClusterId; another cluster is refused, naming both.
  EXPECT_EQ(tessd.run_expecting_failure({"--cluster-id=ffffffff-0000-4000-8000-000000000002"}), 1);
  EXPECT_NE(tessd.log().find(kClusterId), std::string::npos) << tessd.log();
  EXPECT_EQ(tessd.run_expecting_failure({"--cluster-id=not-a-uuid"}), 2);
}

Task<void> write_one(uint16_t port, DriveId drive, ChunkId id) {
  DriveClient client(co_await boost::asio::this_coro::executor, "127.0.0.1", port);
  CO_ASSERT_OK(co_await client.write(Deadline::never(), drive, id, pattern(id, 2)));
}

Task<void> read_one(uint16_t port, DriveId drive, ChunkId id) {
  DriveClient client(co_await boost::asio::this_coro::executor, "127.0.0.1", port);
  auto read = co_await client.read(Deadline::never(), drive, id);
  CO_ASSERT_OK(read);
  EXPECT_TRUE(same(*read, pattern(id, 2)));
}

// With --index-dir, indexes are named by drive id: reordering the --drive options (which used to
// hand each drive the other's index) changes nothing.
TEST(DriveProcessTest, IndexesInAnIndexDirFollowTheirDrivesNotTheirOrder) {
  Tessd tessd(kSmallDriveBytes);
  std::string index_dir = tessd.file("indexes");
  std::filesystem::create_directories(index_dir);
  std::string a = "--drive=" + tessd.file("a");
  std::string b = "--drive=" + tessd.file("b");
  std::string create = "--create-bytes=" + std::to_string(kSmallDriveBytes);
  ASSERT_TRUE(
      tessd.start_with({a, b, "--index-dir=" + index_dir, "--format", create, "--no-scrub"}));
  testing::run_task(write_one(tessd.port(), DriveId(1), chunk(1, 1)));
  testing::run_task(write_one(tessd.port(), DriveId(2), chunk(2, 2)));
  EXPECT_EQ(tessd.stop(), 0);
  EXPECT_TRUE(std::filesystem::exists(index_dir + "/drive-1"));
  EXPECT_TRUE(std::filesystem::exists(index_dir + "/drive-2"));

  ASSERT_TRUE(tessd.start_with({b, a, "--index-dir=" + index_dir, "--no-scrub"}));
  testing::run_task(read_one(tessd.port(), DriveId(1), chunk(1, 1)));
  testing::run_task(read_one(tessd.port(), DriveId(2), chunk(2, 2)));
  EXPECT_EQ(tessd.stop(), 0);
}

// A scrub rate of zero is refused with a clear error (it aborted on an assert): exit code 2, bad
// options.
TEST(DriveProcessTest, RefusesAScrubRateOfZero) {
  Tessd tessd(kSmallDriveBytes);
  EXPECT_EQ(tessd.run_expecting_failure({std::string("--cluster-id=") + kClusterId, "--format",
                                         "--create-bytes=" + std::to_string(kSmallDriveBytes),
                                         "--scrub-mib-per-s=0"}),
            2);
  EXPECT_NE(tessd.log().find("scrub rate of 0"), std::string::npos) << tessd.log();
}

}  // namespace
}  // namespace tessera
