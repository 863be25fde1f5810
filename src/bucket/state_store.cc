#include "bucket/state_store.h"

namespace tessera::bucket {

Result<std::optional<std::string>> MemoryStateStore::get(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

void MemoryStateStore::put(std::string_view key, std::string_view value) {
  map_.insert_or_assign(std::string(key), std::string(value));
}

void MemoryStateStore::erase(std::string_view key) {
  auto it = map_.find(key);
  if (it != map_.end()) map_.erase(it);
}

Result<std::vector<std::pair<std::string, std::string>>> MemoryStateStore::scan(
    std::string_view start, std::string_view end, size_t limit) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = map_.lower_bound(start); it != map_.end() && it->first < end; ++it) {
    if (out.size() >= limit) break;
    out.emplace_back(it->first, it->second);
  }
  return out;
}

}  // namespace tessera::bucket
