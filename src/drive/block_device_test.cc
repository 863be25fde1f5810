#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <fstream>
#include <memory>

#include "base/buffer.h"
#include "drive/fake_block_device.h"
#include "drive/uring_block_device.h"
#include "testing/testing.h"

namespace tessera {
namespace {

using testing::eventually;
using testing::run_task;

constexpr uint64_t kDeviceBytes = 4 * kMiB;

Buffer pattern(size_t bytes, uint8_t seed) {
  Buffer buffer = Buffer::allocate(bytes);
  for (size_t i = 0; i < bytes; ++i) buffer.data()[i] = std::byte(seed + i * 7);
  return buffer;
}

bool same(const Buffer& a, const Buffer& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// The contract every BlockDevice keeps, run against each implementation.
Task<void> contract(BlockDevice& device) {
  EXPECT_EQ(device.capacity_bytes(), kDeviceBytes);
  Buffer first = pattern(64 * kKiB, 1), last = pattern(kBlockSize, 2);
  CO_ASSERT_OK(co_await device.write(0, first.span()));
  CO_ASSERT_OK(co_await device.write(kDeviceBytes - kBlockSize, last.span()));
  CO_ASSERT_OK(co_await device.flush());
  Buffer back = Buffer::allocate(first.size());
  CO_ASSERT_OK(co_await device.read(0, back.span()));
  EXPECT_TRUE(same(back, first));
  Buffer tail = Buffer::allocate(kBlockSize);
  CO_ASSERT_OK(co_await device.read(kDeviceBytes - kBlockSize, tail.span()));
  EXPECT_TRUE(same(tail, last));
  // Overwrite part of the first range: a later write wins.
  Buffer middle = pattern(2 * kBlockSize, 9);
  CO_ASSERT_OK(co_await device.write(4 * kBlockSize, middle.span()));
  Buffer part = Buffer::allocate(2 * kBlockSize);
  CO_ASSERT_OK(co_await device.read(4 * kBlockSize, part.span()));
  EXPECT_TRUE(same(part, middle));
  // Bad requests are refused before they reach the device.
  Buffer block = Buffer::allocate(kBlockSize);
  EXPECT_EQ((co_await device.read(100, block.span())).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((co_await device.read(0, block.span().first(100))).code(),
            StatusCode::kInvalidArgument);
  Buffer unaligned = Buffer::allocate(2 * kBlockSize);
  EXPECT_EQ((co_await device.read(0, unaligned.span().subspan(8, kBlockSize))).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((co_await device.read(kDeviceBytes, block.span())).code(), StatusCode::kOutOfRange);
  EXPECT_EQ((co_await device.write(kDeviceBytes - kBlockSize, unaligned.span())).code(),
            StatusCode::kOutOfRange);
}

TEST(FakeBlockDeviceTest, KeepsTheContract) {
  FakeBlockDevice device(kDeviceBytes);
  run_task(contract(device));
}

class UringBlockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(truncate_to(path_, kDeviceBytes), 0); }
  static int truncate_to(const std::string& path, uint64_t bytes) {
    std::ofstream(path, std::ios::binary).close();
    return ::truncate(path.c_str(), static_cast<off_t>(bytes));
  }
  testing::TempDir dir_;
  std::string path_ = dir_.file("drive0");
};

Task<void> uring_contract(std::string path) {
  auto device = UringBlockDevice::open(co_await boost::asio::this_coro::executor, path, 8);
  CO_ASSERT_OK(device);
  co_await contract(**device);
}

TEST_F(UringBlockDeviceTest, KeepsTheContract) { run_task(uring_contract(path_)); }

// Spawns a write of `data` at `offset` and counts it when it completes.
Task<void> counted_write(BlockDevice& device, uint64_t offset, Buffer data, int& done, size_t& peak,
                         const UringBlockDevice& uring) {
  Status written = co_await device.write(offset, data.span());
  EXPECT_OK(written);
  peak = std::max(peak, uring.in_flight());
  ++done;
}

Task<void> many_writes_then_reopen(std::string path) {
  auto executor = co_await boost::asio::this_coro::executor;
  {
    auto device = UringBlockDevice::open(executor, path, 4);
    CO_ASSERT_OK(device);
    int done = 0;
    size_t peak = 0;
    for (int i = 0; i < 64; ++i) {
      spawn_detached(executor,
                     counted_write(**device, static_cast<uint64_t>(i) * 16 * kKiB,
                                   pattern(16 * kKiB, i), done, peak, **device),
                     "write");
    }
    CO_ASSERT_TRUE(co_await eventually([&done] { return done == 64; }));
    EXPECT_LE(peak, 4u);  // Never more than the queue depth in the kernel.
    CO_ASSERT_OK(co_await (*device)->flush());
  }
  auto reopened = UringBlockDevice::open(executor, path);
  CO_ASSERT_OK(reopened);
  for (int i = 0; i < 64; ++i) {
    Buffer back = Buffer::allocate(16 * kKiB);
    CO_ASSERT_OK(co_await (*reopened)->read(static_cast<uint64_t>(i) * 16 * kKiB, back.span()));
    EXPECT_TRUE(same(back, pattern(16 * kKiB, i))) << i;
  }
}

TEST_F(UringBlockDeviceTest, ConcurrentWritesAreBoundedAndDurable) {
  run_task(many_writes_then_reopen(path_));
}

Task<void> open_errors(std::string missing, std::string odd_size) {
  auto executor = co_await boost::asio::this_coro::executor;
  EXPECT_EQ(UringBlockDevice::open(executor, missing).status().code(), StatusCode::kNotFound);
  auto odd = UringBlockDevice::open(executor, odd_size);
  EXPECT_EQ(odd.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(odd.status().message().find("whole number of 4 KiB blocks"), std::string_view::npos)
      << odd.status();
  EXPECT_EQ(UringBlockDevice::open(executor, "/dev/null").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(UringBlockDeviceTest, OpenErrorsAreClear) {
  std::string odd = dir_.file("odd");
  ASSERT_EQ(truncate_to(odd, 5000), 0);
  run_task(open_errors(dir_.file("missing"), odd));
}

// Lets the device's reaper see a failure and end before the device is destroyed.
Task<void> yield_a_few_times() {
  auto executor = co_await boost::asio::this_coro::executor;
  for (int i = 0; i < 10; ++i) co_await boost::asio::post(executor, boost::asio::use_awaitable);
}

// The kernel may take fewer operations than offered: the rest are offered again; a submission
// that fails outright fails the operations it did not take, and the device, without a crash.
Task<void> short_and_failed_submissions(std::string path) {
  auto executor = co_await boost::asio::this_coro::executor;
  Buffer data = pattern(2 * kBlockSize, 5);
  {
    auto device = UringBlockDevice::open(executor, path, 8);
    CO_ASSERT_OK(device);
    int refusals = 3;  // Two EAGAIN, then one submission that takes nothing.
    (*device)->set_submit_for_testing([&refusals](io_uring* ring) {
      if (refusals == 0) return io_uring_submit(ring);
      return --refusals == 0 ? 0 : -EAGAIN;
    });
    CO_ASSERT_OK(co_await (*device)->write(0, data.span()));
    EXPECT_EQ(refusals, 0);
    Buffer back = Buffer::allocate(data.size());
    CO_ASSERT_OK(co_await (*device)->read(0, back.span()));
    EXPECT_TRUE(same(back, data));

    (*device)->set_submit_for_testing([](io_uring*) { return -EBADF; });
    Status failed = co_await (*device)->write(0, data.span());
    EXPECT_EQ(failed.code(), StatusCode::kIoError);
    EXPECT_NE(failed.message().find("io_uring_submit"), std::string_view::npos) << failed;
    EXPECT_EQ((co_await (*device)->flush()).code(), StatusCode::kIoError) << "the drive is failed";
    EXPECT_EQ((*device)->in_flight(), 0u);
    co_await yield_a_few_times();
  }
  auto device = UringBlockDevice::open(executor, path, 8);
  CO_ASSERT_OK(device);
  (*device)->set_submit_for_testing([](io_uring*) { return 0; });  // Never takes anything.
  Status stalled = co_await (*device)->flush();
  EXPECT_EQ(stalled.code(), StatusCode::kIoError);
  EXPECT_NE(stalled.message().find("took none"), std::string_view::npos) << stalled;
  co_await yield_a_few_times();
}

TEST_F(UringBlockDeviceTest, ShortAndFailedSubmissionsFailOperationsNotTheProcess) {
  run_task(short_and_failed_submissions(path_));
}

Task<void> crash_scenario(FakeBlockDevice& device) {
  Buffer durable = pattern(kBlockSize, 1), volatile_ = pattern(8 * kBlockSize, 2);
  CO_ASSERT_OK(co_await device.write(0, durable.span()));
  CO_ASSERT_OK(co_await device.flush());
  CO_ASSERT_OK(co_await device.write(0, volatile_.span()));
  EXPECT_EQ(device.unflushed_blocks(), 8u);
  Buffer back = Buffer::allocate(kBlockSize);
  CO_ASSERT_OK(co_await device.read(0, back.span()));
  EXPECT_TRUE(same(back, volatile_.slice(0, kBlockSize)));  // Visible before the crash ...
  device.crash();
  CO_ASSERT_OK(co_await device.read(0, back.span()));
  EXPECT_TRUE(same(back, durable));  // ... gone after it.
  EXPECT_EQ(device.unflushed_blocks(), 0u);
}

TEST(FakeBlockDeviceTest, CrashLosesUnflushedWrites) {
  FakeBlockDevice device(kDeviceBytes);
  run_task(crash_scenario(device));
}

Task<void> torn_scenario(FakeBlockDevice& device, int& kept) {
  Buffer data = pattern(64 * kBlockSize, 3);
  CO_ASSERT_OK(co_await device.write(0, data.span()));
  device.crash(/*keep_probability=*/0.5, /*seed=*/7);
  Buffer back = Buffer::allocate(data.size());
  CO_ASSERT_OK(co_await device.read(0, back.span()));
  for (size_t b = 0; b < 64; ++b) {
    bool new_block =
        std::memcmp(back.data() + b * kBlockSize, data.data() + b * kBlockSize, kBlockSize) == 0;
    kept += new_block ? 1 : 0;
  }
}

TEST(FakeBlockDeviceTest, CrashCanTearAMultiBlockWrite) {
  FakeBlockDevice device(kDeviceBytes);
  int kept = 0;
  run_task(torn_scenario(device, kept));
  EXPECT_GT(kept, 10);
  EXPECT_LT(kept, 54);
}

Task<void> failure_scenario(FakeBlockDevice& device) {
  Buffer data = pattern(kBlockSize, 4);
  device.fail_next(2);
  EXPECT_EQ((co_await device.write(0, data.span())).code(), StatusCode::kIoError);
  EXPECT_EQ((co_await device.flush()).code(), StatusCode::kIoError);
  EXPECT_EQ(device.unflushed_blocks(), 0u);  // The failed write changed nothing.
  EXPECT_OK(co_await device.write(0, data.span()));
  EXPECT_OK(co_await device.flush());
  EXPECT_EQ(device.flushes(), 1u);
}

TEST(FakeBlockDeviceTest, InjectedFailuresChangeNothing) {
  FakeBlockDevice device(kDeviceBytes);
  run_task(failure_scenario(device));
}

}  // namespace
}  // namespace tessera
