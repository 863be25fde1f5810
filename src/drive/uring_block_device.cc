#include "drive/uring_block_device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "base/fault_points.h"
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

// One operation the kernel holds. Its completion handler resumes the waiting task.
// One operation the kernel holds: how to resume the task that waits for it. (A small erasure of
// our own: Boost 1.81's any_completion_handler looks copyable to templates and recurses.)
struct UringBlockDevice::Operation {
  struct Completion {
    virtual ~Completion() = default;
    virtual void complete(int result) = 0;
  };
  template <typename Handler>
  struct HandlerCompletion final : Completion {
    explicit HandlerCompletion(Handler h) : handler(std::move(h)) {}
    void complete(int result) override { std::move(handler)(result); }
    Handler handler;
  };
  std::unique_ptr<Completion> completion;
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
  co_return co_await submit(IoRequest{Kind::kRead, offset, out.data(), out.size()});
}

Task<Status> UringBlockDevice::write(uint64_t offset, std::span<const std::byte> data) {
  TESS_CO_RETURN_IF_ERROR(check_io(offset, data.data(), data.size()));
  co_return co_await submit(
      IoRequest{Kind::kWrite, offset, const_cast<std::byte*>(data.data()), data.size()});
}

Task<Status> UringBlockDevice::write_gather(uint64_t offset,
                                            std::span<const std::span<const std::byte>> pieces) {
  constexpr size_t kMaxPieces = 8;
  TESS_ASSERT(!pieces.empty() && pieces.size() <= kMaxPieces, "{} pieces", pieces.size());
  std::array<iovec, kMaxPieces> vectors{};
  size_t length = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    TESS_CO_RETURN_IF_ERROR(check_io(offset + length, pieces[i].data(), pieces[i].size()));
    vectors[i] = iovec{const_cast<std::byte*>(pieces[i].data()), pieces[i].size()};
    length += pieces[i].size();
  }
  TESS_CO_RETURN_IF_ERROR(check_io(offset, pieces[0].data(), length));
  co_return co_await submit(IoRequest{Kind::kWritev, offset, nullptr, length, vectors.data(),
                                      static_cast<unsigned>(pieces.size())});
}

Task<Status> UringBlockDevice::flush() { co_return co_await submit(IoRequest{Kind::kFlush}); }

Task<Status> UringBlockDevice::submit(IoRequest request) {
  TESS_CO_RETURN_IF_ERROR(failure_);
  TESS_CO_RETURN_IF_ERROR(co_await slots_.acquire(Deadline::never()));
  SemaphorePermit slot(&slots_);
  // Once the kernel holds the operation it will touch `memory` and `op` whatever the caller
  // wants, so the wait below must not end early on cancellation.
  bool throws = co_await boost::asio::this_coro::throw_if_cancelled();
  co_await boost::asio::this_coro::throw_if_cancelled(false);
  Operation op;
  int result =
      co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(int)>(
          [this, &op, &request](auto handler) {
            using Handler = decltype(handler);
            op.completion =
                std::make_unique<Operation::HandlerCompletion<Handler>>(std::move(handler));
            queue(&op, request);
          },
          boost::asio::use_awaitable);
  co_await boost::asio::this_coro::throw_if_cancelled(throws);
  if (result < 0) {
    if (!failure_.ok()) co_return failure_;  // Most likely failed by it: say why.
    co_return error(StatusCode::kIoError, "drive {}: {} at offset {}", path_,
                    std::strerror(-result), request.offset);
  }
  if (request.kind != Kind::kFlush && static_cast<size_t>(result) != request.length) {
    co_return error(StatusCode::kIoError, "drive {}: short I/O, {} of {} bytes at offset {}", path_,
                    result, request.length, request.offset);
  }
  co_return Status();
}

void UringBlockDevice::queue(Operation* op, const IoRequest& request) {
  if (!failure_.ok()) {
    // Failed while this caller waited for a slot.
    boost::asio::post(executor_, [op] { op->completion->complete(-EIO); });
    return;
  }
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  TESS_ASSERT(sqe != nullptr, "io_uring submission queue full with {} in flight", in_flight_);
  auto length = static_cast<unsigned>(request.length);
  switch (request.kind) {
    case Kind::kRead:
      io_uring_prep_read(sqe, fd_, request.memory, length, request.offset);
      break;
    case Kind::kWrite:
      io_uring_prep_write(sqe, fd_, request.memory, length, request.offset);
      break;
    case Kind::kWritev:
      io_uring_prep_writev(sqe, fd_, request.vectors, request.vector_count, request.offset);
      break;
    case Kind::kFlush:
      io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
      break;
  }
  io_uring_sqe_set_data(sqe, op);
  ++in_flight_;
  unsubmitted_.push_back(op);
  // Every operation queued in this turn of the loop goes to the kernel in one system call.
  post_submit();
  if (!reaping_) {
    reaping_ = true;
    spawn_detached(executor_, reap_loop(this), "io_uring reaper");
  }
}

void UringBlockDevice::post_submit() {
  if (submit_posted_) return;
  submit_posted_ = true;
  boost::asio::post(executor_, [this] { submit_queued(); });
}

void UringBlockDevice::submit_queued() {
  submit_posted_ = false;
  if (unsubmitted_.empty() || !failure_.ok()) return;
  int submitted = submit_for_testing_ ? submit_for_testing_(&ring_) : io_uring_submit(&ring_);
  bool transient = submitted == -EAGAIN || submitted == -EBUSY || submitted == -EINTR;
  if (submitted < 0 && !transient) {
    fail_unsubmitted(submitted, fmt::format("io_uring_submit: {}", std::strerror(-submitted)));
    return;
  }
  size_t taken = std::min(static_cast<size_t>(std::max(submitted, 0)), unsubmitted_.size());
  unsubmitted_.erase(unsubmitted_.begin(), unsubmitted_.begin() + static_cast<long>(taken));
  if (unsubmitted_.empty()) {
    stalled_submits_ = 0;
    return;
  }
  // A short submission: the kernel keeps the rest in the ring and takes them on the next call
  // (after completions have freed its resources, which the loop reaps meanwhile).
  TESS_COVER("uring.short_submit");
  stalled_submits_ = taken > 0 ? 0 : stalled_submits_ + 1;
  if (stalled_submits_ > kMaxStalledSubmits) {
    fail_unsubmitted(transient ? submitted : -EAGAIN,
                     fmt::format("io_uring_submit took none of {} operations {} times in a row",
                                 unsubmitted_.size(), stalled_submits_));
    return;
  }
  post_submit();
}

void UringBlockDevice::fail_unsubmitted(int result, std::string why) {
  TESS_LOG_ERROR("drive {}: {}; failing {} queued operations, the drive takes no more I/O", path_,
                 why, unsubmitted_.size());
  failure_ = error(StatusCode::kIoError, "drive {} failed: {}", path_, why);
  for (Operation* op : unsubmitted_) {
    --in_flight_;
    boost::asio::post(executor_, [completion = std::move(op->completion), result] {
      completion->complete(result);
    });
  }
  unsubmitted_.clear();
  // Nothing left for the kernel to complete: wake the reaper so that it ends.
  if (in_flight_ == 0) events_.cancel();
}

Task<void> UringBlockDevice::reap_loop(UringBlockDevice* self) {
  while (self->in_flight_ > 0) {
    auto [error] = co_await self->events_.async_wait(
        boost::asio::posix::stream_descriptor::wait_read, use_task);
    if (error == boost::asio::error::operation_aborted && !self->failure_.ok()) break;
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
    int result = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    --in_flight_;
    boost::asio::post(executor_, [completion = std::move(op->completion), result] {
      completion->complete(result);
    });
  }
}

}  // namespace tessera
