// Sizes on the command line and in tables: "500G", "10GiB", "1.5TiB", "2TB", "4096".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tessera::cli {

// The number of bytes `text` names: digits, optionally a fraction ('.' and digits), then a unit
// with nothing between or after: none or "B" (bytes); "K" "M" "G" "T" "P" and "KiB" "MiB" "GiB"
// "TiB" "PiB" (powers of 1024, as truncate and dd read "G"); "KB" "MB" "GB" "TB" "PB" (powers of
// 1000). Units are case-sensitive. kInvalidArgument (naming the accepted forms) for anything else,
// for a value that is not a whole number of bytes ("0.5B"), or one above 2^64 - 1.
Result<uint64_t> parse_size(std::string_view text);

// "1.5 GiB", "512 B": one decimal, binary units, for a person.
std::string format_bytes(uint64_t bytes);

}  // namespace tessera::cli
