#include "cluster/filesystems.h"

#include <algorithm>
#include <limits>
#include <set>

#include "base/log.h"
#include "cluster/parse.h"

namespace tessera {

namespace {

bool is_alphanumeric(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_name_character(char c) { return is_alphanumeric(c) || c == '.' || c == '_' || c == '-'; }

uint64_t saturating_add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

bool is_active(const proto::FilesystemRecord& record) {
  return record.state() == proto::FILESYSTEM_STATE_ACTIVE;
}

// The record stored at `kv` (whose key names `key_id`), checked: it parses, carries its key's id,
// a valid name and a known state. kCorruption naming the key otherwise.
Result<proto::FilesystemRecord> decode_record(const KeyValue& kv, uint32_t key_id) {
  proto::FilesystemRecord record;
  if (!record.ParseFromString(kv.value)) {
    return error(StatusCode::kCorruption, "filesystem record {} in etcd does not parse", kv.key);
  }
  if (record.id() == 0 || record.id() != key_id) {
    return error(StatusCode::kCorruption, "filesystem record {} in etcd holds id {}", kv.key,
                 record.id());
  }
  if (Status named = check_filesystem_name(record.name()); !named.ok()) {
    return error(StatusCode::kCorruption, "filesystem record {} in etcd: {}", kv.key,
                 named.message());
  }
  if (record.state() != proto::FILESYSTEM_STATE_ACTIVE &&
      record.state() != proto::FILESYSTEM_STATE_DELETING) {
    return error(StatusCode::kCorruption, "filesystem record {} in etcd has state {}", kv.key,
                 static_cast<int>(record.state()));
  }
  return record;
}

Status check_capacity_minimum(uint64_t capacity_bytes) {
  if (capacity_bytes < kMinFilesystemCapacityBytes) {
    return error(StatusCode::kInvalidArgument, "a filesystem's capacity is at least {}, not {}",
                 describe_bytes(kMinFilesystemCapacityBytes), describe_bytes(capacity_bytes));
  }
  return Status();
}

Result<proto::FilesystemRecord> plan_create(const FilesystemChange& change,
                                            const FilesystemTable& table,
                                            const FilesystemUsageTable& usage,
                                            uint64_t usable_bytes, uint32_t next_id,
                                            uint64_t now_unix_ms) {
  if (const proto::FilesystemRecord* taken = table.active(change.name)) {
    return error(StatusCode::kAlreadyExists, "a filesystem named {} exists already (id {})",
                 quote_name(change.name), taken->id());
  }
  if (table.records.size() >= kMaxFilesystems) {
    return error(StatusCode::kFailedPrecondition,
                 "the cluster has {} filesystems, the most it may have (deleting ones count until "
                 "they are purged)",
                 table.records.size());
  }
  uint64_t provisioned = provisioned_bytes(table, usage);
  uint64_t left = usable_bytes > provisioned ? usable_bytes - provisioned : 0;
  uint64_t capacity = 0;
  if (change.capacity_bytes) {
    capacity = *change.capacity_bytes;
    TESS_RETURN_IF_ERROR(check_capacity_minimum(capacity));
    if (capacity > left) {
      return error(StatusCode::kNoSpace,
                   "a capacity of {} exceeds the {} left unprovisioned: filesystems provision {} "
                   "of the cluster's {} usable",
                   describe_bytes(capacity), describe_bytes(left), describe_bytes(provisioned),
                   describe_bytes(usable_bytes));
    }
  } else {
    if (left < kMinFilesystemCapacityBytes) {
      return error(StatusCode::kNoSpace,
                   "nothing is left to provision: filesystems provision {} of the cluster's {} "
                   "usable (shrink a filesystem or add drives first)",
                   describe_bytes(provisioned), describe_bytes(usable_bytes));
    }
    capacity = left;
  }
  proto::FilesystemRecord record;
  record.set_id(next_id);
  record.set_name(change.name);
  record.set_capacity_bytes(capacity);
  record.set_created_unix_ms(now_unix_ms);
  record.set_state(proto::FILESYSTEM_STATE_ACTIVE);
  return record;
}

Result<proto::FilesystemRecord> plan_update(const FilesystemChange& change,
                                            const FilesystemTable& table,
                                            const FilesystemUsageTable& usage,
                                            uint64_t usable_bytes) {
  TESS_ASSIGN_OR_RETURN(proto::FilesystemRecord record, find_filesystem(table, change.name));
  if (!change.capacity_bytes) {
    return error(StatusCode::kInvalidArgument, "an update of {} needs the new capacity",
                 quote_name(change.name));
  }
  uint64_t capacity = *change.capacity_bytes;
  TESS_RETURN_IF_ERROR(check_capacity_minimum(capacity));
  auto use = usage.find(FilesystemId(record.id()));
  uint64_t used = use == usage.end() ? 0 : use->second.used_bytes.value_or(0);
  if (capacity < used) {
    return error(StatusCode::kFailedPrecondition,
                 "filesystem {} uses {}: its capacity cannot go below that, as {} would",
                 quote_name(change.name), describe_bytes(used), describe_bytes(capacity));
  }
  if (capacity > record.capacity_bytes()) {
    // Growth must fit; a shrink always may, even in an over-provisioned cluster.
    uint64_t others = provisioned_bytes(table, usage, FilesystemId(record.id()));
    uint64_t available = usable_bytes > others ? usable_bytes - others : 0;
    if (capacity > available) {
      return error(StatusCode::kNoSpace,
                   "a capacity of {} for {} exceeds the {} it may have: the other filesystems "
                   "provision {} of the cluster's {} usable",
                   describe_bytes(capacity), quote_name(change.name), describe_bytes(available),
                   describe_bytes(others), describe_bytes(usable_bytes));
    }
  }
  record.set_capacity_bytes(capacity);
  return record;
}

Result<proto::FilesystemRecord> plan_delete(const FilesystemChange& change,
                                            const FilesystemTable& table,
                                            const FilesystemUsageTable& usage,
                                            uint64_t now_unix_ms) {
  TESS_ASSIGN_OR_RETURN(proto::FilesystemRecord record, find_filesystem(table, change.name));
  if (!change.force) {
    auto use = usage.find(FilesystemId(record.id()));
    FilesystemUsage held = use == usage.end() ? FilesystemUsage{} : use->second;
    if (!held.used_bytes || !held.files) {
      return error(StatusCode::kFailedPrecondition,
                   "filesystem {} may hold files: its usage is not known now (a bucket did not "
                   "report it), so "
                   "it cannot be shown empty; force the delete to delete it with whatever it holds",
                   quote_name(change.name));
    }
    if (*held.used_bytes > 0 || *held.files > 0) {
      return error(StatusCode::kFailedPrecondition,
                   "filesystem {} holds {} files and {}; force the delete to delete it with them",
                   quote_name(change.name), *held.files, describe_bytes(*held.used_bytes));
    }
  }
  record.set_state(proto::FILESYSTEM_STATE_DELETING);
  record.set_deleting_since_unix_ms(now_unix_ms);
  return record;
}

}  // namespace

const proto::FilesystemRecord* FilesystemTable::active(std::string_view name) const {
  for (const proto::FilesystemRecord& record : records) {
    if (is_active(record) && record.name() == name) return &record;
  }
  return nullptr;
}

std::string quote_name(std::string_view name) {
  constexpr size_t kMaxShown = 80;
  std::string out = "'";
  for (size_t i = 0; i < name.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  out += name.size() > kMaxShown ? "'..." : "'";
  return out;
}

Result<proto::FilesystemRecord> find_filesystem(const FilesystemTable& table,
                                                std::string_view name) {
  TESS_RETURN_IF_ERROR(check_filesystem_name(name));
  if (const proto::FilesystemRecord* found = table.active(name)) return *found;
  for (const proto::FilesystemRecord& record : table.records) {
    if (record.name() == name) {
      return error(StatusCode::kNotFound,
                   "no filesystem named {}: the one of that name (id {}) is being deleted",
                   quote_name(name), record.id());
    }
  }
  return error(StatusCode::kNotFound, "no filesystem named {}", quote_name(name));
}

Status check_filesystem_name(std::string_view name) {
  if (name.empty()) return error(StatusCode::kInvalidArgument, "a filesystem name cannot be empty");
  if (name.size() > kMaxFilesystemNameLength) {
    return error(StatusCode::kInvalidArgument,
                 "filesystem name {} is {} characters long; the most is {}", quote_name(name),
                 name.size(), kMaxFilesystemNameLength);
  }
  if (!is_alphanumeric(name[0])) {
    return error(StatusCode::kInvalidArgument,
                 "filesystem name {} must start with a letter or a digit", quote_name(name));
  }
  for (size_t i = 1; i < name.size(); ++i) {
    if (!is_name_character(name[i])) {
      return error(StatusCode::kInvalidArgument,
                   "filesystem name {} has {} at position {}: names are letters, digits, '.', '_' "
                   "and '-'",
                   quote_name(name), quote_name(name.substr(i, 1)), i + 1);
    }
  }
  return Status();
}

std::string describe_bytes(uint64_t bytes) {
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  double scaled = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (scaled >= 1024 && unit + 1 < std::size(units)) {
    scaled /= 1024;
    ++unit;
  }
  return fmt::format("{} bytes ({:.1f} {})", bytes, scaled, units[unit]);
}

Result<FilesystemTable> decode_filesystems(const std::vector<KeyValue>& values,
                                           const ClusterKeys& keys) {
  FilesystemTable table;
  const std::string records_prefix = keys.filesystem_records();
  for (const KeyValue& kv : values) {
    if (kv.key == keys.filesystems_version()) {
      TESS_ASSIGN_OR_RETURN(table.version, parse_u64(kv.value, kv.key));
      table.version_mod_revision = kv.mod_revision;
    } else if (kv.key.starts_with(records_prefix)) {
      TESS_ASSIGN_OR_RETURN(
          uint32_t id,
          parse_u32(std::string_view(kv.key).substr(records_prefix.size()), "filesystem key"));
      TESS_ASSIGN_OR_RETURN(proto::FilesystemRecord record, decode_record(kv, id));
      table.records.push_back(std::move(record));
    }
  }
  std::sort(table.records.begin(), table.records.end(),
            [](const auto& a, const auto& b) { return a.id() < b.id(); });
  std::set<std::string> active_names;
  for (const proto::FilesystemRecord& record : table.records) {
    if (is_active(record) && !active_names.insert(record.name()).second) {
      return error(StatusCode::kCorruption,
                   "two active filesystems in etcd are named {} (the second has id {})",
                   quote_name(record.name()), record.id());
    }
  }
  return table;
}

Task<Result<FilesystemTable>> load_filesystems(ConfigStore* store, ClusterKeys keys,
                                               Deadline deadline) {
  TESS_CO_ASSIGN_OR_RETURN(RangeResult read,
                           co_await store->get_prefix(keys.filesystems(), deadline));
  co_return decode_filesystems(read.kvs, keys);
}

uint64_t provisioned_bytes(const FilesystemTable& table, const FilesystemUsageTable& usage,
                           FilesystemId except) {
  uint64_t total = 0;
  for (const proto::FilesystemRecord& record : table.records) {
    if (FilesystemId(record.id()) == except) continue;
    if (is_active(record)) {
      total = saturating_add(total, record.capacity_bytes());
    } else {
      // Deleting: what it still occupies until purged.
      auto use = usage.find(FilesystemId(record.id()));
      if (use != usage.end()) total = saturating_add(total, use->second.used_bytes.value_or(0));
    }
  }
  return total;
}

Result<proto::FilesystemRecord> plan_filesystem_change(const FilesystemChange& change,
                                                       const FilesystemTable& table,
                                                       const FilesystemUsageTable& usage,
                                                       uint64_t usable_bytes, uint32_t next_id,
                                                       uint64_t now_unix_ms) {
  TESS_RETURN_IF_ERROR(check_filesystem_name(change.name));
  switch (change.kind) {
    case FilesystemChange::Kind::kCreate:
      return plan_create(change, table, usage, usable_bytes, next_id, now_unix_ms);
    case FilesystemChange::Kind::kUpdate:
      return plan_update(change, table, usage, usable_bytes);
    case FilesystemChange::Kind::kDelete:
      return plan_delete(change, table, usage, now_unix_ms);
  }
  TESS_ASSERT(false, "filesystem change kind {}", static_cast<int>(change.kind));
  return error(StatusCode::kInternal, "unreachable");
}

Result<uint32_t> next_filesystem_id(uint64_t counter, const FilesystemTable& table) {
  uint64_t highest = counter;
  for (const proto::FilesystemRecord& record : table.records) {
    highest = std::max<uint64_t>(highest, record.id());
  }
  if (highest >= std::numeric_limits<uint32_t>::max()) {
    return error(StatusCode::kFailedPrecondition,
                 "filesystem ids are exhausted: {} was given already", highest);
  }
  return static_cast<uint32_t>(highest + 1);
}

namespace {

// The transaction of one change (built outside the coroutine: GCC 12 mishandles braced lists of
// these inside a coroutine body).
struct FilesystemWrite {
  std::vector<Compare> compares;
  std::vector<WriteOp> ops;
  std::string record_key;
  std::string record_value;
  std::string version_value;
};

Compare revision_is(std::string key, Compare::Target target, int64_t revision) {
  return Compare{std::move(key), target, Compare::Result::kEqual, revision, {}};
}

// The comparisons: the writer still leads (its term), the version is the one the table was read
// at, and for a create, the counter is the one read and the record's key is new.
FilesystemWrite prepare_write(const ClusterKeys& keys, const FilesystemTable& table,
                              const proto::FilesystemRecord& record, bool create,
                              const std::optional<KeyValue>& counter, int64_t election_revision) {
  using Target = Compare::Target;
  FilesystemWrite write;
  write.record_key = keys.filesystem(record.id());
  write.record_value = record.SerializeAsString();
  write.version_value = std::to_string(table.version + 1);
  write.compares.push_back(
      revision_is(keys.election(), Target::kCreateRevision, election_revision));
  write.compares.push_back(table.version_mod_revision == 0
                               ? revision_is(keys.filesystems_version(), Target::kCreateRevision, 0)
                               : revision_is(keys.filesystems_version(), Target::kModRevision,
                                             table.version_mod_revision));
  write.ops.push_back(
      WriteOp{WriteOp::Kind::kPut, keys.filesystems_version(), write.version_value, {}});
  write.ops.push_back(WriteOp{WriteOp::Kind::kPut, write.record_key, write.record_value, {}});
  if (create) {
    write.compares.push_back(
        counter
            ? revision_is(keys.next_filesystem_id(), Target::kModRevision, counter->mod_revision)
            : revision_is(keys.next_filesystem_id(), Target::kCreateRevision, 0));
    write.compares.push_back(revision_is(write.record_key, Target::kCreateRevision, 0));
    write.ops.push_back(
        WriteOp{WriteOp::Kind::kPut, keys.next_filesystem_id(), std::to_string(record.id()), {}});
  }
  return write;
}

// The usable capacity from the map header in etcd; kFailedPrecondition before the cluster exists.
Result<uint64_t> usable_bytes_of(const std::optional<KeyValue>& header_value) {
  if (!header_value) {
    return error(StatusCode::kFailedPrecondition,
                 "the cluster has not been created (tess cluster create)");
  }
  proto::ClusterMapHeader header;
  if (!header.ParseFromString(header_value->value)) {
    return error(StatusCode::kCorruption, "cluster map header in etcd is malformed");
  }
  return capacity_of(header).usable_bytes;
}

// True if both the record and the version hold exactly what `write` put.
bool landed(const std::vector<KeyValue>& values, const FilesystemWrite& write,
            const ClusterKeys& keys) {
  bool record = false;
  bool version = false;
  for (const KeyValue& kv : values) {
    if (kv.key == write.record_key) record = kv.value == write.record_value;
    if (kv.key == keys.filesystems_version()) version = kv.value == write.version_value;
  }
  return record && version;
}

const char* verb_of(FilesystemChange::Kind kind) {
  switch (kind) {
    case FilesystemChange::Kind::kCreate:
      return "created";
    case FilesystemChange::Kind::kUpdate:
      return "updated";
    case FilesystemChange::Kind::kDelete:
      return "marked deleting";
  }
  return "changed";
}

}  // namespace

Task<Result<proto::FilesystemRecord>> change_filesystem(ConfigStore* store, ClusterKeys keys,
                                                        FilesystemChange change,
                                                        FilesystemUsageTable usage,
                                                        int64_t election_revision,
                                                        uint64_t now_unix_ms, Deadline deadline) {
  TESS_ASSERT(election_revision > 0, "filesystems are changed by the management leader of a term");
  const bool create = change.kind == FilesystemChange::Kind::kCreate;
  for (int attempt = 1; attempt <= kMaxFilesystemWriteAttempts; ++attempt) {
    TESS_CO_ASSIGN_OR_RETURN(FilesystemTable table,
                             co_await load_filesystems(store, keys, deadline));
    std::optional<KeyValue> counter;
    uint32_t next_id = 0;
    if (create) {
      TESS_CO_ASSIGN_OR_RETURN(counter, co_await store->get(keys.next_filesystem_id(), deadline));
      uint64_t last = 0;
      if (counter) {
        TESS_CO_ASSIGN_OR_RETURN(last, parse_u64(counter->value, counter->key));
      }
      TESS_CO_ASSIGN_OR_RETURN(next_id, next_filesystem_id(last, table));
    }
    uint64_t usable = 0;
    if (change.kind != FilesystemChange::Kind::kDelete) {
      TESS_CO_ASSIGN_OR_RETURN(std::optional<KeyValue> header,
                               co_await store->get(keys.map_header(), deadline));
      TESS_CO_ASSIGN_OR_RETURN(usable, usable_bytes_of(header));
    }
    TESS_CO_ASSIGN_OR_RETURN(
        proto::FilesystemRecord record,
        plan_filesystem_change(change, table, usage, usable, next_id, now_unix_ms));
    if (const proto::FilesystemRecord* current = table.active(change.name);
        !create && current != nullptr &&
        current->SerializeAsString() == record.SerializeAsString()) {
      co_return record;  // Nothing to change (an update to the capacity it has).
    }
    FilesystemWrite write = prepare_write(keys, table, record, create, counter, election_revision);
    Result<TxnResult> done = co_await store->txn(write.compares, write.ops, deadline);
    if (done.ok() && done->succeeded) {
      TESS_LOG_INFO("filesystem {} (id {}) {}: capacity {}", record.name(), record.id(),
                    verb_of(change.kind), describe_bytes(record.capacity_bytes()));
      co_return record;
    }
    if (!done.ok()) {
      if (!outcome_unknown(done.status())) co_return done.status();
      // The answer was lost: what is stored tells whether this very write landed. Not landed:
      // another attempt, whose comparisons keep the lost one from landing after it.
      Result<RangeResult> stored = co_await store->get_prefix(keys.filesystems(), deadline);
      if (!stored.ok()) {
        co_return done.status().with_context(
            fmt::format("filesystem {}: whether the change applied is unknown (tess fs list "
                        "shows it)",
                        quote_name(change.name)));
      }
      if (landed(stored->kvs, write, keys)) co_return record;
      TESS_LOG_WARN("a filesystem write's answer was lost and it did not land; attempt {} of {}",
                    attempt, kMaxFilesystemWriteAttempts);
      continue;
    }
    // A comparison failed: fenced (another leader), or another filesystem change came first.
    TESS_CO_ASSIGN_OR_RETURN(std::optional<KeyValue> election,
                             co_await store->get(keys.election(), deadline));
    if (!election || election->create_revision != election_revision) {
      co_return error(StatusCode::kFailedPrecondition,
                      "this host is no longer the management leader: its term {} has ended",
                      election_revision);
    }
  }
  co_return error(StatusCode::kAborted,
                  "other filesystem changes kept landing first ({} attempts); try again",
                  kMaxFilesystemWriteAttempts);
}

}  // namespace tessera
