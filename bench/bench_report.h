// Output helpers shared by the benchmarks: a human line per figure, then one JSON line last.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>
#include <vector>

namespace tessera::bench {

class Report {
 public:
  explicit Report(std::string name) : name_(std::move(name)) {}
  // Records a figure under `key` (units last, e.g. "payload_1mib_mib_per_s") and prints it.
  void add(const std::string& key, double value, const std::string& description) {
    fmt::print("  {:<44} {:>14.2f}   {}\n", key, value, description);
    figures_.emplace_back(key, value);
  }
  // Prints {"bench": name, key: value, ...} on one line.
  void print_json() const {
    std::string line = fmt::format("{{\"bench\": \"{}\"", name_);
    for (const auto& [key, value] : figures_) line += fmt::format(", \"{}\": {:.4g}", key, value);
    fmt::print("{}}}\n", line);
  }

 private:
  std::string name_;
  std::vector<std::pair<std::string, double>> figures_;
};

}  // namespace tessera::bench
