#include "protect/erasure_code.h"

#include <isa-l/erasure_code.h>

#include <algorithm>

namespace tessera {

namespace {
constexpr int kMaxData = 32;
constexpr int kMaxParity = 8;
// ISA-L's expanded multiplication tables take 32 bytes per matrix coefficient.
constexpr size_t kTableBytesPerCoefficient = 32;

unsigned char* bytes(const std::byte* p) {
  return reinterpret_cast<unsigned char*>(const_cast<std::byte*>(p));
}
}  // namespace

Result<ErasureCode> ErasureCode::create(int data_columns, int parity_columns) {
  if (data_columns < 1 || data_columns > kMaxData || parity_columns < 1 ||
      parity_columns > kMaxParity) {
    return error(StatusCode::kInvalidArgument, "unsupported erasure code {}+{} (K 1..{}, M 1..{})",
                 data_columns, parity_columns, kMaxData, kMaxParity);
  }
  return ErasureCode(data_columns, parity_columns);
}

ErasureCode::ErasureCode(int k, int m)
    : k_(k),
      m_(m),
      generator_(static_cast<size_t>((k + m) * k)),
      encode_tables_(kTableBytesPerCoefficient * k * m) {
  gf_gen_cauchy1_matrix(generator_.data(), k + m, k);
  ec_init_tables(k, m, generator_.data() + k * k, encode_tables_.data());
}

void ErasureCode::encode(std::span<const std::byte* const> data, std::span<std::byte* const> parity,
                         size_t column_bytes) const {
  TESS_ASSERT(data.size() == static_cast<size_t>(k_) && parity.size() == static_cast<size_t>(m_),
              "encode of {}+{} given {} data and {} parity columns", k_, m_, data.size(),
              parity.size());
  std::array<unsigned char*, kMaxData> in{};
  std::array<unsigned char*, kMaxParity> out{};
  for (int i = 0; i < k_; ++i) in[i] = bytes(data[i]);
  for (int i = 0; i < m_; ++i) out[i] = bytes(parity[i]);
  ec_encode_data(static_cast<int>(column_bytes), k_, m_,
                 const_cast<unsigned char*>(encode_tables_.data()), in.data(), out.data());
}

Status ErasureCode::reconstruct(std::span<std::byte* const> columns, std::span<const int> missing,
                                size_t column_bytes) const {
  TESS_ASSERT(columns.size() == static_cast<size_t>(width()), "reconstruct given {} columns of {}",
              columns.size(), width());
  if (missing.empty()) return Status();
  if (missing.size() > static_cast<size_t>(m_)) {
    return error(StatusCode::kInvalidArgument, "{} columns missing, {}+{} recovers at most {}",
                 missing.size(), k_, m_, m_);
  }
  std::array<bool, kMaxData + kMaxParity> is_missing{};
  for (int index : missing) {
    if (index < 0 || index >= width() || is_missing[index]) {
      return error(StatusCode::kInvalidArgument, "bad or repeated missing column {}", index);
    }
    is_missing[index] = true;
  }
  // The first K surviving columns and the rows of the generator that produced them.
  std::array<unsigned char*, kMaxData> survivors{};
  std::vector<unsigned char> survivor_rows(static_cast<size_t>(k_ * k_));
  for (int column = 0, found = 0; found < k_; ++column) {
    if (is_missing[column]) continue;
    survivors[found] = bytes(columns[column]);
    std::copy_n(generator_.begin() + column * k_, k_, survivor_rows.begin() + found * k_);
    ++found;
  }
  std::vector<unsigned char> inverse(static_cast<size_t>(k_ * k_));
  int singular = gf_invert_matrix(survivor_rows.data(), inverse.data(), k_);
  TESS_ASSERT(singular == 0, "a Cauchy submatrix of {}+{} was singular", k_, m_);
  // Row for a missing column: (its generator row) x inverse, i.e. how to get it from survivors.
  size_t count = missing.size();
  std::vector<unsigned char> decode_rows(count * k_);
  std::array<unsigned char*, kMaxParity> outputs{};
  for (size_t i = 0; i < count; ++i) {
    int column = missing[i];
    outputs[i] = bytes(columns[column]);
    for (int j = 0; j < k_; ++j) {
      unsigned char sum = 0;
      for (int l = 0; l < k_; ++l) {
        sum ^= gf_mul(generator_[column * k_ + l], inverse[l * k_ + j]);
      }
      decode_rows[i * k_ + j] = sum;
    }
  }
  std::vector<unsigned char> tables(kTableBytesPerCoefficient * k_ * count);
  ec_init_tables(k_, static_cast<int>(count), decode_rows.data(), tables.data());
  ec_encode_data(static_cast<int>(column_bytes), k_, static_cast<int>(count), tables.data(),
                 survivors.data(), outputs.data());
  return Status();
}

}  // namespace tessera
