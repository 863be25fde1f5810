#include "runtime/event_loop.h"

#include <pthread.h>

#include <string>

namespace tessera {

EventLoopGroup::EventLoopGroup(size_t loop_count) {
  if (loop_count == 0) loop_count = std::max(1u, std::thread::hardware_concurrency());
  loops_.reserve(loop_count);
  for (size_t i = 0; i < loop_count; ++i) {
    auto loop = std::make_unique<Loop>();
    Loop* raw = loop.get();
    loop->thread = std::thread([raw, i] {
      std::string name = "loop-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      raw->context.run();
    });
    loops_.push_back(std::move(loop));
  }
}

EventLoopGroup::~EventLoopGroup() { stop(); }

void EventLoopGroup::stop() {
  for (auto& loop : loops_) {
    TESS_ASSERT(loop->thread.get_id() != std::this_thread::get_id(),
                "EventLoopGroup::stop called from its own loop");
    loop->work.reset();
    loop->context.stop();
  }
  for (auto& loop : loops_) {
    if (loop->thread.joinable()) loop->thread.join();
  }
}

}  // namespace tessera
