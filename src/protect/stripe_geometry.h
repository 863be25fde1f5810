// StripeGeometry: the shape of a stripe. K data columns and M parity columns, each `column_blocks`
// blocks of 4 KiB, so a stripe holds K * column_blocks * 4 KiB of data.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "base/units.h"

namespace tessera {

// Limits of the protection schemes Tessera offers (docs/architecture.md, section 5.1).
inline constexpr int kMinDataColumns = 3;
inline constexpr int kMaxDataColumns = 16;
inline constexpr uint32_t kMaxColumnBlocks = 1024;  // 4 MiB per column.

struct StripeGeometry {
  int data_columns = 5;    // K
  int parity_columns = 2;  // M
  uint32_t column_blocks = 256;

  int width() const { return data_columns + parity_columns; }
  uint64_t column_bytes() const { return uint64_t{column_blocks} * kBlockSize; }
  uint64_t data_bytes() const { return column_bytes() * data_columns; }
  // "5+2".
  std::string scheme() const;

  // OK if 3 <= K <= 16, M is 2 or 4 and 1 <= column_blocks <= 1024; otherwise kInvalidArgument
  // saying which rule is broken.
  Status validate() const;

  friend bool operator==(const StripeGeometry&, const StripeGeometry&) = default;
};

}  // namespace tessera
