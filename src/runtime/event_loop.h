// EventLoopGroup: N single-threaded event loops (Asio io_contexts), one thread each; by default one
// per core. Objects are pinned to one loop and touched only from it, so they need no locks;
// loops talk to each other by posting work (co_spawn on another loop's executor).
//
// Lifecycle: the constructor starts the threads; stop() (or the destructor) stops every loop,
// abandoning queued work, and joins the threads. Tasks that must finish cleanly are shut down by
// their owners before stop().
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "runtime/task.h"

namespace tessera {

class EventLoopGroup {
 public:
  // loop_count == 0 means one loop per hardware thread.
  explicit EventLoopGroup(size_t loop_count = 0);
  ~EventLoopGroup();
  EventLoopGroup(const EventLoopGroup&) = delete;
  EventLoopGroup& operator=(const EventLoopGroup&) = delete;

  size_t size() const { return loops_.size(); }
  // REQUIRES: index < size().
  boost::asio::io_context& loop(size_t index) { return loops_.at(index)->context; }
  Executor executor(size_t index) { return loop(index).get_executor(); }

  // Stops all loops and joins their threads. Idempotent. REQUIRES: not called from a loop thread.
  void stop();

 private:
  struct Loop {
    boost::asio::io_context context{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
        context.get_executor()};
    std::thread thread;
  };
  std::vector<std::unique_ptr<Loop>> loops_;
};

}  // namespace tessera
