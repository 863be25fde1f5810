#include "cli/size.h"

#include <fmt/format.h>

#include <array>
#include <limits>
#include <numeric>
#include <utility>

namespace tessera::cli {

namespace {

// Each unit and how many bytes it is.
const std::array<std::pair<std::string_view, uint64_t>, 16>& units() {
  constexpr uint64_t kKi = 1024;
  constexpr uint64_t kK = 1000;
  static const std::array<std::pair<std::string_view, uint64_t>, 16> table = {{
      {"B", 1},
      {"K", kKi},
      {"M", kKi * kKi},
      {"G", kKi * kKi * kKi},
      {"T", kKi * kKi * kKi * kKi},
      {"P", kKi * kKi * kKi * kKi * kKi},
      {"KiB", kKi},
      {"MiB", kKi * kKi},
      {"GiB", kKi * kKi * kKi},
      {"TiB", kKi * kKi * kKi * kKi},
      {"PiB", kKi * kKi * kKi * kKi * kKi},
      {"KB", kK},
      {"MB", kK * kK},
      {"GB", kK * kK * kK},
      {"TB", kK * kK * kK * kK},
      {"PB", kK * kK * kK * kK * kK},
  }};
  return table;
}

Status not_a_size(std::string_view text, std::string_view why) {
  return error(StatusCode::kInvalidArgument,
               "'{}' is not a size ({}): write a number and a unit, e.g. 500G, 10GiB, 1.5TiB, 2TB "
               "(K M G T P and KiB to PiB are powers of 1024, KB to PB of 1000; none or B: bytes)",
               text.substr(0, 32), why);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  // 10^18 still fits: a fraction of up to 18 digits is exact.
  constexpr size_t kMaxFractionDigits = 18;
  size_t at = 0;
  uint64_t whole = 0;
  bool overflow = false;
  while (at < text.size() && is_digit(text[at])) {
    overflow = overflow || __builtin_mul_overflow(whole, 10, &whole) ||
               __builtin_add_overflow(whole, static_cast<uint64_t>(text[at] - '0'), &whole);
    ++at;
  }
  if (at == 0) return not_a_size(text, "it does not start with a digit");
  uint64_t fraction = 0;
  uint64_t scale = 1;  // 10^(digits of the fraction)
  if (at < text.size() && text[at] == '.') {
    size_t first = ++at;
    while (at < text.size() && is_digit(text[at])) {
      if (at - first >= kMaxFractionDigits)
        return not_a_size(text, "too many digits after the '.'");
      fraction = fraction * 10 + static_cast<uint64_t>(text[at++] - '0');
      scale *= 10;
    }
    if (at == first) return not_a_size(text, "no digit after the '.'");
  }
  std::string_view unit = text.substr(at);
  uint64_t multiplier = unit.empty() ? 1 : 0;
  for (const auto& [name, bytes] : units()) {
    if (unit == name) multiplier = bytes;
  }
  if (multiplier == 0) {
    return not_a_size(text, fmt::format("'{}' is not a unit", unit.substr(0, 8)));
  }
  // fraction / scale of the unit, exactly: with g = gcd(fraction, scale), the bytes are whole only
  // if the unit is a multiple of scale / g, and then they are fraction / g * (unit / (scale / g)),
  // below one unit (no overflow).
  uint64_t g = std::gcd(fraction, scale);
  uint64_t denominator = scale / g;
  if (multiplier % denominator != 0) return not_a_size(text, "not a whole number of bytes");
  uint64_t fraction_bytes = fraction / g * (multiplier / denominator);
  uint64_t value = 0;
  overflow = overflow || __builtin_mul_overflow(whole, multiplier, &value) ||
             __builtin_add_overflow(value, fraction_bytes, &value);
  if (overflow || value > kMax) return not_a_size(text, "more than 2^64 - 1 bytes");
  return value;
}

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double scaled = static_cast<double>(bytes);
  int unit = 0;
  while (scaled >= 1024 && unit < 6) {
    scaled /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", scaled, units[unit]);
}

}  // namespace tessera::cli
