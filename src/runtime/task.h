// Task<T>: the coroutine type of Tessera. A Task is an Asio awaitable: it starts when awaited or
// spawned, runs on the executor that awaits it, and propagates cancellation to the Asio operation
// it is suspended on. Tessera code returns Status / Result<T> from tasks and never throws; an
// exception escaping a spawned task is a bug and aborts (see spawn_detached).
//
// Rules (docs/style.md): take coroutine parameters by value; no capturing lambda coroutines; an
// object that owns coroutine state lives on one executor and says which in its header comment.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <exception>
#include <future>
#include <string>
#include <utility>

#include "base/assert.h"

namespace tessera {

template <typename T = void>
using Task = boost::asio::awaitable<T>;

using Executor = boost::asio::any_io_executor;

// Completion token for Asio operations inside tasks: errors come back as values in a tuple
// (error_code first) instead of exceptions.
inline constexpr auto use_task = boost::asio::as_tuple(boost::asio::use_awaitable);

// Starts `task` on `executor` without waiting for it. `what` names it in the crash report if it
// throws (which is a bug: tasks return errors as values).
void spawn_detached(const Executor& executor, Task<void> task, std::string what);

// Runs `task` on `context`, driving the context on the calling thread until the task is done.
// For main() and tests. REQUIRES: no other thread runs `context`.
template <typename T>
T run_until_complete(boost::asio::io_context& context, Task<T> task) {
  std::future<T> future = boost::asio::co_spawn(context, std::move(task), boost::asio::use_future);
  context.restart();
  while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (context.run_one() == 0) context.restart();
  }
  return future.get();
}

}  // namespace tessera
