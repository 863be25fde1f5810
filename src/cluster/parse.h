// Decimal numbers read from etcd and from the network. They are input, not trusted: a malformed
// value is an error value (kCorruption, naming what was read), never an exception, so one bad key
// in etcd cannot terminate every tessd that reads it. std::from_chars underneath (std::sto* throw
// and are refused by `make lint`).
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"

namespace tessera {

// The whole of `text` as a number of the type; `what` names the value in the error.
Result<uint64_t> parse_u64(std::string_view text, std::string_view what);
Result<uint32_t> parse_u32(std::string_view text, std::string_view what);
Result<int64_t> parse_i64(std::string_view text, std::string_view what);

}  // namespace tessera
