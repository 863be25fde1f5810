// ec_bench: erasure coding through Tessera's API next to the raw ISA-L calls, measured in the same
// run, and placement decisions per second.
//
//   ec_bench [--column-kib N] [--seconds S]
//
// Encode: K data columns -> M parity columns. Reconstruct: the first M data columns lost, rebuilt
// from the next K survivors, through a DecodePlan made once (as rebuild reuses plans) next to the
// raw call with tables computed once; the one-shot reconstruct() (plan made on every call, as a
// single degraded read does) is shown too. Throughput counts the K data columns of a stripe.
// Placement: Placement::choose() of a 5+2 stripe on clusters of 100 and 10,000 drives (one drive
// per failure domain).
#include <isa-l/erasure_code.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/units.h"
#include "bench/bench_report.h"
#include "placement/placement.h"
#include "protect/erasure_code.h"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `body` repeatedly for about `seconds`; returns calls per second, best of three rounds.
template <typename Body>
double rate(double seconds, Body body) {
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    uint64_t calls = 0;
    auto start = Clock::now();
    double elapsed = 0;
    while (elapsed < seconds / 3) {
      for (int i = 0; i < 16; ++i) body();
      calls += 16;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    best = std::max(best, static_cast<double>(calls) / elapsed);
  }
  return best;
}

struct Columns {
  std::vector<std::vector<std::byte>> storage;
  std::vector<std::byte*> pointers;
  Columns(size_t count, size_t bytes) : storage(count, std::vector<std::byte>(bytes)) {
    std::mt19937_64 random(count);
    for (auto& column : storage) {
      for (auto& b : column) b = std::byte(random());
      pointers.push_back(column.data());
    }
  }
  unsigned char** raw() { return reinterpret_cast<unsigned char**>(pointers.data()); }
};

struct SchemeFigures {
  double encode_ratio;
  double reconstruct_ratio;
};

SchemeFigures bench_scheme(size_t k, size_t m, size_t column_bytes, double seconds,
                           bench::Report& report) {
  const int ki = static_cast<int>(k), mi = static_cast<int>(m),
            len = static_cast<int>(column_bytes);
  auto code = ErasureCode::create(ki, mi);
  TESS_ASSERT(code.ok(), "{}", code.status());
  Columns columns(k + m, column_bytes);
  const double stripe_gb = static_cast<double>(k * column_bytes) / 1e9;
  std::vector<const std::byte*> data(columns.pointers.begin(),
                                     columns.pointers.begin() + static_cast<std::ptrdiff_t>(k));
  std::span<std::byte* const> parity(columns.pointers.data() + k, m);

  double ours_encode = rate(seconds, [&] { code->encode(data, parity, column_bytes); }) * stripe_gb;
  std::vector<unsigned char> tables(32 * k * m);
  std::vector<unsigned char> generator(code->generator().begin(), code->generator().end());
  ec_init_tables(ki, mi, generator.data() + k * k, tables.data());
  double raw_encode =
      rate(seconds,
           [&] { ec_encode_data(len, ki, mi, tables.data(), columns.raw(), columns.raw() + k); }) *
      stripe_gb;

  // Lose the first m data columns; survivors are columns m .. m+k-1.
  std::vector<int> missing(m);
  for (size_t i = 0; i < m; ++i) missing[i] = static_cast<int>(i);
  auto plan = code->plan_reconstruct(missing);
  TESS_ASSERT(plan.ok(), "{}", plan.status());
  double ours_rebuild =
      rate(seconds, [&] { plan->apply(columns.pointers, column_bytes); }) * stripe_gb;
  double one_shot = rate(seconds,
                         [&] {
                           Status s = code->reconstruct(columns.pointers, missing, column_bytes);
                           TESS_ASSERT(s.ok(), "{}", s);
                         }) *
                    stripe_gb;
  std::vector<unsigned char> survivor_rows(k * k), inverse(k * k), decode(m * k);
  for (size_t r = 0; r < k; ++r) {
    std::memcpy(&survivor_rows[r * k], &generator[(m + r) * k], k);
  }
  gf_invert_matrix(survivor_rows.data(), inverse.data(), ki);
  for (size_t i = 0; i < m; ++i) std::memcpy(&decode[i * k], &inverse[i * k], k);  // Data rows.
  std::vector<unsigned char> decode_tables(32 * k * m);
  ec_init_tables(ki, mi, decode.data(), decode_tables.data());
  double raw_rebuild =
      rate(seconds,
           [&] {
             ec_encode_data(len, ki, mi, decode_tables.data(), columns.raw() + m, columns.raw());
           }) *
      stripe_gb;

  std::string scheme = fmt::format("{}p{}", k, m);
  report.add("encode_" + scheme + "_gb_per_s", ours_encode, "ours");
  report.add("encode_" + scheme + "_raw_gb_per_s", raw_encode, "raw ec_encode_data");
  report.add("encode_" + scheme + "_ratio", ours_encode / raw_encode, "ours / raw (aim >= 0.9)");
  report.add("reconstruct_" + scheme + "_gb_per_s", ours_rebuild, "ours, DecodePlan reused");
  report.add("reconstruct_" + scheme + "_raw_gb_per_s", raw_rebuild, "raw, tables precomputed");
  report.add("reconstruct_" + scheme + "_ratio", ours_rebuild / raw_rebuild,
             "ours / raw (aim >= 0.9)");
  report.add("reconstruct_" + scheme + "_one_shot_gb_per_s", one_shot,
             "ours, plan made on every call");
  return {ours_encode / raw_encode, ours_rebuild / raw_rebuild};
}

double placement_decisions_per_s(uint32_t drives, double seconds) {
  std::vector<DriveInfo> map;
  for (uint32_t d = 0; d < drives; ++d) {
    map.push_back(DriveInfo{DriveId(d + 1), HostId(d + 1), FailureDomainId(d + 1), 8 * kGiB});
  }
  auto placement = Placement::create(map, 7);
  TESS_ASSERT(placement.ok(), "{}", placement.status());
  std::vector<DriveId> out(7);
  uint64_t key = 0;
  return rate(seconds, [&] { placement->choose(key++, out); });
}

int run(size_t column_bytes, double seconds) {
  fmt::print("ec_bench: columns of {} KiB, about {:.1f} s per figure\n", column_bytes / kKiB,
             seconds);
  bench::Report report("ec");
  double encode_min = 1e9, reconstruct_min = 1e9;
  for (auto [k, m] : {std::pair<size_t, size_t>{4, 2}, {5, 2}, {8, 2}, {16, 4}}) {
    SchemeFigures f = bench_scheme(k, m, column_bytes, seconds, report);
    encode_min = std::min(encode_min, f.encode_ratio);
    reconstruct_min = std::min(reconstruct_min, f.reconstruct_ratio);
  }
  report.add("encode_ratio_min", encode_min, "lowest encode ratio over the schemes");
  report.add("reconstruct_ratio_min", reconstruct_min, "lowest reconstruct ratio");
  report.add("placement_100_drives_per_s", placement_decisions_per_s(100, seconds),
             "5+2 placement decisions per second, 100 drives");
  report.add("placement_10000_drives_per_s", placement_decisions_per_s(10000, seconds),
             "5+2 placement decisions per second, 10,000 drives");
  report.print_json();
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  size_t column_kib = 128;
  double seconds = 1.5;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--column-kib" && i + 1 < argc) {
      column_kib = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      fmt::print(stderr, "usage: ec_bench [--column-kib N] [--seconds S]\n");
      return arg == "--help" ? 0 : 2;
    }
  }
  if (column_kib == 0 || column_kib % 4 != 0 || seconds <= 0) {
    fmt::print(stderr, "ec_bench: --column-kib must be a positive multiple of 4, --seconds > 0\n");
    return 2;
  }
  return tessera::run(column_kib * tessera::kKiB, seconds);
}
