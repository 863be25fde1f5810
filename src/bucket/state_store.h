// StateStore: one bucket's state machine storage as its apply code sees it. In tessd it is a
// RocksDB WriteBatchWithIndex over the process's database (reads see the batch's earlier writes);
// in tests and the simulator it is MemoryStateStore. Keys are whole keys (bucket prefix included,
// see bucket/keys.h).
//
// Failures: get/scan return kIoError or kCorruption from the storage; a bucket whose store fails
// while applying stops (its replica is broken) rather than diverge from its peers.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace tessera::bucket {

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Result<std::optional<std::string>> get(std::string_view key) = 0;
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void erase(std::string_view key) = 0;
  // The pairs with start <= key < end in key order, at most `limit`.
  virtual Result<std::vector<std::pair<std::string, std::string>>> scan(std::string_view start,
                                                                        std::string_view end,
                                                                        size_t limit) = 0;
};

class MemoryStateStore final : public StateStore {
 public:
  Result<std::optional<std::string>> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value) override;
  void erase(std::string_view key) override;
  Result<std::vector<std::pair<std::string, std::string>>> scan(std::string_view start,
                                                                std::string_view end,
                                                                size_t limit) override;
  const std::map<std::string, std::string, std::less<>>& contents() const { return map_; }
  std::map<std::string, std::string, std::less<>>& contents() { return map_; }

 private:
  std::map<std::string, std::string, std::less<>> map_;
};

}  // namespace tessera::bucket
