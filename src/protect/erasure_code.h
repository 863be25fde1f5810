// ErasureCode: Reed-Solomon over GF(2^8) for one protection scheme (K data + M parity columns),
// computed by ISA-L with a Cauchy generator matrix, so that any K of the K+M columns reconstruct
// the others. Columns are byte ranges of equal length; the code works byte-wise, so a column can be
// a whole chunk or any block range of it (the same rows of every column).
//
// Immutable after create(); thread-safe. encode() and reconstruct() do not allocate beyond a few
// hundred bytes of tables (reconstruct) and never touch memory outside the given columns.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <vector>

#include "base/status.h"

namespace tessera {

// How to rebuild one set of missing columns: the decoding tables, computed once and applied to
// any number of stripes or row ranges with the same columns missing (a rebuild meets the same few
// patterns over and over). Immutable; thread-safe.
class DecodePlan {
 public:
  const std::vector<int>& missing() const { return missing_; }
  // Recomputes the missing columns of one stripe. `columns` holds all K+M column pointers; the
  // missing ones are outputs, and K of the others (the first K not missing) are read.
  // REQUIRES: columns.size() == K+M of the code that made the plan.
  void apply(std::span<std::byte* const> columns, size_t column_bytes) const;

 private:
  friend class ErasureCode;
  int k_ = 0;
  int width_ = 0;
  std::vector<int> missing_;
  std::vector<int> survivors_;         // The K columns read, in order.
  std::vector<unsigned char> tables_;  // ISA-L expanded tables, missing x K coefficients.
};

class ErasureCode {
 public:
  // REQUIRES nothing; returns kInvalidArgument unless 1 <= K <= 32 and 1 <= M <= 8 (the cluster's
  // schemes are further limited by StripeGeometry::validate()).
  static Result<ErasureCode> create(int data_columns, int parity_columns);

  int data_columns() const { return k_; }
  int parity_columns() const { return m_; }
  int width() const { return k_ + m_; }

  // Computes the M parity columns from the K data columns, `column_bytes` each.
  // REQUIRES: data.size() == K, parity.size() == M, all columns column_bytes long.
  void encode(std::span<const std::byte* const> data, std::span<std::byte* const> parity,
              size_t column_bytes) const;

  // The plan to recompute the columns listed in `missing` (indexes 0..K+M-1: data first, then
  // parity). kInvalidArgument if more than M are missing or an index is out of range or repeated.
  Result<DecodePlan> plan_reconstruct(std::span<const int> missing) const;

  // plan_reconstruct(missing) applied once: recomputes the missing columns of one stripe.
  Status reconstruct(std::span<std::byte* const> columns, std::span<const int> missing,
                     size_t column_bytes) const;

  // The (K+M) x K generator matrix, row-major; the top K rows are the identity.
  std::span<const unsigned char> generator() const { return generator_; }

 private:
  ErasureCode(int k, int m);

  int k_;
  int m_;
  std::vector<unsigned char> generator_;      // (K+M) x K
  std::vector<unsigned char> encode_tables_;  // ISA-L expanded tables for the parity rows
};

}  // namespace tessera
