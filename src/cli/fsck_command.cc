#include "cli/fsck_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/api_client.h"
#include "cli/filesystem_commands.h"
#include "client/fsck.h"
#include "runtime/clock.h"

namespace tessera::cli {

using nlohmann::json;

namespace {

struct FsckArgs {
  ApiOptions options;
  std::string name;
  bool repair = false;
  uint32_t intent_age_s = 60;
  uint32_t timeout_s = 3600;
};

std::string describe(const meta::Finding& finding) {
  std::string where;
  if (!finding.name.empty()) {
    where = fmt::format("entry '{}' of directory {:x} -> inode {:x}", finding.name,
                        finding.dir.value(), finding.inode.value());
  } else if (finding.inode.value() != 0) {
    where = fmt::format("inode {:x}", finding.inode.value());
  }
  return fmt::format("{:<22}  {}{}{}", meta::name_of(finding.kind), where,
                     where.empty() ? "" : ": ", finding.detail);
}

// A progress line on a terminal, at most twice a second.
class Progress {
 public:
  Progress() : shown_(isatty(STDERR_FILENO) != 0) {}
  void update(const meta::CheckProgress& progress) {
    if (!shown_) return;
    uint64_t now_ms = system_unix_ms();
    if (now_ms < last_ms_ + 500) return;
    last_ms_ = now_ms;
    fmt::print(stderr, "\rchecking: pass {}, {} directories, {} entries", progress.pass,
               progress.directories, progress.entries);
    std::fflush(stderr);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) fmt::print(stderr, "\r\033[K");
  }

 private:
  bool shown_;
  bool drawn_ = false;
  uint64_t last_ms_ = 0;
};

Status fsck(const FsckArgs& args) {
  ApiClient api = ApiClient::resolve(args.options.api);
  TESS_ASSIGN_OR_RETURN(json fs, api.call("GET", filesystem_path(args.name)));
  if (!fs.is_object() || !fs.contains("id") || !fs["id"].is_number_unsigned() ||
      fs["id"].get<uint64_t>() == 0 || fs["id"].get<uint64_t>() > UINT32_MAX) {
    return Status(StatusCode::kInternal,
                  fmt::format("the API answered filesystem '{}' without a valid id", args.name));
  }
  auto id = fs["id"].get<uint64_t>();
  auto progress = std::make_shared<Progress>();
  client::CheckFilesystemOptions options;
  options.api = api.endpoints();
  options.check.fs = FilesystemId(static_cast<uint32_t>(id));
  options.check.repair = args.repair;
  options.check.intent_age = std::chrono::seconds(args.intent_age_s);
  options.check.progress = [progress](const meta::CheckProgress& p) { progress->update(p); };
  options.timeout = std::chrono::seconds(args.timeout_s);
  Result<meta::CheckReport> report = client::check_filesystem(options);
  progress->finish();
  if (!report.ok()) return report.status();
  if (args.options.json) {
    fmt::print("{}\n", fsck_report_json(args.name, id, *report, args.repair).dump(2));
  } else {
    fmt::print("{}", fsck_report_text(args.name, id, *report, args.repair));
  }
  if (report->clean()) return Status();
  return Status(StatusCode::kCorruption,
                fmt::format("filesystem {} breaks the namespace's rules in {} place{}", args.name,
                            report->findings_total, report->findings_total == 1 ? "" : "s"));
}

}  // namespace

std::string fsck_report_text(const std::string& name, uint64_t id, const meta::CheckReport& report,
                             bool repair) {
  std::string out = fmt::format("filesystem {} (id {}): ", name, id);
  if (!report.root_exists) {
    out += fmt::format("no root directory yet (never used), {} inodes\n", report.inodes_listed);
  } else {
    out += fmt::format("{} directories, {} other inodes, {} entries; {} inodes in its buckets\n",
                       report.directories, report.files, report.entries, report.inodes_listed);
  }
  for (const meta::Finding& finding : report.findings) out += "  " + describe(finding) + "\n";
  if (report.findings_total > report.findings.size()) {
    out += fmt::format("  ... and {} more\n", report.findings_total - report.findings.size());
  }
  if (report.unsettled > 0) {
    out += fmt::format(
        "{} finding{} of the first pass changed before the second: changes made while it ran, not "
        "reported\n",
        report.unsettled, report.unsettled == 1 ? "" : "s");
  }
  if (repair) {
    out += fmt::format(
        "repaired: {} stale transactions aborted, {} finished, {} still waiting for their "
        "coordinator; other findings are reported only\n",
        report.repaired.aborted, report.repaired.finished, report.repaired.waiting);
  }
  out += report.clean() ? "clean\n"
                        : fmt::format("{} finding{}\n", report.findings_total,
                                      report.findings_total == 1 ? "" : "s");
  return out;
}

json fsck_report_json(const std::string& name, uint64_t id, const meta::CheckReport& report,
                      bool repair) {
  json findings = json::array();
  for (const meta::Finding& finding : report.findings) {
    json one{{"kind", meta::name_of(finding.kind)}, {"detail", finding.detail}};
    if (finding.inode.value() != 0) one["inode"] = finding.inode.value();
    if (!finding.name.empty()) {
      one["dir"] = finding.dir.value();
      one["name"] = finding.name;
    }
    findings.push_back(std::move(one));
  }
  json out{{"filesystem", name},
           {"id", id},
           {"clean", report.clean()},
           {"root_exists", report.root_exists},
           {"passes", report.passes},
           {"directories", report.directories},
           {"files", report.files},
           {"entries", report.entries},
           {"inodes_listed", report.inodes_listed},
           {"findings_total", report.findings_total},
           {"findings", std::move(findings)},
           {"unsettled", report.unsettled}};
  if (repair) {
    out["repaired"] = {{"aborted", report.repaired.aborted},
                       {"finished", report.repaired.finished},
                       {"waiting", report.repaired.waiting}};
  }
  return out;
}

void add_fsck_command(CLI::App& app, Status* result) {
  auto args = std::make_shared<FsckArgs>();
  CLI::App* command = app.add_subcommand(
      "fsck", "check a filesystem's namespace online (read-only unless --repair)");
  command->footer(
      "Walks the filesystem from its root through ordinary reads while it stays in use, then "
      "lists every bucket's inodes. Finds: entries naming missing inodes (dangling-entry) or "
      "inodes of another type (type-mismatch), link counts that are not the entries "
      "(wrong-link-count), directories whose recorded parent does not hold them (wrong-parent) "
      "or reached twice (directory-linked-twice: a cycle), inodes no entry reaches "
      "(unreachable-inode), and transaction intents older than --intent-age-s (stale-intent). A "
      "pass that finds anything is repeated; only what both passes found is reported.\n"
      "--repair ends stale transactions as the buckets' own recovery would (presumed abort), "
      "before the walk; the other findings are reported, not changed.\n"
      "Exit codes: 0 clean, 1 findings, 3 no such filesystem, 5 the cluster could not be read in "
      "time or a transaction's lock stayed held (stale intents: try --repair).");
  command->add_option("FS", args->name, "the filesystem")->required();
  command->add_flag("--repair", args->repair, "end stale transactions (safe: presumed abort)");
  command
      ->add_option("--intent-age-s", args->intent_age_s,
                   "an intent older than this is stale (the buckets recover abandoned ones within "
                   "seconds)")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400 * 365));
  command->add_option("--timeout-s", args->timeout_s, "give up after this long")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400 * 7));
  add_api_options(command, &args->options);
  command->callback([args, result] { *result = fsck(*args); });
}

}  // namespace tessera::cli
