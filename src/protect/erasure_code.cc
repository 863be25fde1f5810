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
      generator_(static_cast<size_t>(k + m) * static_cast<size_t>(k)),
      encode_tables_(kTableBytesPerCoefficient * static_cast<size_t>(k) * static_cast<size_t>(m)) {
  gf_gen_cauchy1_matrix(generator_.data(), k + m, k);
  ec_init_tables(k, m, generator_.data() + static_cast<size_t>(k) * static_cast<size_t>(k),
                 encode_tables_.data());
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

Result<DecodePlan> ErasureCode::plan_reconstruct(std::span<const int> missing) const {
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
  const auto k = static_cast<size_t>(k_);
  DecodePlan plan;
  plan.k_ = k_;
  plan.width_ = width();
  plan.missing_.assign(missing.begin(), missing.end());
  // The first K surviving columns and the rows of the generator that produced them.
  std::vector<unsigned char> survivor_rows(k * k);
  for (size_t column = 0; plan.survivors_.size() < k; ++column) {
    if (is_missing[column]) continue;
    std::copy_n(&generator_[column * k], k, &survivor_rows[plan.survivors_.size() * k]);
    plan.survivors_.push_back(static_cast<int>(column));
  }
  std::vector<unsigned char> inverse(k * k);
  int singular = gf_invert_matrix(survivor_rows.data(), inverse.data(), k_);
  TESS_ASSERT(singular == 0, "a Cauchy submatrix of {}+{} was singular", k_, m_);
  // Row for a missing column: (its generator row) x inverse, i.e. how to get it from survivors.
  std::vector<unsigned char> decode_rows(missing.size() * k);
  for (size_t i = 0; i < missing.size(); ++i) {
    const unsigned char* row = &generator_[static_cast<size_t>(missing[i]) * k];
    for (size_t j = 0; j < k; ++j) {
      unsigned char sum = 0;
      for (size_t l = 0; l < k; ++l) sum ^= gf_mul(row[l], inverse[l * k + j]);
      decode_rows[i * k + j] = sum;
    }
  }
  plan.tables_.resize(kTableBytesPerCoefficient * k * missing.size());
  if (!missing.empty()) {
    ec_init_tables(k_, static_cast<int>(missing.size()), decode_rows.data(), plan.tables_.data());
  }
  return plan;
}

Status ErasureCode::reconstruct(std::span<std::byte* const> columns, std::span<const int> missing,
                                size_t column_bytes) const {
  TESS_ASSIGN_OR_RETURN(DecodePlan plan, plan_reconstruct(missing));
  plan.apply(columns, column_bytes);
  return Status();
}

void DecodePlan::apply(std::span<std::byte* const> columns, size_t column_bytes) const {
  TESS_ASSERT(columns.size() == static_cast<size_t>(width_), "plan for {} columns given {}", width_,
              columns.size());
  if (missing_.empty()) return;
  std::array<unsigned char*, kMaxData> inputs{};
  std::array<unsigned char*, kMaxParity> outputs{};
  for (int i = 0; i < k_; ++i) inputs[i] = bytes(columns[survivors_[i]]);
  for (size_t i = 0; i < missing_.size(); ++i) outputs[i] = bytes(columns[missing_[i]]);
  ec_encode_data(static_cast<int>(column_bytes), k_, static_cast<int>(missing_.size()),
                 const_cast<unsigned char*>(tables_.data()), inputs.data(), outputs.data());
}

}  // namespace tessera
