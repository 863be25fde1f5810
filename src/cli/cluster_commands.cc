#include "cli/cluster_commands.h"

#include <fmt/format.h>

#include <memory>

#include "cli/api_client.h"

namespace tessera::cli {

using nlohmann::json;

namespace {

struct Common {
  std::string api;
  bool json = false;
};

void add_common(CLI::App* command, Common* common) {
  command->add_option("--api", common->api,
                      "HOST:PORT[,HOST:PORT...] of hosts' REST API, tried in turn (default: "
                      "$TESS_API, the local cluster, or 127.0.0.1:7500)");
  command->add_flag("--json", common->json, "print the API's JSON instead of a table");
}

std::string bytes(uint64_t value) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double scaled = static_cast<double>(value);
  int unit = 0;
  while (scaled >= 1024 && unit < 5) {
    scaled /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", value) : fmt::format("{:.1f} {}", scaled, units[unit]);
}

Status show(const Common& common, const std::string& path, void (*print)(const json&)) {
  TESS_ASSIGN_OR_RETURN(json body, ApiClient::resolve(common.api).call("GET", path));
  if (common.json) {
    fmt::print("{}\n", body.dump(2));
  } else {
    print(body);
  }
  return Status();
}

void print_hosts(const json& body) {
  fmt::print("{:<5} {:<16} {:<22} {:<16} {}\n", "ID", "NAME", "ADDRESS", "FAILURE-DOMAIN", "STATE");
  for (const json& host : body["hosts"]) {
    fmt::print("{:<5} {:<16} {:<22} {:<16} {}\n", host["id"].get<uint32_t>(),
               host["name"].get<std::string>(), host["address"].get<std::string>(),
               host["failure_domain"].get<std::string>(), host["state"].get<std::string>());
  }
}

void print_drives(const json& body) {
  fmt::print("{:<5} {:<5} {:<36} {:>10} {:>10} {:>10} {}\n", "ID", "HOST", "PATH", "CAPACITY",
             "USED", "FREE", "STATE");
  for (const json& drive : body["drives"]) {
    fmt::print("{:<5} {:<5} {:<36} {:>10} {:>10} {:>10} {}\n", drive["id"].get<uint32_t>(),
               drive["host"].get<uint32_t>(), drive["path"].get<std::string>(),
               bytes(drive["capacity_bytes"]), bytes(drive["used_bytes"]),
               bytes(drive["free_bytes"]), drive["state"].get<std::string>());
  }
}

// What the map holds for each bucket: the hosts that should hold a replica and the one that
// should lead. The actual leader, term and commit index come from the buckets later; until then
// there are no such columns rather than guessed ones.
void print_buckets(const json& body) {
  fmt::print("{:<7} {:<10} {:<32} {}\n", "BUCKET", "PREFERRED", "DESIRED", "SINCE-EPOCH");
  for (const json& bucket : body["buckets"]) {
    std::string desired;
    for (const json& host : bucket["desired"]) {
      desired += (desired.empty() ? "" : ",") + std::to_string(host.get<uint32_t>());
    }
    fmt::print("{:<7} {:<10} {:<32} {}\n", bucket["id"].get<uint32_t>(),
               bucket["preferred_leader"].get<uint32_t>(), desired,
               bucket["desired_epoch"].get<uint64_t>());
  }
}

struct CreateArgs {
  Common common;
  uint32_t data = 0;
  uint32_t parity = 0;
  int32_t hot_spare = -1;
  uint32_t buckets = 0;
  int64_t replica_replacement_delay_s = -1;  // -1: the default.
};

Status create(const CreateArgs& args) {
  json body{{"data", args.data}, {"parity", args.parity}};
  if (args.hot_spare >= 0) body["hot_spare"] = args.hot_spare;
  if (args.buckets > 0) body["buckets"] = args.buckets;
  if (args.replica_replacement_delay_s >= 0) {
    body["replica_replacement_delay_s"] = args.replica_replacement_delay_s;
  }
  TESS_ASSIGN_OR_RETURN(json reply,
                        ApiClient::resolve(args.common.api).call("POST", "/api/v1/cluster", body));
  if (args.common.json) {
    fmt::print("{}\n", reply.dump(2));
  } else {
    fmt::print("cluster created with {}+{} protection; `tess status` shows it\n", args.data,
               args.parity);
  }
  return Status();
}

}  // namespace

void print_status(const json& status) {
  std::string health = status["health"];
  std::string reasons;
  for (const json& reason : status["reasons"]) {
    reasons += (reasons.empty() ? ": " : "; ") + reason.get<std::string>();
  }
  fmt::print("health      {}{}\n", health, reasons);
  if (status.contains("cluster_id")) {
    fmt::print("cluster     {} (map epoch {})\n", status["cluster_id"].get<std::string>(),
               status["epoch"].get<uint64_t>());
  }
  fmt::print("hosts       {}/{} up\n", status["hosts_up"].get<size_t>(), status["hosts"].size());
  fmt::print("drives      {}/{} active\n", status["drives_active"].get<size_t>(),
             status["drives"].size());
  if (!status["protection"].is_null()) {
    fmt::print("protection  {}+{}, hot spare {}\n", status["protection"]["data"].get<uint32_t>(),
               status["protection"]["parity"].get<uint32_t>(), status["hot_spare"].get<uint32_t>());
    fmt::print("capacity    {} raw, {} usable\n", bytes(status["capacity"]["raw_bytes"]),
               bytes(status["capacity"]["usable_bytes"]));
    const json& buckets = status["buckets"];
    uint32_t replicas = buckets.value("replicas", 0u);
    fmt::print(
        "buckets     {} total, {} replicas each; {} with fewer than {} up, {} with a majority "
        "down\n",
        buckets["total"].get<uint64_t>(), replicas, buckets.value("under_replicated", 0ULL),
        replicas, buckets.value("desired_majority_down", 0ULL));
    // R = 2M+1 tolerates M failures; fewer failure domains than that give a smaller odd R.
    uint32_t parity = status["protection"]["parity"].get<uint32_t>();
    uint32_t tolerated = replicas == 0 ? 0 : (replicas - 1) / 2;
    std::string tolerance = tolerated < parity
                                ? fmt::format(
                                      "buckets tolerate {} failures, not {}: only {} failure "
                                      "domains",
                                      tolerated, parity, buckets.value("failure_domains", 0u))
                                : fmt::format("buckets tolerate {} failures", tolerated);
    fmt::print("tolerance   {}; a host down {} s has its replicas replaced\n", tolerance,
               status.value("replica_replacement_delay_s", 0u));
  }
  std::string leader = "none";
  if (!status["leader"].is_null()) {
    leader = fmt::format("host {}", status["leader"].get<uint32_t>());
    for (const json& host : status["hosts"]) {
      if (host["id"] == status["leader"])
        leader += fmt::format(" ({})", host["name"].get<std::string>());
    }
  }
  fmt::print("leader      {}\n", leader);
}

void add_cluster_commands(CLI::App& app, Status* result) {
  auto status_common = std::make_shared<Common>();
  CLI::App* status = app.add_subcommand("status", "the cluster's health, hosts, drives, capacity");
  add_common(status, status_common.get());
  status->callback([status_common, result] {
    *result = show(*status_common, "/api/v1/status", [](const json& body) { print_status(body); });
  });

  CLI::App* host = app.add_subcommand("host", "hosts of the cluster");
  host->require_subcommand(1);
  auto host_common = std::make_shared<Common>();
  CLI::App* host_list =
      host->add_subcommand("list", "every host with its address, failure domain, state");
  add_common(host_list, host_common.get());
  host_list->callback(
      [host_common, result] { *result = show(*host_common, "/api/v1/hosts", print_hosts); });

  CLI::App* drive = app.add_subcommand("drive", "drives of the cluster");
  drive->require_subcommand(1);
  auto drive_common = std::make_shared<Common>();
  CLI::App* drive_list = drive->add_subcommand("list", "every drive with its capacity, use, state");
  add_common(drive_list, drive_common.get());
  drive_list->callback(
      [drive_common, result] { *result = show(*drive_common, "/api/v1/drives", print_drives); });
  struct AddArgs {
    Common common;
    std::string host;
    std::string path;
  };
  auto add_args = std::make_shared<AddArgs>();
  CLI::App* drive_add =
      drive->add_subcommand("add", "add a drive (file or block device) to a host");
  drive_add->add_option("HOST", add_args->host, "host id or name")->required();
  drive_add->add_option("PATH", add_args->path, "path of the drive on that host")->required();
  add_common(drive_add, &add_args->common);
  drive_add->callback([add_args, result] {
    auto reply = ApiClient::resolve(add_args->common.api)
                     .call("POST", "/api/v1/drives",
                           json{{"host", add_args->host}, {"path", add_args->path}});
    *result = reply.status();
    if (reply.ok()) {
      if (add_args->common.json) {
        fmt::print("{}\n", reply->dump(2));
      } else {
        fmt::print("drive {} added: {} ({})\n", (*reply)["id"].get<uint32_t>(), add_args->path,
                   bytes((*reply)["capacity_bytes"]));
      }
    }
  });

  CLI::App* bucket = app.add_subcommand("bucket", "buckets: the units of metadata ownership");
  bucket->require_subcommand(1);
  auto bucket_common = std::make_shared<Common>();
  CLI::App* bucket_list =
      bucket->add_subcommand("list", "every bucket's desired replicas and preferred leader");
  add_common(bucket_list, bucket_common.get());
  bucket_list->callback([bucket_common, result] {
    *result = show(*bucket_common, "/api/v1/buckets", print_buckets);
  });

  CLI::App* cluster = app.add_subcommand("cluster", "create the cluster, change its settings");
  cluster->require_subcommand(1);
  auto create_args = std::make_shared<CreateArgs>();
  CLI::App* create_command = cluster->add_subcommand(
      "create", "form the cluster from the registered hosts (protection is fixed from then on)");
  create_command->add_option("--data", create_args->data, "data columns per stripe, 3 to 16")
      ->required();
  create_command->add_option("--parity", create_args->parity, "parity columns, 2 or 4")->required();
  create_command->add_option("--hot-spare", create_args->hot_spare,
                             "failure domains of capacity kept free for rebuilds (default: 1 up to "
                             "6 failure domains, 2 beyond)");
  create_command->add_option("--buckets", create_args->buckets,
                             "bucket count, a power of two, at least 16 per process (default: "
                             "enough, at least 1024)");
  create_command->add_option("--replica-replacement-delay-s",
                             create_args->replica_replacement_delay_s,
                             "seconds a host may be down before its bucket replicas are replaced "
                             "elsewhere, 1 to 86400 (default: 30)");
  add_common(create_command, &create_args->common);
  create_command->callback([create_args, result] { *result = create(*create_args); });

  struct SpareArgs {
    Common common;
    uint32_t hot_spare = 0;
  };
  auto spare_args = std::make_shared<SpareArgs>();
  CLI::App* spare = cluster->add_subcommand("hot-spare", "set the hot spare (failure domains)");
  spare->add_option("N", spare_args->hot_spare, "failure domains of spare capacity")->required();
  add_common(spare, &spare_args->common);
  spare->callback([spare_args, result] {
    auto reply =
        ApiClient::resolve(spare_args->common.api)
            .call("PUT", "/api/v1/cluster/hot-spare", json{{"hot_spare", spare_args->hot_spare}});
    *result = reply.status();
    if (reply.ok()) fmt::print("hot spare set to {}\n", spare_args->hot_spare);
  });
}

}  // namespace tessera::cli
