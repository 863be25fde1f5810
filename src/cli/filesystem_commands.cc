#include "cli/filesystem_commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "cli/api_client.h"
#include "cli/size.h"

namespace tessera::cli {

using nlohmann::json;

namespace {

constexpr const char* kSizeHelp =
    "e.g. 500G, 10GiB, 1.5TiB, 2TB (K M G T P and KiB to PiB are powers of 1024, KB to PB of "
    "1000; no unit: bytes)";

std::optional<uint64_t> count_field(const json& object, const char* name) {
  if (!object.is_object()) return std::nullopt;
  auto found = object.find(name);
  if (found == object.end() || !found->is_number_unsigned()) return std::nullopt;
  return found->get<uint64_t>();
}

std::string string_field(const json& object, const char* name) {
  if (!object.is_object()) return "?";
  auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : "?";
}

// A figure of the answer: "-" when the API says it is not known (null), "?" when it is malformed.
std::string figure(const json& object, const char* name, bool as_bytes) {
  if (object.is_object() && object.contains(name) && object[name].is_null()) return "-";
  std::optional<uint64_t> value = count_field(object, name);
  if (!value) return "?";
  return as_bytes ? format_bytes(*value) : std::to_string(*value);
}

bool is_name_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

Status print_answer(const ApiOptions& options, const Result<json>& reply,
                    const std::function<void(const json&)>& print) {
  if (!reply.ok()) return reply.status();
  if (options.json) {
    fmt::print("{}\n", reply->dump(2, ' ', false, json::error_handler_t::replace));
  } else {
    print(*reply);
  }
  return Status();
}

struct CreateArgs {
  ApiOptions options;
  std::string name;
  std::string capacity;  // Empty: what is left unprovisioned.
};

Status create(const CreateArgs& args) {
  json body{{"name", args.name}};
  if (!args.capacity.empty()) {
    TESS_ASSIGN_OR_RETURN(uint64_t capacity_bytes, parse_size(args.capacity));
    body["capacity_bytes"] = capacity_bytes;
  }
  auto reply = ApiClient::resolve(args.options.api).call("POST", "/api/v1/filesystems", body);
  return print_answer(args.options, reply, [](const json& fs) {
    fmt::print("filesystem {} created: id {}, capacity {} ({} bytes)\n", string_field(fs, "name"),
               figure(fs, "id", false), figure(fs, "capacity_bytes", true),
               figure(fs, "capacity_bytes", false));
    // The record is what makes the filesystem; a root the buckets could not make yet is made by
    // its first client.
    if (fs.is_object() && fs.contains("root_error")) {
      fmt::print("its root directory will be made on first use: {}\n",
                 string_field(fs, "root_error"));
    }
  });
}

struct UpdateArgs {
  ApiOptions options;
  std::string name;
  std::string capacity;
};

Status update(const UpdateArgs& args) {
  TESS_ASSIGN_OR_RETURN(uint64_t capacity_bytes, parse_size(args.capacity));
  auto reply =
      ApiClient::resolve(args.options.api)
          .call("PATCH", filesystem_path(args.name), json{{"capacity_bytes", capacity_bytes}});
  return print_answer(args.options, reply, [](const json& fs) {
    fmt::print("filesystem {}: capacity {} ({} bytes)\n", string_field(fs, "name"),
               figure(fs, "capacity_bytes", true), figure(fs, "capacity_bytes", false));
  });
}

struct DeleteArgs {
  ApiOptions options;
  std::string name;
  bool force = false;
};

Status remove(const DeleteArgs& args) {
  std::string path = filesystem_path(args.name) + (args.force ? "?force=true" : "");
  auto reply = ApiClient::resolve(args.options.api).call("DELETE", path);
  return print_answer(args.options, reply, [](const json& fs) {
    fmt::print(
        "filesystem {} (id {}) is being deleted; its name is free for a new filesystem. Its data "
        "is purged in the background once the data path exists; until then it stays listed as "
        "deleting.\n",
        string_field(fs, "name"), figure(fs, "id", false));
  });
}

}  // namespace

std::string filesystem_path(const std::string& name) {
  std::string path = "/api/v1/filesystems/";
  for (char c : name) {
    if (is_name_character(c)) {
      path += c;
    } else {
      path += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return path;
}

std::string filesystems_table(const json& body) {
  static const json empty = json::array();
  const json& filesystems =
      body.is_object() && body.contains("filesystems") && body["filesystems"].is_array()
          ? body["filesystems"]
          : empty;
  size_t name_width = 4;
  for (const json& fs : filesystems)
    name_width = std::max(name_width, string_field(fs, "name").size());
  std::string out = fmt::format("{:<{}}  {:>6}  {:>10}  {:>10}  {:>10}  {}\n", "NAME", name_width,
                                "ID", "CAPACITY", "USED", "FILES", "STATE");
  size_t deleting = 0;
  for (const json& fs : filesystems) {
    std::string state = string_field(fs, "state");
    deleting += state == "deleting" ? 1 : 0;
    out += fmt::format("{:<{}}  {:>6}  {:>10}  {:>10}  {:>10}  {}\n", string_field(fs, "name"),
                       name_width, figure(fs, "id", false), figure(fs, "capacity_bytes", true),
                       figure(fs, "used_bytes", true), figure(fs, "files", false), state);
  }
  const json& capacity = body.is_object() && body.contains("capacity") ? body["capacity"] : empty;
  out += fmt::format(
      "{} filesystem{}; {} provisioned of {} usable, {} left\n", filesystems.size(),
      filesystems.size() == 1 ? "" : "s", figure(capacity, "provisioned_bytes", true),
      figure(capacity, "usable_bytes", true), figure(capacity, "unprovisioned_bytes", true));
  if (deleting > 0) {
    out +=
        "deleting: deleted, their data to be purged in the background (the purge comes with the "
        "data path); a deleting filesystem keeps its used bytes provisioned until then\n";
  }
  return out;
}

void add_filesystem_commands(CLI::App& app, Status* result) {
  CLI::App* fs = app.add_subcommand(
      "fs", "filesystems: many per cluster, each sharing every drive, with a capacity of its own");
  fs->require_subcommand(1);

  auto create_args = std::make_shared<CreateArgs>();
  CLI::App* create_command = fs->add_subcommand("create", "create a filesystem");
  create_command->footer(
      "Its capacity is provisioned from the cluster's usable capacity (tess status), and all "
      "filesystems together may not provision more than that: tess fs list shows what is left.");
  create_command
      ->add_option("NAME", create_args->name,
                   "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a digit; "
                   "unique among the cluster's filesystems")
      ->required();
  create_command->add_option(
      "--capacity", create_args->capacity,
      fmt::format("its capacity, {}; default: all that is left unprovisioned", kSizeHelp));
  add_api_options(create_command, &create_args->options);
  create_command->callback([create_args, result] { *result = create(*create_args); });

  auto list_options = std::make_shared<ApiOptions>();
  CLI::App* list = fs->add_subcommand(
      "list", "every filesystem: name, id, capacity, used, files, state; what is provisioned");
  list->footer(
      "USED and FILES show '-' until the namespace and the data path report them (they do not "
      "yet). A deleted filesystem stays listed as 'deleting' until its data is purged in the "
      "background (the purge comes with the data path).");
  add_api_options(list, list_options.get());
  list->callback([list_options, result] {
    *result = print_answer(*list_options,
                           ApiClient::resolve(list_options->api).call("GET", "/api/v1/filesystems"),
                           [](const json& body) { fmt::print("{}", filesystems_table(body)); });
  });

  auto update_args = std::make_shared<UpdateArgs>();
  CLI::App* update_command =
      fs->add_subcommand("update", "change a filesystem's capacity, while it is in use");
  update_command->footer(
      "Never below what it uses; growth only into what is left unprovisioned (tess fs list).");
  update_command->add_option("NAME", update_args->name, "the filesystem")->required();
  update_command
      ->add_option("--capacity", update_args->capacity,
                   fmt::format("the new capacity, {}", kSizeHelp))
      ->required();
  add_api_options(update_command, &update_args->options);
  update_command->callback([update_args, result] { *result = update(*update_args); });

  auto delete_args = std::make_shared<DeleteArgs>();
  CLI::App* delete_command =
      fs->add_subcommand("delete", "delete a filesystem (refused unless empty or --force)");
  delete_command->footer(
      "A deleted filesystem is marked deleting: its name is free at once for a new filesystem "
      "(which gets a new id), and its data is purged in the background (the purge comes with the "
      "data path; until then it stays in tess fs list).");
  delete_command->add_option("NAME", delete_args->name, "the filesystem")->required();
  delete_command->add_flag(
      "--force", delete_args->force,
      "delete it with whatever it holds. Needed today for every filesystem: the namespace and the "
      "data path do not report usage yet, so none can be shown empty");
  add_api_options(delete_command, &delete_args->options);
  delete_command->callback([delete_args, result] { *result = remove(*delete_args); });
}

}  // namespace tessera::cli
