#include "runtime/async_semaphore.h"

namespace tessera {

bool AsyncSemaphore::try_acquire() {
  if (available_ == 0 || !waiters_.empty()) return false;
  --available_;
  return true;
}

Task<Status> AsyncSemaphore::acquire(Deadline deadline) {
  if (try_acquire()) co_return Status();
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  auto position = waiters_.insert(waiters_.end(), Waiter{&timer});
  co_await deadline.wait(timer);
  bool granted = position->granted;
  waiters_.erase(position);
  if (granted) co_return Status();
  if (deadline.expired()) {
    co_return Status(StatusCode::kDeadlineExceeded, "deadline passed waiting for a slot");
  }
  co_return Status(StatusCode::kCancelled, "cancelled while waiting for a slot");
}

void AsyncSemaphore::release() {
  for (Waiter& waiter : waiters_) {
    if (!waiter.granted) {
      // Hand the permit straight to the oldest waiter so that newcomers cannot overtake it.
      waiter.granted = true;
      waiter.timer->cancel();
      return;
    }
  }
  ++available_;
}

}  // namespace tessera
