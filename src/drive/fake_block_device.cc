#include "drive/fake_block_device.h"

#include <cstring>
#include <random>

namespace tessera {

FakeBlockDevice::FakeBlockDevice(uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {
  TESS_ASSERT(capacity_bytes > 0 && capacity_bytes % kBlockSize == 0, "fake device of {} bytes",
              capacity_bytes);
}

Status FakeBlockDevice::take_failure() {
  if (failures_left_ == 0) return Status();
  --failures_left_;
  return Status(StatusCode::kIoError, "injected I/O error");
}

Task<Status> FakeBlockDevice::read(uint64_t offset, std::span<std::byte> out) {
  TESS_CO_RETURN_IF_ERROR(check_io(offset, out.data(), out.size()));
  TESS_CO_RETURN_IF_ERROR(take_failure());
  for (size_t done = 0; done < out.size(); done += kBlockSize) {
    uint64_t block = (offset + done) / kBlockSize;
    auto pending = unflushed_.find(block);
    auto durable = durable_.find(block);
    if (pending != unflushed_.end()) {
      std::memcpy(out.data() + done, pending->second.data(), kBlockSize);
    } else if (durable != durable_.end()) {
      std::memcpy(out.data() + done, durable->second.data(), kBlockSize);
    } else {
      std::memset(out.data() + done, 0, kBlockSize);
    }
  }
  co_return Status();
}

Task<Status> FakeBlockDevice::write(uint64_t offset, std::span<const std::byte> data) {
  TESS_CO_RETURN_IF_ERROR(check_io(offset, data.data(), data.size()));
  TESS_CO_RETURN_IF_ERROR(take_failure());
  for (size_t done = 0; done < data.size(); done += kBlockSize) {
    Block& block = unflushed_[(offset + done) / kBlockSize];
    std::memcpy(block.data(), data.data() + done, kBlockSize);
  }
  if (after_mutation_) after_mutation_();
  co_return Status();
}

Task<Status> FakeBlockDevice::flush() {
  TESS_CO_RETURN_IF_ERROR(take_failure());
  for (const auto& [index, block] : unflushed_) durable_[index] = block;
  unflushed_.clear();
  ++flushes_;
  if (after_mutation_) after_mutation_();
  co_return Status();
}

void FakeBlockDevice::crash(double keep_probability, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::bernoulli_distribution keep(keep_probability);
  for (const auto& [index, block] : unflushed_) {
    if (keep(random)) durable_[index] = block;
  }
  unflushed_.clear();
}

}  // namespace tessera
