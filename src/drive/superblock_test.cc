#include "drive/superblock.h"

#include <gtest/gtest.h>

#include <cstring>

#include "base/buffer.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "drive/fake_block_device.h"
#include "testing/testing.h"

namespace tessera {
namespace {

using testing::run_task;

constexpr uint64_t kDriveBytes = 80 * kMiB;
constexpr ClusterUuid kCluster = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr ClusterUuid kOtherCluster = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

bool mentions(const Status& status, std::string_view text) {
  return status.message().find(text) != std::string_view::npos;
}

TEST(SuperblockTest, EncodesEveryField) {
  Superblock written{
      kDriveFormatVersion, kCluster, DriveId(42), 20480, kDataStartBlock, 1234567, 3};
  SuperblockBlock block = encode_superblock(written);
  auto read = decode_superblock(block);
  ASSERT_OK(read);
  EXPECT_EQ(*read, written);
  EXPECT_EQ(to_string(kCluster), "01020304-0506-0708-090a-0b0c0d0e0f10");
  auto parsed = parse_cluster_uuid("01020304-0506-0708-090A-0b0c0d0e0f10");
  ASSERT_OK(parsed);
  EXPECT_EQ(*parsed, kCluster);
  for (std::string_view bad :
       {"", "01020304-0506-0708-090a-0b0c0d0e0f1", "0102030405060708090a0b0c0d0e0f10",
        "01020304-0506-0708-090a-0b0c0d0e0f100", "0102030g-0506-0708-090a-0b0c0d0e0f10"}) {
    EXPECT_EQ(parse_cluster_uuid(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  block[100] ^= std::byte{1};
  EXPECT_EQ(decode_superblock(block).status().code(), StatusCode::kCorruption);
  SuperblockBlock zero{};
  EXPECT_EQ(decode_superblock(zero).status().code(), StatusCode::kNotFound);
}

TEST(SuperblockTest, RefusesAnUnknownVersion) {
  SuperblockBlock block = encode_superblock(Superblock{.cluster_id = kCluster});
  store_le<uint32_t>(block.data() + 8, 2);
  store_le<uint32_t>(block.data() + kBlockSize - 4,
                     crc32c(std::span(block.data(), kBlockSize - 4)));
  auto read = decode_superblock(block);
  EXPECT_EQ(read.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(mentions(read.status(), "version 2")) << read.status();
}

Task<void> lifecycle(FakeBlockDevice& device) {
  EXPECT_EQ((co_await open_drive(device, kCluster)).status().code(), StatusCode::kNotFound);
  auto formatted = co_await format_drive(device, kCluster, DriveId(7), 1000, /*force=*/false);
  CO_ASSERT_OK(formatted);
  EXPECT_EQ(formatted->generation, 1u);
  EXPECT_EQ(formatted->capacity_blocks, kDriveBytes / kBlockSize);
  auto opened = co_await open_drive(device, kCluster);
  CO_ASSERT_OK(opened);
  EXPECT_EQ(*opened, *formatted);
  auto foreign = co_await open_drive(device, kOtherCluster);
  EXPECT_EQ(foreign.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(mentions(foreign.status(), to_string(kCluster))) << foreign.status();
  EXPECT_TRUE(mentions(foreign.status(), to_string(kOtherCluster))) << foreign.status();
  auto again = co_await format_drive(device, kOtherCluster, DriveId(8), 2000, /*force=*/false);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(mentions(again.status(), "already belongs")) << again.status();
  auto forced = co_await format_drive(device, kOtherCluster, DriveId(8), 2000, /*force=*/true);
  CO_ASSERT_OK(forced);
  EXPECT_EQ(forced->generation, 2u);
  CO_ASSERT_OK(co_await open_drive(device, kOtherCluster));
}

TEST(SuperblockTest, FormatOpenAndForce) {
  FakeBlockDevice device(kDriveBytes);
  run_task(lifecycle(device));
}

Task<Status> corrupt_block(FakeBlockDevice& device, uint64_t block) {
  Buffer bytes = Buffer::allocate(kBlockSize);
  TESS_CO_RETURN_IF_ERROR(co_await device.read(block * kBlockSize, bytes.span()));
  bytes.data()[200] ^= std::byte{0xff};
  TESS_CO_RETURN_IF_ERROR(co_await device.write(block * kBlockSize, bytes.span()));
  co_return co_await device.flush();
}

Task<void> one_bad_copy(FakeBlockDevice& device) {
  CO_ASSERT_OK(co_await format_drive(device, kCluster, DriveId(1), 1, false));
  CO_ASSERT_OK(co_await corrupt_block(device, 0));
  CO_ASSERT_OK(co_await open_drive(device, kCluster));  // Copy 1 still serves.
  CO_ASSERT_OK(co_await corrupt_block(device, 1));
  auto both = co_await open_drive(device, kCluster);
  EXPECT_EQ(both.status().code(), StatusCode::kCorruption);
  auto refused = co_await format_drive(device, kCluster, DriveId(1), 1, false);
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_TRUE(mentions(refused.status(), "force a reformat")) << refused.status();
  CO_ASSERT_OK(co_await format_drive(device, kCluster, DriveId(1), 1, true));
  CO_ASSERT_OK(co_await open_drive(device, kCluster));
}

TEST(SuperblockTest, SurvivesOneCorruptCopy) {
  FakeBlockDevice device(kDriveBytes);
  run_task(one_bad_copy(device));
}

// A crash part way through a superblock update leaves the old or the new superblock, never a mix.
Task<void> crash_between_copies(FakeBlockDevice& device, bool copy0_flushed, uint64_t& seen) {
  CO_ASSERT_OK(co_await format_drive(device, kCluster, DriveId(1), 1, false));
  Superblock next{.cluster_id = kCluster, .drive_id = DriveId(1), .generation = 2};
  Buffer block = Buffer::allocate(kBlockSize);
  SuperblockBlock encoded = encode_superblock(next);
  std::memcpy(block.data(), encoded.data(), kBlockSize);
  CO_ASSERT_OK(co_await device.write(0, block.span()));
  if (copy0_flushed) {
    CO_ASSERT_OK(co_await device.flush());
    CO_ASSERT_OK(co_await device.write(kBlockSize, block.span()));  // Never flushed.
  }
  device.crash();
  auto read = co_await read_superblock(device);
  CO_ASSERT_OK(read);
  seen = read->generation;
}

TEST(SuperblockTest, CrashDuringUpdateKeepsOneWholeVersion) {
  for (bool copy0_flushed : {false, true}) {
    FakeBlockDevice device(kDriveBytes);
    uint64_t seen = 0;
    run_task(crash_between_copies(device, copy0_flushed, seen));
    EXPECT_EQ(seen, copy0_flushed ? 2u : 1u);
  }
}

Task<void> too_small() {
  FakeBlockDevice device(32 * kMiB);
  auto formatted = co_await format_drive(device, kCluster, DriveId(1), 1, false);
  EXPECT_EQ(formatted.status().code(), StatusCode::kNoSpace);
}

TEST(SuperblockTest, RefusesADriveTooSmall) { run_task(too_small()); }

// A superblock copied to (or a file truncated to) a smaller device: its chunks would lie past the
// end, so the drive is refused at open instead of failing reads later.
Task<void> larger_than_device() {
  FakeBlockDevice large(kDriveBytes);
  CO_ASSERT_OK(co_await format_drive(large, kCluster, DriveId(5), 1, false));
  Buffer blocks = Buffer::allocate(2 * kBlockSize);
  CO_ASSERT_OK(co_await large.read(0, blocks.span()));
  FakeBlockDevice small(kDriveBytes - 4 * kMiB);
  CO_ASSERT_OK(co_await small.write(0, blocks.span()));
  auto opened = co_await open_drive(small, kCluster);
  EXPECT_EQ(opened.status().code(), StatusCode::kCorruption);
  EXPECT_TRUE(mentions(opened.status(), "claims 20480 blocks")) << opened.status();
  EXPECT_TRUE(mentions(opened.status(), "only 19456")) << opened.status();

  Superblock bad_start = *(co_await read_superblock(large));
  bad_start.data_start_block = bad_start.capacity_blocks;
  CO_ASSERT_OK(co_await write_superblock(large, bad_start));
  auto refused = co_await open_drive(large, kCluster);
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption);
  EXPECT_TRUE(mentions(refused.status(), "data area")) << refused.status();
  CO_ASSERT_OK(co_await format_drive(small, kCluster, DriveId(6), 1, /*force=*/true));
  CO_ASSERT_OK(co_await open_drive(small, kCluster));
}

TEST(SuperblockTest, RefusesASuperblockLargerThanItsDevice) { run_task(larger_than_device()); }

}  // namespace
}  // namespace tessera
