#include "protect/stripe_geometry.h"

#include <fmt/format.h>

namespace tessera {

std::string StripeGeometry::scheme() const {
  return fmt::format("{}+{}", data_columns, parity_columns);
}

Status StripeGeometry::validate() const {
  if (data_columns < kMinDataColumns || data_columns > kMaxDataColumns) {
    return error(StatusCode::kInvalidArgument, "data columns (K) must be {} to {}, not {}",
                 kMinDataColumns, kMaxDataColumns, data_columns);
  }
  if (parity_columns != 2 && parity_columns != 4) {
    return error(StatusCode::kInvalidArgument, "parity columns (M) must be 2 or 4, not {}",
                 parity_columns);
  }
  if (column_blocks == 0 || column_blocks > kMaxColumnBlocks) {
    return error(StatusCode::kInvalidArgument, "a column must be 1 to {} blocks, not {}",
                 kMaxColumnBlocks, column_blocks);
  }
  return Status();
}

}  // namespace tessera
