// tess: the Tessera command line.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cluster_commands.h"
#include "cli/exit_code.h"
#include "cli/filesystem_commands.h"
#include "cli/fsck_command.h"
#include "cli/local_cluster.h"
#include "cli/sim_placement.h"

int main(int argc, char** argv) {
  CLI::App app("tess: operate a Tessera cluster and study its design", "tess");
  app.require_subcommand(1);
  tessera::Status result;
  tessera::cli::add_cluster_commands(app, &result);
  tessera::cli::add_filesystem_commands(app, &result);
  tessera::cli::add_fsck_command(app, &result);
  tessera::cli::add_local_commands(app, &result);
  tessera::cli::add_sim_commands(app, &result);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // app.exit prints the message (or the help); CLI11's own codes are replaced by ours.
    int cli11_code = app.exit(e);
    return cli11_code == 0 ? 0
                           : tessera::cli::exit_code(tessera::Status(
                                 tessera::StatusCode::kInvalidArgument, "bad arguments"));
  } catch (const nlohmann::json::exception& e) {
    // The commands run inside parse(); an answer of an unexpected shape ends up here.
    fmt::print(stderr, "tess: unexpected answer from the cluster: {}\n", e.what());
    return 1;
  }
  if (!result.ok()) {
    fmt::print(stderr, "tess: {}\n", result.message());
    return tessera::cli::exit_code(result);
  }
  return 0;
}
