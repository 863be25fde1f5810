#include "cluster/parse.h"

#include <charconv>

namespace tessera {

namespace {

template <typename T>
Result<T> parse_whole(std::string_view text, std::string_view what) {
  T value{};
  const char* end = text.data() + text.size();
  auto [stop, failure] = std::from_chars(text.data(), end, value);
  if (text.empty() || failure != std::errc() || stop != end) {
    return error(StatusCode::kCorruption, "{} is not a decimal number in range: '{}'", what,
                 text.substr(0, 64));
  }
  return value;
}

}  // namespace

Result<uint64_t> parse_u64(std::string_view text, std::string_view what) {
  return parse_whole<uint64_t>(text, what);
}

Result<uint32_t> parse_u32(std::string_view text, std::string_view what) {
  return parse_whole<uint32_t>(text, what);
}

Result<int64_t> parse_i64(std::string_view text, std::string_view what) {
  return parse_whole<int64_t>(text, what);
}

}  // namespace tessera
