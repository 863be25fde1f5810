#include "drive/uring_block_device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "base/units.h"

namespace tessera {

namespace {

Status open_error(const std::string& path, int error_number) {
  std::string reason = std::strerror(error_number);
  switch (error_number) {
    case ENOENT:
      return error(StatusCode::kNotFound, "drive {}: {}", path, reason);
    case EACCES:
    case EPERM:
      return error(StatusCode::kPermissionDenied, "drive {}: {}", path, reason);
    case EINVAL:
      return error(StatusCode::kInvalidArgument,
                   "drive {}: {} (the filesystem may not support O_DIRECT)", path, reason);
    default:
      return error(StatusCode::kIoError, "drive {}: {}", path, reason);
  }
}

Result<uint64_t> device_size(int fd, const std::string& path) {
  struct stat info {};
  if (fstat(fd, &info) != 0) return open_error(path, errno);
  uint64_t size = 0;
  if (S_ISBLK(info.st_mode)) {
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) return open_error(path, errno);
  } else if (S_ISREG(info.st_mode)) {
    size = static_cast<uint64_t>(info.st_size);
  } else {
    return error(StatusCode::kInvalidArgument, "drive {} is neither a file nor a block device",
                 path);
  }
  if (size == 0 || size % kBlockSize != 0) {
    return error(StatusCode::kInvalidArgument,
                 "drive {} is {} bytes, not a positive whole number of 4 KiB blocks", path, size);
  }
  return size;
}

}  // namespace

struct UringBlockDevice::Operation {
  boost::asio::steady_timer wake;
  int result = 0;
  bool done = false;
};

Result<std::unique_ptr<UringBlockDevice>> UringBlockDevice::open(const Executor& executor,
                                                                 const std::string& path,
                                                                 uint32_t queue_depth) {
  TESS_ASSERT(queue_depth >= 1 && queue_depth <= 4096, "queue depth {}", queue_depth);
  int fd = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return open_error(path, errno);
  auto size = device_size(fd, path);
  if (!size.ok()) {
    ::close(fd);
    return size.status();
  }
  int event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd < 0) {
    ::close(fd);
    return error(StatusCode::kIoError, "eventfd: {}", std::strerror(errno));
  }
  std::unique_ptr<UringBlockDevice> device(
      new UringBlockDevice(executor, fd, event_fd, *size, queue_depth));
  device->path_ = path;
  int rc = io_uring_queue_init(queue_depth, &device->ring_, 0);
  if (rc == 0) {
    rc = io_uring_register_eventfd(&device->ring_, event_fd);
    if (rc != 0) io_uring_queue_exit(&device->ring_);
  }
  if (rc != 0) {
    device->ring_.ring_fd = -1;
    return error(StatusCode::kIoError, "io_uring setup for {}: {}", path, std::strerror(-rc));
  }
  return device;
}

UringBlockDevice::UringBlockDevice(const Executor& executor, int fd, int event_fd,
                                   uint64_t capacity_bytes, uint32_t queue_depth)
    : executor_(executor),
      fd_(fd),
      capacity_bytes_(capacity_bytes),
      events_(executor, event_fd),
      slots_(queue_depth) {
  ring_.ring_fd = -1;
}

UringBlockDevice::~UringBlockDevice() {
  TESS_ASSERT(in_flight_ == 0 && !reaping_, "drive {} destroyed with {} operations in flight",
              path_, in_flight_);
  if (ring_.ring_fd >= 0) io_uring_queue_exit(&ring_);
  ::close(fd_);
}

Task<Status> UringBlockDevice::read(uint64_t offset, std::span<std::byte> out) {
  TESS_CO_RETURN_IF_ERROR(check_io(offset, out.data(), out.size()));
  co_return co_await submit(Kind::kRead, offset, out.data(), out.size());
}

Task<Status> UringBlockDevice::write(uint64_t offset, std::span<const std::byte> data) {
  TESS_CO_RETURN_IF_ERROR(check_io(offset, data.data(), data.size()));
  co_return co_await submit(Kind::kWrite, offset, const_cast<std::byte*>(data.data()), data.size());
}

Task<Status> UringBlockDevice::flush() { co_return co_await submit(Kind::kFlush, 0, nullptr, 0); }

Task<Status> UringBlockDevice::submit(Kind kind, uint64_t offset, std::byte* memory,
                                      size_t length) {
  TESS_CO_RETURN_IF_ERROR(co_await slots_.acquire(Deadline::never()));
  SemaphorePermit slot(&slots_);
  // Once the kernel holds the operation it will touch `memory` and `op` whatever the caller
  // wants, so the wait below must not end early on cancellation.
  bool throws = co_await boost::asio::this_coro::throw_if_cancelled();
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  Operation op{boost::asio::steady_timer(executor_, boost::asio::steady_timer::time_point::max())};
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  TESS_ASSERT(sqe != nullptr, "io_uring submission queue full with {} in flight", in_flight_);
  switch (kind) {
    case Kind::kRead:
      io_uring_prep_read(sqe, fd_, memory, static_cast<unsigned>(length), offset);
      break;
    case Kind::kWrite:
      io_uring_prep_write(sqe, fd_, memory, static_cast<unsigned>(length), offset);
      break;
    case Kind::kFlush:
      io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
      break;
  }
  io_uring_sqe_set_data(sqe, &op);
  int submitted = io_uring_submit(&ring_);
  TESS_ASSERT(submitted == 1, "io_uring_submit on {}: {}", path_,
              submitted < 0 ? std::strerror(-submitted) : "nothing submitted");
  ++in_flight_;
  if (!reaping_) {
    reaping_ = true;
    spawn_detached(executor_, reap_loop(this), "io_uring reaper");
  }
  while (!op.done) co_await op.wake.async_wait(use_task);
  co_await boost::asio::this_coro::throw_if_cancelled(throws);
  if (op.result < 0) {
    co_return error(StatusCode::kIoError, "drive {}: {} at offset {}", path_,
                    std::strerror(-op.result), offset);
  }
  if (kind != Kind::kFlush && static_cast<size_t>(op.result) != length) {
    co_return error(StatusCode::kIoError, "drive {}: short I/O, {} of {} bytes at offset {}", path_,
                    op.result, length, offset);
  }
  co_return Status();
}

Task<void> UringBlockDevice::reap_loop(UringBlockDevice* self) {
  while (self->in_flight_ > 0) {
    auto [error] = co_await self->events_.async_wait(
        boost::asio::posix::stream_descriptor::wait_read, use_task);
    TESS_ASSERT(!error, "waiting on io_uring completions: {}", error.message());
    self->reap();
  }
  self->reaping_ = false;
}

void UringBlockDevice::reap() {
  uint64_t signals = 0;
  (void)::read(events_.native_handle(), &signals, sizeof(signals));  // Reset; EAGAIN is fine.
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
    auto* op = static_cast<Operation*>(io_uring_cqe_get_data(cqe));
    op->result = cqe->res;
    op->done = true;
    op->wake.cancel();
    io_uring_cqe_seen(&ring_, cqe);
    --in_flight_;
  }
}

}  // namespace tessera
