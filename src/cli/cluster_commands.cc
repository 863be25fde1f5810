#include "cli/cluster_commands.h"

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string>

#include "cli/api_client.h"
#include "cli/size.h"

namespace tessera::cli {

using nlohmann::json;

namespace {

std::string bytes(uint64_t value) { return format_bytes(value); }

Status show(const ApiOptions& common, const std::string& path, void (*print)(const json&)) {
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

// A non-negative integer; nullopt for null or another type.
std::optional<uint64_t> count_value(const json& value) {
  if (!value.is_number_integer()) return std::nullopt;
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  int64_t signed_value = value.get<int64_t>();
  return signed_value < 0 ? std::nullopt
                          : std::optional<uint64_t>(static_cast<uint64_t>(signed_value));
}

// A non-negative integer field of `object`; nullopt if absent, null or of another type (an older
// server, or an unknown figure such as the lag of a replica that did not answer).
std::optional<uint64_t> count_field(const json& object, const char* name) {
  if (!object.is_object()) return std::nullopt;
  auto found = object.find(name);
  return found == object.end() ? std::nullopt : count_value(*found);
}

std::string string_field(const json& object, const char* name) {
  if (!object.is_object()) return "?";
  auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : "?";
}

const json& array_field(const json& object, const char* name) {
  static const json empty = json::array();
  if (!object.is_object()) return empty;
  auto found = object.find(name);
  return found != object.end() && found->is_array() ? *found : empty;
}

std::string or_dash(std::optional<uint64_t> value) { return value ? std::to_string(*value) : "-"; }

// A host id, "-" for 0 (none) or unknown.
std::string host_or_dash(std::optional<uint64_t> host) {
  return host && *host != 0 ? std::to_string(*host) : "-";
}

bool has_quorum(const json& bucket) {
  auto found = bucket.is_object() ? bucket.find("quorum") : bucket.end();
  return found != bucket.end() && found->is_boolean() && found->get<bool>();
}

// "3:voter 5:voter 7:learner(lag 12) 2:down": each replica's host and state, with its lag behind
// the leader when it has one.
std::string replicas_summary(const json& bucket) {
  std::string out;
  for (const json& replica : array_field(bucket, "replicas")) {
    std::string item = fmt::format("{}:{}", host_or_dash(count_field(replica, "host")),
                                   string_field(replica, "state"));
    if (auto lag = count_field(replica, "lag"); lag && *lag > 0) {
      item += fmt::format("(lag {})", *lag);
    }
    out += (out.empty() ? "" : " ") + item;
  }
  return out;
}

// Each bucket's actual leader (with the preferred one the map names), term, commit and durable
// index, and its replicas, from GET /api/v1/buckets; buckets without quorum are marked.
void print_buckets(const json& body) {
  fmt::print("{:<7} {:<7} {:<10} {:<7} {:<12} {:<12} {}\n", "ID", "LEADER", "PREFERRED", "TERM",
             "COMMIT", "DURABLE", "REPLICAS");
  const json& buckets = array_field(body, "buckets");
  size_t without_quorum = 0;
  for (const json& bucket : buckets) {
    bool quorum = has_quorum(bucket);
    without_quorum += quorum ? 0 : 1;
    fmt::print("{:<7} {:<7} {:<10} {:<7} {:<12} {:<12} {}{}\n", or_dash(count_field(bucket, "id")),
               host_or_dash(count_field(bucket, "leader")),
               host_or_dash(count_field(bucket, "preferred_leader")),
               or_dash(count_field(bucket, "term")), or_dash(count_field(bucket, "commit")),
               or_dash(count_field(bucket, "durable")), replicas_summary(bucket),
               quorum ? "" : "  NO QUORUM");
  }
  fmt::print("{} buckets, {} without quorum\n", buckets.size(), without_quorum);
}

// One bucket in detail, from GET /api/v1/buckets/N.
void print_bucket(const json& bucket) {
  std::string desired;
  for (const json& host : array_field(bucket, "desired")) {
    desired += (desired.empty() ? "" : ", ") + host_or_dash(count_value(host));
  }
  auto leader = count_field(bucket, "leader");
  auto term = count_field(bucket, "term");
  size_t voters = 0;
  size_t voters_up = 0;
  for (const json& replica : array_field(bucket, "replicas")) {
    if (!replica.is_object() || !replica.value("voter", false)) continue;
    ++voters;
    std::string state = string_field(replica, "state");
    voters_up += state == "voter" || state == "recovering" ? 1 : 0;
  }
  fmt::print("bucket      {}\n", or_dash(count_field(bucket, "id")));
  if (leader && *leader != 0) {
    fmt::print("leader      host {}, term {}\n", *leader, or_dash(term));
  } else {
    fmt::print("leader      none (highest term reported: {})\n", or_dash(term));
  }
  fmt::print("preferred   host {}\n", host_or_dash(count_field(bucket, "preferred_leader")));
  fmt::print("desired     {} (since map epoch {})\n", desired.empty() ? "none" : desired,
             or_dash(count_field(bucket, "desired_epoch")));
  fmt::print("commit      {}\n", or_dash(count_field(bucket, "commit")));
  if (leader && *leader != 0) {
    fmt::print("durable     {} (synced on a majority of the voters)\n",
               or_dash(count_field(bucket, "durable")));
  } else {
    fmt::print("durable     unknown without a leader\n");
  }
  fmt::print("quorum      {}: {} of {} voters up\n", has_quorum(bucket) ? "yes" : "NO", voters_up,
             voters);
  if (bucket.is_object() && bucket.value("hibernated", false)) {
    fmt::print("activity    hibernated (idle: no ticks, no heartbeats; any request wakes it)\n");
  }
  fmt::print("{:<7} {:<8} {:<11} {:<10} {}\n", "HOST", "MEMBER", "STATE", "LAG", "APPLIED");
  for (const json& replica : array_field(bucket, "replicas")) {
    bool voter = replica.is_object() && replica.value("voter", false);
    fmt::print("{:<7} {:<8} {:<11} {:<10} {}\n", host_or_dash(count_field(replica, "host")),
               voter ? "voter" : "learner", string_field(replica, "state"),
               or_dash(count_field(replica, "lag")), or_dash(count_field(replica, "applied")));
  }
}

struct CreateArgs {
  ApiOptions common;
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
    if (buckets.contains("without_quorum")) {
      // From the buckets' replicas: leaders per host up, max against mean (1.00x: even).
      uint64_t leaders_max = count_field(buckets, "leaders_max").value_or(0);
      double leaders_mean = buckets.contains("leaders_mean") && buckets["leaders_mean"].is_number()
                                ? buckets["leaders_mean"].get<double>()
                                : 0;
      std::string leaders =
          leaders_mean > 0
              ? fmt::format("leaders per host max {} mean {:.1f} ({:.2f}x)", leaders_max,
                            leaders_mean, static_cast<double>(leaders_max) / leaders_mean)
              : "no bucket has a leader";
      fmt::print(
          "buckets     {} total, {} replicas each, {} without quorum, {} under-replicated; {}\n",
          or_dash(count_field(buckets, "total")), replicas,
          or_dash(count_field(buckets, "without_quorum")),
          or_dash(count_field(buckets, "under_replicated")), leaders);
    } else {
      fmt::print(
          "buckets     {} total, {} replicas each; {} with fewer than {} up, {} with a majority "
          "down\n",
          buckets["total"].get<uint64_t>(), replicas, buckets.value("under_replicated", 0ULL),
          replicas, buckets.value("desired_majority_down", 0ULL));
    }
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
  auto status_common = std::make_shared<ApiOptions>();
  CLI::App* status = app.add_subcommand("status", "the cluster's health, hosts, drives, capacity");
  add_api_options(status, status_common.get());
  status->callback([status_common, result] {
    *result = show(*status_common, "/api/v1/status", [](const json& body) { print_status(body); });
  });

  CLI::App* host = app.add_subcommand("host", "hosts of the cluster");
  host->require_subcommand(1);
  auto host_common = std::make_shared<ApiOptions>();
  CLI::App* host_list =
      host->add_subcommand("list", "every host with its address, failure domain, state");
  add_api_options(host_list, host_common.get());
  host_list->callback(
      [host_common, result] { *result = show(*host_common, "/api/v1/hosts", print_hosts); });

  CLI::App* drive = app.add_subcommand("drive", "drives of the cluster");
  drive->require_subcommand(1);
  auto drive_common = std::make_shared<ApiOptions>();
  CLI::App* drive_list = drive->add_subcommand("list", "every drive with its capacity, use, state");
  add_api_options(drive_list, drive_common.get());
  drive_list->callback(
      [drive_common, result] { *result = show(*drive_common, "/api/v1/drives", print_drives); });
  struct AddArgs {
    ApiOptions common;
    std::string host;
    std::string path;
  };
  auto add_args = std::make_shared<AddArgs>();
  CLI::App* drive_add =
      drive->add_subcommand("add", "add a drive (file or block device) to a host");
  drive_add->add_option("HOST", add_args->host, "host id or name")->required();
  drive_add->add_option("PATH", add_args->path, "path of the drive on that host")->required();
  add_api_options(drive_add, &add_args->common);
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
  auto bucket_common = std::make_shared<ApiOptions>();
  CLI::App* bucket_list = bucket->add_subcommand(
      "list", "every bucket's leader, term, commit and durable index, and replicas");
  add_api_options(bucket_list, bucket_common.get());
  bucket_list->callback([bucket_common, result] {
    *result = show(*bucket_common, "/api/v1/buckets", print_buckets);
  });
  struct ShowArgs {
    ApiOptions common;
    uint32_t bucket = 0;
  };
  auto show_args = std::make_shared<ShowArgs>();
  CLI::App* bucket_show = bucket->add_subcommand(
      "show",
      "one bucket: leader, placement, quorum, and each replica's state, lag, applied index");
  bucket_show->add_option("N", show_args->bucket, "bucket id")->required();
  add_api_options(bucket_show, &show_args->common);
  bucket_show->callback([show_args, result] {
    *result =
        show(show_args->common, fmt::format("/api/v1/buckets/{}", show_args->bucket), print_bucket);
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
  add_api_options(create_command, &create_args->common);
  create_command->callback([create_args, result] { *result = create(*create_args); });

  struct SpareArgs {
    ApiOptions common;
    uint32_t hot_spare = 0;
  };
  auto spare_args = std::make_shared<SpareArgs>();
  CLI::App* spare = cluster->add_subcommand("hot-spare", "set the hot spare (failure domains)");
  spare->add_option("N", spare_args->hot_spare, "failure domains of spare capacity")->required();
  add_api_options(spare, &spare_args->common);
  spare->callback([spare_args, result] {
    auto reply =
        ApiClient::resolve(spare_args->common.api)
            .call("PUT", "/api/v1/cluster/hot-spare", json{{"hot_spare", spare_args->hot_spare}});
    *result = reply.status();
    if (reply.ok()) fmt::print("hot spare set to {}\n", spare_args->hot_spare);
  });
}

}  // namespace tessera::cli
