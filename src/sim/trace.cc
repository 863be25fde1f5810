#include "sim/trace.h"

namespace tessera::sim {

void Trace::add_line(std::string line) {
  auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start_).count();
  lines_.push_back(fmt::format("{:>9}ms {}", elapsed_ms, line));
  ++total_lines_;
  if (lines_.size() > capacity_) lines_.pop_front();
}

std::string Trace::tail(size_t count) const {
  std::string out;
  size_t first = lines_.size() > count ? lines_.size() - count : 0;
  for (size_t i = first; i < lines_.size(); ++i) {
    out += lines_[i];
    out += '\n';
  }
  return out;
}

}  // namespace tessera::sim
