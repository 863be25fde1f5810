// BlockingBridge: the one door through which threads that are not event-loop threads (libfuse
// worker threads, a main() that waits) run a task on a loop and wait for its result. It bounds how
// many such tasks are in flight at once; a caller beyond the bound blocks until a slot frees, so
// back-pressure reaches the kernel instead of growing a queue.
//
// Thread-safe: any number of outside threads may call run() concurrently.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <semaphore>

#include "runtime/task.h"

namespace tessera {

class BlockingBridge {
 public:
  // `loop` must outlive the bridge and be run by some thread other than the callers.
  BlockingBridge(boost::asio::io_context& loop, size_t max_in_flight)
      : loop_(loop), slots_(static_cast<std::ptrdiff_t>(max_in_flight)) {
    TESS_ASSERT(max_in_flight > 0, "a bridge needs at least one slot");
  }

  // Runs `task` on the loop and blocks until it finishes; returns its result.
  // REQUIRES: the calling thread is not running the loop (it would wait on itself forever).
  template <typename T>
  T run(Task<T> task) {
    TESS_ASSERT(!loop_.get_executor().running_in_this_thread(),
                "BlockingBridge::run called from its own loop");
    slots_.acquire();
    struct Release {
      std::counting_semaphore<>& slots;
      ~Release() { slots.release(); }
    } release{slots_};
    return boost::asio::co_spawn(loop_, std::move(task), boost::asio::use_future).get();
  }

 private:
  boost::asio::io_context& loop_;
  std::counting_semaphore<> slots_;
};

}  // namespace tessera
