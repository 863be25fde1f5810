// Offload: runs a blocking function (a RocksDB write that waits for fsync, a directory scan) on a
// thread pool and resumes the awaiting task on its own executor with the result, so an event loop
// never blocks on such calls. The function runs on a pool thread: it must not touch state owned by
// the loop, and what it captures must stay valid until it returns (capture by value).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <type_traits>
#include <utility>

#include "runtime/task.h"

namespace tessera {

namespace internal {

// Built outside the coroutine: GCC 12 miscompiles a lambda with a move init-capture inside a
// coroutine body (the captured object is copied bitwise and later destroyed twice).
template <typename Function>
auto offload_initiation(boost::asio::thread_pool& pool, Function function) {
  using R = std::invoke_result_t<Function>;
  return [&pool, function = std::move(function)](auto handler) mutable {
    auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
    boost::asio::post(pool, [function = std::move(function), handler = std::move(handler),
                             work = std::move(work)]() mutable {
      R result = function();
      auto executor = work.get_executor();
      boost::asio::post(
          executor, [handler = std::move(handler), result = std::move(result),
                     work = std::move(work)]() mutable { std::move(handler)(std::move(result)); });
    });
  };
}

}  // namespace internal

template <typename Function>
Task<std::invoke_result_t<Function>> offload(boost::asio::thread_pool& pool, Function function) {
  using R = std::invoke_result_t<Function>;
  co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(R)>(
      internal::offload_initiation(pool, std::move(function)), boost::asio::use_awaitable);
}

}  // namespace tessera
