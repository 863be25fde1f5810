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

  // Recomputes the columns listed in `missing` (indexes 0..K+M-1: data first, then parity) from the
  // others. `columns` holds all K+M column pointers; those in `missing` are outputs, the rest
  // inputs (only K of them are read). Returns kInvalidArgument if more than M are missing or an
  // index is out of range or repeated.
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
