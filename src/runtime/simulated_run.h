// run_simulated: drives a task on a FakeClock the way the simulator does. Every ready handler runs;
// when none is ready and the task has not finished, the clock jumps to the earliest waiter's
// deadline. Simulated time therefore passes only while everything waits, and a run is a pure
// function of its inputs (single thread, FIFO handlers, waiters woken in deadline order).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>

#include "base/assert.h"
#include "runtime/clock.h"
#include "runtime/task.h"

namespace tessera {

// Runs `task` on `context` with time from `clock` until it finishes; returns its result.
// REQUIRES: no other thread runs `context`; everything the task waits for is a handler of
// `context` or a wait on `clock` (no real sockets, timers or threads: they would look like a
// deadlock). Asserts on a deadlock (nothing ready and nobody waiting for time).
template <typename T>
T run_simulated(boost::asio::io_context& context, FakeClock& clock, Task<T> task) {
  std::future<T> future = boost::asio::co_spawn(context, std::move(task), boost::asio::use_future);
  while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    context.restart();
    if (context.poll() > 0) continue;
    bool advanced = clock.advance_to_next();
    TESS_ASSERT(advanced, "simulation deadlock: nothing is ready and nothing waits for time");
  }
  return future.get();
}

}  // namespace tessera
