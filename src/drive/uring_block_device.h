// UringBlockDevice: a BlockDevice on a file or block device, opened with O_DIRECT and driven
// through io_uring. At most `queue_depth` operations are in the kernel at once; further callers
// wait for a slot. Completions arrive through an eventfd watched by the owning event loop, so a
// caller's task is resumed on its own loop and nothing blocks.
//
// The kernel may take fewer queued operations than offered (io_uring_submit returns a short count,
// or EAGAIN / EBUSY when it is out of resources): the rest stay queued and are offered again, up
// to kMaxStalledSubmits times in a row without progress. If the kernel still takes none, or
// io_uring_submit fails otherwise, the operations it did not take fail with kIoError, and so
// does every later one: the ring may still hold them, so it is never submitted to again (the
// drive must be reopened).
//
// Lives on one executor (the one given to open()). Destroy it only when no I/O is in flight.
#pragma once

#include <liburing.h>
#include <sys/uio.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "drive/block_device.h"
#include "runtime/async_semaphore.h"

namespace tessera {

class UringBlockDevice final : public BlockDevice {
 public:
  // Opens `path`: a regular file whose size is a whole number of 4 KiB blocks, or a block device.
  // Errors: kNotFound, kPermissionDenied, kInvalidArgument (size, or O_DIRECT unsupported by the
  // filesystem), kIoError (io_uring could not be set up).
  static Result<std::unique_ptr<UringBlockDevice>> open(const Executor& executor,
                                                        const std::string& path,
                                                        uint32_t queue_depth = 64);
  ~UringBlockDevice() override;
  UringBlockDevice(const UringBlockDevice&) = delete;
  UringBlockDevice& operator=(const UringBlockDevice&) = delete;

  uint64_t capacity_bytes() const override { return capacity_bytes_; }
  Task<Status> read(uint64_t offset, std::span<std::byte> out) override;
  Task<Status> write(uint64_t offset, std::span<const std::byte> data) override;
  // One writev.
  Task<Status> write_gather(uint64_t offset,
                            std::span<const std::span<const std::byte>> pieces) override;
  Task<Status> flush() override;

  size_t in_flight() const { return in_flight_; }
  // Why the device takes no more I/O (OK while it does).
  const Status& failure() const { return failure_; }

  // Replaces io_uring_submit, for tests of short and failed submissions. The replacement may
  // call io_uring_submit itself.
  void set_submit_for_testing(std::function<int(io_uring*)> submit) {
    submit_for_testing_ = std::move(submit);
  }

  static constexpr int kMaxStalledSubmits = 1000;

 private:
  enum class Kind { kRead, kWrite, kWritev, kFlush };
  struct Operation;

  UringBlockDevice(const Executor& executor, int fd, int event_fd, uint64_t capacity_bytes,
                   uint32_t queue_depth);
  struct IoRequest {
    Kind kind;
    uint64_t offset = 0;
    std::byte* memory = nullptr;     // kRead, kWrite.
    size_t length = 0;               // Bytes in all.
    const iovec* vectors = nullptr;  // kWritev.
    unsigned vector_count = 0;
  };
  Task<Status> submit(IoRequest request);
  void queue(Operation* op, const IoRequest& request);
  void post_submit();
  void submit_queued();
  // Fails every operation the kernel has not taken with `result` (a negative errno) and stops
  // the device taking I/O.
  void fail_unsubmitted(int result, std::string why);
  static Task<void> reap_loop(UringBlockDevice* self);
  void reap();

  Executor executor_;
  int fd_;
  uint64_t capacity_bytes_;
  io_uring ring_{};
  boost::asio::posix::stream_descriptor events_;  // The eventfd io_uring signals.
  AsyncSemaphore slots_;
  size_t in_flight_ = 0;                // Queued or in the kernel.
  std::deque<Operation*> unsubmitted_;  // Queued, not yet taken by the kernel, in ring order.
  int stalled_submits_ = 0;             // Submissions in a row that the kernel took none of.
  Status failure_;
  std::function<int(io_uring*)> submit_for_testing_;
  bool submit_posted_ = false;
  bool reaping_ = false;
  std::string path_;
};

}  // namespace tessera
