// FakeBlockDevice: a BlockDevice in memory, for unit tests of what is built on drives. It keeps
// written-but-unflushed blocks apart from durable ones so that crash() can lose them (or keep a
// random subset: writes torn at block granularity), and it can fail operations on request.
// Operations complete at once. Lives on one executor, like every BlockDevice.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <vector>

#include "base/units.h"
#include "drive/block_device.h"

namespace tessera {

class FakeBlockDevice final : public BlockDevice {
 public:
  // REQUIRES: capacity_bytes is a positive multiple of 4 KiB.
  explicit FakeBlockDevice(uint64_t capacity_bytes);

  uint64_t capacity_bytes() const override { return capacity_bytes_; }
  Task<Status> read(uint64_t offset, std::span<std::byte> out) override;
  Task<Status> write(uint64_t offset, std::span<const std::byte> data) override;
  Task<Status> flush() override;

  // The next `count` operations fail with kIoError and change nothing (0: none fail).
  void fail_next(int count) { failures_left_ = count; }
  // Called after every successful write and flush (for tests that stop a process at an exact
  // step: the hook can make every later operation fail).
  void set_after_mutation(std::function<void()> hook) { after_mutation_ = std::move(hook); }
  // Power loss: unflushed blocks are lost, except that each survives with probability
  // `keep_probability` (chosen by `seed`), as a torn multi-block write would leave them.
  void crash(double keep_probability = 0, uint64_t seed = 0);

  size_t unflushed_blocks() const { return unflushed_.size(); }
  uint64_t flushes() const { return flushes_; }

 private:
  using Block = std::array<std::byte, kBlockSize>;
  Status take_failure();

  // Sparse, by block index: a block never written reads as zeros. (The simulator makes thousands
  // of drives with 64 MiB reserved at the front; zeroing them all cost most of its time.)
  uint64_t capacity_bytes_;
  std::map<uint64_t, Block> durable_;
  std::map<uint64_t, Block> unflushed_;
  int failures_left_ = 0;
  uint64_t flushes_ = 0;
  std::function<void()> after_mutation_;
};

}  // namespace tessera
