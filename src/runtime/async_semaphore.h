// AsyncSemaphore: a counting semaphore for tasks on one executor; the building block of every
// in-flight bound. Waiters are served first come, first served. Lives on one executor: acquire()
// and release() must be called from it. No locks.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <list>

#include "base/status.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera {

class AsyncSemaphore {
 public:
  explicit AsyncSemaphore(size_t permits) : available_(permits) {}
  AsyncSemaphore(const AsyncSemaphore&) = delete;
  AsyncSemaphore& operator=(const AsyncSemaphore&) = delete;
  ~AsyncSemaphore() { TESS_ASSERT(waiters_.empty(), "semaphore destroyed with waiters"); }

  // Takes one permit without waiting, or returns false.
  bool try_acquire();
  // Takes one permit, waiting until one is released. Fails with kDeadlineExceeded when the
  // deadline passes first, or kCancelled when the task is cancelled; no permit is held then.
  Task<Status> acquire(Deadline deadline);
  // Returns one permit, waking the oldest waiter.
  void release();

  size_t available() const { return available_; }
  size_t waiter_count() const { return waiters_.size(); }

 private:
  struct Waiter {
    boost::asio::steady_timer* timer;
    bool granted = false;
  };
  size_t available_;
  std::list<Waiter> waiters_;
};

// Holds one permit and releases it when destroyed.
class SemaphorePermit {
 public:
  SemaphorePermit() = default;
  explicit SemaphorePermit(AsyncSemaphore* semaphore) : semaphore_(semaphore) {}
  SemaphorePermit(SemaphorePermit&& other) noexcept
      : semaphore_(std::exchange(other.semaphore_, nullptr)) {}
  SemaphorePermit& operator=(SemaphorePermit&& other) noexcept {
    if (this != &other) {
      reset();
      semaphore_ = std::exchange(other.semaphore_, nullptr);
    }
    return *this;
  }
  ~SemaphorePermit() { reset(); }
  void reset() {
    if (semaphore_ != nullptr) std::exchange(semaphore_, nullptr)->release();
  }

 private:
  AsyncSemaphore* semaphore_ = nullptr;
};

}  // namespace tessera
