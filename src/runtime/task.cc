#include "runtime/task.h"

namespace tessera {

namespace {
struct CrashOnException {
  std::string what;
  void operator()(const std::exception_ptr& error) const {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      TESS_ASSERT(false, "task '{}' threw: {}", what, e.what());
    } catch (...) {
      TESS_ASSERT(false, "task '{}' threw a non-standard exception", what);
    }
  }
};
}  // namespace

void spawn_detached(const Executor& executor, Task<void> task, std::string what) {
  boost::asio::co_spawn(executor, std::move(task), CrashOnException{std::move(what)});
}

}  // namespace tessera
