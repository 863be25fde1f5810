#include "cli/sim_placement.h"

#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "placement/simulator.h"

namespace tessera::cli {

namespace {

struct SimArgs {
  PlacementSimOptions options;
  bool sweep = false;
  bool json = false;
};

nlohmann::json to_json(const PlacementSimReport& r) {
  const PlacementSimOptions& o = r.options;
  return {{"backends", o.backends},
          {"drives_per_backend", o.drives_per_backend},
          {"failure_domains", r.failure_domains},
          {"drives", r.drives},
          {"data", o.data_columns},
          {"parity", o.parity_columns},
          {"stripes", o.stripes},
          {"added_backends", o.add_backends},
          {"movement_stripes", o.movement_stripes},
          {"fill_max_over_mean", r.fill_max_over_mean},
          {"fill_min_over_mean", r.fill_min_over_mean},
          {"moved_fraction", r.moved_fraction},
          {"ideal_moved_fraction", r.ideal_moved_fraction},
          {"moved_over_ideal", r.moved_fraction / r.ideal_moved_fraction},
          {"moved_to_new_fraction", r.moved_to_new_fraction},
          {"rebuild_population_stripes", o.rebuild_stripes},
          {"rebuild_stripes_affected", r.rebuild_stripes_affected},
          {"rebuild_readers", r.rebuild_readers},
          {"rebuild_writers", r.rebuild_writers},
          {"rebuild_participants", r.rebuild_participants},
          {"rebuild_participation", r.rebuild_participation},
          {"rebuild_read_max_over_mean", r.rebuild_read_max_over_mean},
          {"failed_domains", o.failed_domains},
          {"stripes_losing_2_domains", r.stripes_losing_2_domains},
          {"stripes_losing_3_domains", r.stripes_losing_3_domains},
          {"fraction_losing_2_domains", r.fraction_losing_2_domains},
          {"fraction_losing_3_domains", r.fraction_losing_3_domains},
          {"expected_fraction_losing_3_domains", r.expected_fraction_losing_3_domains},
          {"data_loss_stripes_3_failures", r.data_loss_stripes_3_failures},
          {"seconds", r.seconds}};
}

void print_report(const PlacementSimReport& r) {
  const PlacementSimOptions& o = r.options;
  uint32_t surviving = o.backends - 1;
  fmt::print("Placement of {} stripes ({}+{}) on {} backends: {} failure domains, {} drives\n",
             o.stripes, o.data_columns, o.parity_columns, o.backends, r.failure_domains, r.drives);
  fmt::print("  fill balance      fullest drive {:.3f} x the mean, emptiest {:.3f} x\n",
             r.fill_max_over_mean, r.fill_min_over_mean);
  fmt::print(
      "  adding {:<10} {:.2f}% of columns move (ideal {:.2f}%, {:.3f} x ideal); "
      "{:.1f}% of them onto the new backends (over {} stripes)\n",
      o.add_backends, 100 * r.moved_fraction, 100 * r.ideal_moved_fraction,
      r.moved_fraction / r.ideal_moved_fraction, 100 * r.moved_to_new_fraction, o.movement_stripes);
  fmt::print(
      "  backend 0 fails   {} of its stripes rebuilt by {} of {} surviving backends "
      "({:.2f}%): {} read, {} write;\n"
      "                    the busiest reader reads {:.2f} x the mean "
      "(population {} stripes)\n",
      r.rebuild_stripes_affected, r.rebuild_participants, surviving, 100 * r.rebuild_participation,
      r.rebuild_readers, r.rebuild_writers, r.rebuild_read_max_over_mean, o.rebuild_stripes);
  auto loss = [&](uint64_t stripes, int lost) {
    return stripes > 0 && o.parity_columns < lost ? ", which lose data" : "";
  };
  const auto& failed = o.failed_domains;
  fmt::print("  {:<17} {} stripes ({:.2e} of all) lose 2 columns{}\n",
             fmt::format("domains {},{} fail", failed[0], failed[1]), r.stripes_losing_2_domains,
             r.fraction_losing_2_domains, loss(r.stripes_losing_2_domains, 2));
  fmt::print("  {:<17} {} stripes ({:.2e} of all; expected {:.2e}) lose 3 columns{}\n",
             fmt::format("and {} too", failed[2]), r.stripes_losing_3_domains,
             r.fraction_losing_3_domains, r.expected_fraction_losing_3_domains,
             loss(r.stripes_losing_3_domains, 3));
  fmt::print("  took {:.1f} s\n", r.seconds);
}

Status run_single(const SimArgs& args) {
  TESS_ASSIGN_OR_RETURN(PlacementSimReport report, simulate_placement(args.options));
  if (args.json) {
    fmt::print("{}\n", to_json(report).dump());
  } else {
    print_report(report);
  }
  return Status();
}

Status run_sweep(const SimArgs& args) {
  static constexpr uint32_t kSizes[] = {10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
  if (!args.json) {
    fmt::print("{:>8} {:>9} {:>6} {:>8} {:>8} {:>7} {:>9} {:>8} {:>10} {:>10} {:>6}\n", "backends",
               "stripes", "fill", "moved%", "ideal%", "x_ideal", "rebuild%", "read_max", "p3_seen",
               "p3_exact", "secs");
  }
  int width = args.options.data_columns + args.options.parity_columns;
  for (uint32_t size : kSizes) {
    if (size < static_cast<uint32_t>(std::max(width, 3))) continue;
    PlacementSimOptions options = args.options;
    options.backends = size;
    options.add_backends = -1;
    options.rebuild_stripes = 0;
    TESS_ASSIGN_OR_RETURN(PlacementSimReport r, simulate_placement(options));
    if (args.json) {
      fmt::print("{}\n", to_json(r).dump());
    } else {
      fmt::print(
          "{:>8} {:>9} {:>6.3f} {:>8.2f} {:>8.2f} {:>7.3f} {:>9.2f} {:>8.2f} {:>10.2e} "
          "{:>10.2e} {:>6.1f}\n",
          size, r.options.stripes, r.fill_max_over_mean, 100 * r.moved_fraction,
          100 * r.ideal_moved_fraction, r.moved_fraction / r.ideal_moved_fraction,
          100 * r.rebuild_participation, r.rebuild_read_max_over_mean, r.fraction_losing_3_domains,
          r.expected_fraction_losing_3_domains, r.seconds);
    }
    std::fflush(stdout);
  }
  return Status();
}

}  // namespace

void add_sim_commands(CLI::App& app, Status* result) {
  CLI::App* sim = app.add_subcommand("sim", "Offline simulations (no cluster needed)");
  sim->require_subcommand(1);
  CLI::App* placement = sim->add_subcommand(
      "placement",
      "Place stripes on a hypothetical cluster and report balance, movement on growth, rebuild "
      "fan-out and the exposure to concurrent failures");
  auto args = std::make_shared<SimArgs>();
  PlacementSimOptions& o = args->options;
  placement->add_option("--backends", o.backends, "Backends (servers)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100000u));
  placement->add_option("--drives-per-backend", o.drives_per_backend, "Drives in each backend")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  placement
      ->add_option("--failure-domains", o.failure_domains,
                   "Failure domains (racks); backend b is in domain b mod F. 0: one per backend")
      ->capture_default_str();
  placement->add_option("--data", o.data_columns, "Data columns K (3-16)")->capture_default_str();
  placement->add_option("--parity", o.parity_columns, "Parity columns M (2 or 4)")
      ->capture_default_str();
  placement->add_option("--stripes", o.stripes, "Stripes to place")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  placement->add_option("--add", o.add_backends, "Backends to add (default: 10% of --backends)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  placement->add_option("--movement-stripes", o.movement_stripes,
                        "Stripes over which movement is measured (default: min(stripes, 250,000))");
  placement->add_option("--rebuild-stripes", o.rebuild_stripes,
                        "Stripe population for the rebuild and loss figures "
                        "(default: 10,000 columns per backend)");
  placement->add_option("--threads", o.threads, "Worker threads (default: one per core)");
  placement
      ->add_option(
          "--failed-domains", o.failed_domains,
          "Three failure domains (0-based) whose concurrent failure the loss figures count")
      ->capture_default_str()
      ->delimiter(',');
  placement->add_flag("--sweep", args->sweep,
                      "One line per cluster size from 10 to 10,000 backends");
  placement->add_flag("--json", args->json, "Print JSON (one object per line with --sweep)");
  placement->callback(
      [args, result] { *result = args->sweep ? run_sweep(*args) : run_single(*args); });
}

}  // namespace tessera::cli
