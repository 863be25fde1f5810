#include "protect/erasure_code.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>

#include "base/block_checksums.h"
#include "base/units.h"
#include "protect/stripe_geometry.h"
#include "testing/testing.h"

namespace tessera {
namespace {

// GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), multiplied bit by bit: a slow
// reference that shares no code with ISA-L.
uint8_t slow_mul(uint8_t a, uint8_t b) {
  uint8_t product = 0;
  while (b != 0) {
    if (b & 1) product ^= a;
    bool carry = a & 0x80;
    a = static_cast<uint8_t>(a << 1);
    if (carry) a ^= 0x1d;
    b >>= 1;
  }
  return product;
}

uint8_t slow_inverse(uint8_t a) {
  for (int b = 1; b < 256; ++b) {
    if (slow_mul(a, static_cast<uint8_t>(b)) == 1) return static_cast<uint8_t>(b);
  }
  return 0;
}

// Parity by the definition: row i of a Cauchy matrix is 1 / (i XOR j) for data column j.
std::vector<std::vector<std::byte>> slow_parity(const std::vector<std::vector<std::byte>>& data,
                                                int m) {
  int k = static_cast<int>(data.size());
  std::vector<std::vector<std::byte>> parity(m, std::vector<std::byte>(data[0].size()));
  for (int p = 0; p < m; ++p) {
    for (int j = 0; j < k; ++j) {
      uint8_t coefficient = slow_inverse(static_cast<uint8_t>((k + p) ^ j));
      for (size_t b = 0; b < data[j].size(); ++b) {
        parity[p][b] ^= std::byte{slow_mul(coefficient, static_cast<uint8_t>(data[j][b]))};
      }
    }
  }
  return parity;
}

struct Stripe {
  std::vector<std::vector<std::byte>> columns;  // K data, then M parity
  std::vector<std::byte*> pointers() {
    std::vector<std::byte*> out;
    for (auto& c : columns) out.push_back(c.data());
    return out;
  }
};

Stripe encoded_stripe(const ErasureCode& code, size_t bytes, uint64_t seed) {
  std::mt19937_64 random(seed);
  Stripe stripe;
  stripe.columns.assign(code.width(), std::vector<std::byte>(bytes));
  for (int i = 0; i < code.data_columns(); ++i) {
    for (auto& b : stripe.columns[i]) b = std::byte(random());
  }
  auto pointers = stripe.pointers();
  std::vector<const std::byte*> data(pointers.begin(), pointers.begin() + code.data_columns());
  code.encode(data, std::span(pointers).subspan(code.data_columns()), bytes);
  return stripe;
}

TEST(ErasureCodeTest, ParityMatchesSlowReference) {
  for (auto [k, m] : {std::pair{3, 2}, {5, 2}, {8, 2}, {10, 4}, {16, 4}}) {
    auto code = ErasureCode::create(k, m);
    ASSERT_OK(code);
    Stripe stripe = encoded_stripe(*code, 512, k * 100 + m);
    std::vector<std::vector<std::byte>> data(stripe.columns.begin(), stripe.columns.begin() + k);
    auto expected = slow_parity(data, m);
    for (int p = 0; p < m; ++p) {
      EXPECT_EQ(stripe.columns[k + p], expected[p]) << k << "+" << m << " parity " << p;
    }
  }
}

// Calls `visit` with every set of 1..m distinct column indexes out of `width`.
template <typename Visit>
void for_each_erasure(int width, int m, Visit visit) {
  std::vector<int> chosen;
  auto recurse = [&](auto& self, int next) -> void {
    if (!chosen.empty()) visit(chosen);
    if (static_cast<int>(chosen.size()) == m) return;
    for (int c = next; c < width; ++c) {
      chosen.push_back(c);
      self(self, c + 1);
      chosen.pop_back();
    }
  };
  recurse(recurse, 0);
}

TEST(ErasureCodeTest, EveryErasurePatternReconstructs) {
  for (auto [scheme_k, scheme_m] :
       {std::pair{3, 2}, {4, 2}, {5, 2}, {8, 2}, {16, 2}, {3, 4}, {6, 4}, {16, 4}}) {
    const int k = scheme_k, m = scheme_m;  // Lambdas cannot capture structured bindings in C++20.
    auto code = ErasureCode::create(k, m);
    ASSERT_OK(code);
    const Stripe original = encoded_stripe(*code, 2 * kBlockSize, 7 * k + m);
    int patterns = 0;
    for_each_erasure(k + m, m, [&](const std::vector<int>& missing) {
      Stripe damaged = original;
      for (int c : missing) std::memset(damaged.columns[c].data(), 0xEE, damaged.columns[c].size());
      auto pointers = damaged.pointers();
      ASSERT_OK(code->reconstruct(pointers, missing, 2 * kBlockSize));
      for (int c : missing) {
        ASSERT_EQ(damaged.columns[c], original.columns[c]) << k << "+" << m << " column " << c;
      }
      ++patterns;
    });
    // sum over j=1..m of C(k+m, j)
    int expected = 0;
    for (int j = 1, c = 1; j <= m; ++j) {
      c = c * (k + m - j + 1) / j;
      expected += c;
    }
    EXPECT_EQ(patterns, expected) << k << "+" << m;
  }
}

TEST(ErasureCodeTest, RandomSchemesAndLengthsAgainstReference) {
  std::mt19937_64 random(2026);
  for (int round = 0; round < 40; ++round) {
    int k = 3 + static_cast<int>(random() % 14);
    int m = random() % 2 == 0 ? 2 : 4;
    size_t bytes = 1 + random() % 3000;  // Any length, not only whole blocks.
    auto code = ErasureCode::create(k, m);
    ASSERT_OK(code);
    Stripe stripe = encoded_stripe(*code, bytes, random());
    std::vector<std::vector<std::byte>> data(stripe.columns.begin(), stripe.columns.begin() + k);
    auto expected = slow_parity(data, m);
    for (int p = 0; p < m; ++p) ASSERT_EQ(stripe.columns[k + p], expected[p]);
    std::vector<int> all(k + m);
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), random);
    auto lost = static_cast<std::ptrdiff_t>(1 + random() % m);
    std::vector<int> missing(all.begin(), all.begin() + lost);
    Stripe damaged = stripe;
    for (int c : missing)
      std::fill(damaged.columns[c].begin(), damaged.columns[c].end(), std::byte{0});
    auto pointers = damaged.pointers();
    ASSERT_OK(code->reconstruct(pointers, missing, bytes));
    for (int c : missing) ASSERT_EQ(damaged.columns[c], stripe.columns[c]);
  }
}

TEST(ErasureCodeTest, RefusesImpossibleRequests) {
  EXPECT_EQ(ErasureCode::create(0, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ErasureCode::create(4, 9).status().code(), StatusCode::kInvalidArgument);
  auto code = ErasureCode::create(4, 2);
  ASSERT_OK(code);
  Stripe stripe = encoded_stripe(*code, 64, 1);
  auto pointers = stripe.pointers();
  std::vector<int> three = {0, 1, 2};
  EXPECT_EQ(code->reconstruct(pointers, three, 64).code(), StatusCode::kInvalidArgument);
  std::vector<int> repeated = {1, 1};
  EXPECT_EQ(code->reconstruct(pointers, repeated, 64).code(), StatusCode::kInvalidArgument);
  std::vector<int> outside = {6};
  EXPECT_EQ(code->reconstruct(pointers, outside, 64).code(), StatusCode::kInvalidArgument);
}

TEST(StripeGeometryTest, Rules) {
  EXPECT_OK((StripeGeometry{5, 2, 256}.validate()));
  EXPECT_OK((StripeGeometry{16, 4, 1}.validate()));
  EXPECT_OK((StripeGeometry{3, 2, 1024}.validate()));
  EXPECT_EQ((StripeGeometry{2, 2, 256}.validate().code()), StatusCode::kInvalidArgument);
  EXPECT_EQ((StripeGeometry{17, 2, 256}.validate().code()), StatusCode::kInvalidArgument);
  EXPECT_EQ((StripeGeometry{5, 3, 256}.validate().code()), StatusCode::kInvalidArgument);
  EXPECT_EQ((StripeGeometry{5, 2, 0}.validate().code()), StatusCode::kInvalidArgument);
  EXPECT_EQ((StripeGeometry{5, 2, 1025}.validate().code()), StatusCode::kInvalidArgument);
  StripeGeometry g{8, 2, 256};
  EXPECT_EQ(g.scheme(), "8+2");
  EXPECT_EQ(g.width(), 10);
  EXPECT_EQ(g.data_bytes(), 8 * kMiB);
}

TEST(BlockChecksumsTest, DetectsAndNamesTheBadBlock) {
  std::vector<std::byte> column(4 * kBlockSize);
  for (size_t i = 0; i < column.size(); ++i) column[i] = std::byte(i * 31);
  auto crcs = block_checksums(column);
  ASSERT_EQ(crcs.size(), 4u);
  EXPECT_OK(verify_block_checksums(column, crcs));
  column[2 * kBlockSize + 100] ^= std::byte{0x01};
  Status bad = verify_block_checksums(column, crcs, /*first_block=*/10);
  EXPECT_EQ(bad.code(), StatusCode::kCorruption);
  EXPECT_NE(bad.message().find("block 12"), std::string_view::npos) << bad;
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(ErasureCodeTest, OnePlanServesManyStripes) {
  auto code = ErasureCode::create(8, 2);
  ASSERT_OK(code);
  std::vector<int> missing = {3, 9};
  auto plan = code->plan_reconstruct(missing);
  ASSERT_OK(plan);
  EXPECT_EQ(plan->missing(), missing);
  for (uint64_t seed = 0; seed < 5; ++seed) {
    const Stripe original = encoded_stripe(*code, kBlockSize, seed);
    Stripe damaged = original;
    for (int c : missing)
      std::fill(damaged.columns[c].begin(), damaged.columns[c].end(), std::byte{0});
    auto pointers = damaged.pointers();
    plan->apply(pointers, kBlockSize);
    for (int c : missing) ASSERT_EQ(damaged.columns[c], original.columns[c]) << seed;
  }
  std::vector<int> too_many = {0, 1, 2};
  EXPECT_EQ(code->plan_reconstruct(too_many).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera
