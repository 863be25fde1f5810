// Filesystems in etcd: their records, the rules for names and capacity, and the operations that
// change them, each one compare-and-swap transaction (docs/design/2026-12-05-filesystems.md).
//
// Keys (ClusterKeys): ids/next-filesystem (the last id given), filesystems/version (a change
// counter every filesystem transaction compares and bumps, so that the rules, which span every
// record, are checked against the table as it stands when the change lands) and
// filesystems/records/<id> (proto::FilesystemRecord).
//
// The rules are pure functions; the operations are coroutines on the caller's executor that make
// every store call with the one deadline they are given and return every failure as a Status:
//   kInvalidArgument     a name or capacity that breaks a rule (the message names it);
//   kAlreadyExists       an active filesystem has the name;
//   kNotFound            no active filesystem has the name;
//   kNoSpace             the capacity does not fit in what is left unprovisioned (both numbers);
//   kFailedPrecondition  the cluster has not been created, the capacity is below what is used,
//                        a delete of a filesystem not known to be empty without force, too many
//                        filesystems, or the writer no longer leads (fenced);
//   kCorruption          what etcd holds under filesystems/ cannot be read (the key is named);
//   kAborted             other changes kept landing first; try again;
//   and the store's own errors (config_store.h), outcome-unknown included.
// Data read from etcd is decoded without exceptions (protobuf, parse.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/strong_id.h"
#include "base/units.h"
#include "cluster/cluster_map.h"
#include "cluster/config_store.h"
#include "proto/cluster.pb.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera {

// Records kept at once, deleting ones included: the whole table is one etcd range read.
inline constexpr size_t kMaxFilesystems = 1024;
inline constexpr size_t kMaxFilesystemNameLength = 64;
// Smaller capacities are a unit mistake (bytes typed for MiB), not a filesystem.
inline constexpr uint64_t kMinFilesystemCapacityBytes = kMiB;
// Attempts of one change: a lost answer found not applied, or another change landed first.
inline constexpr int kMaxFilesystemWriteAttempts = 5;

// What a filesystem holds, as the namespace (files: inodes but the root) and the data path
// (used_bytes) will report it. nullopt: not reported (nothing reports yet, design note 6); the
// rules then read used as 0 and emptiness as unknown.
struct FilesystemUsage {
  std::optional<uint64_t> used_bytes;
  std::optional<uint64_t> files;
};
using FilesystemUsageTable = std::map<FilesystemId, FilesystemUsage>;

// The filesystems as stored, read at one etcd revision.
struct FilesystemTable {
  std::vector<proto::FilesystemRecord> records;  // In id order.
  uint64_t version = 0;                          // filesystems/version; 0 if absent.
  int64_t version_mod_revision = 0;              // 0 if absent.

  // The active filesystem named `name`, nullptr if none.
  const proto::FilesystemRecord* active(std::string_view name) const;
};

// "name" as an error message may quote it: non-printable bytes as \xNN, at most 80 characters.
std::string quote_name(std::string_view name);
// The name rule: 1 to 64 characters, [A-Za-z0-9][A-Za-z0-9._-]*. kInvalidArgument naming what is
// wrong.
Status check_filesystem_name(std::string_view name);
// "1073741824 bytes (1.0 GiB)": exact, and readable.
std::string describe_bytes(uint64_t bytes);

// The active filesystem named `name`: kInvalidArgument if the name breaks the rule, kNotFound if
// no active filesystem has it (saying so when one of that name is being deleted).
Result<proto::FilesystemRecord> find_filesystem(const FilesystemTable& table,
                                                std::string_view name);

// Decodes the keys read under ClusterKeys::filesystems(). kCorruption naming the key for a record
// that does not parse, whose id is 0 or not its key's, whose name or state is invalid, or that
// takes the name of another active one, and for a version that is not a number. Other keys under
// the prefix are skipped.
Result<FilesystemTable> decode_filesystems(const std::vector<KeyValue>& values,
                                           const ClusterKeys& keys);
Task<Result<FilesystemTable>> load_filesystems(ConfigStore* store, ClusterKeys keys,
                                               Deadline deadline);

// The capacity filesystems take from the cluster: the capacities of the active ones and the used
// bytes of the deleting ones (unknown: 0), leaving `except` out.
uint64_t provisioned_bytes(const FilesystemTable& table, const FilesystemUsageTable& usage,
                           FilesystemId except = FilesystemId());

// One change, as the REST API asks for it.
struct FilesystemChange {
  enum class Kind { kCreate, kUpdate, kDelete };
  Kind kind = Kind::kCreate;
  std::string name;
  // Create: the capacity (nullopt: what is left unprovisioned). Update: the new one (required).
  std::optional<uint64_t> capacity_bytes;
  bool force = false;  // Delete: even if not known to be empty.
};

// The record to write for `change`, against `table` and the cluster's `usable_bytes` (pure; the
// rules of the design note 4, 5 and 7). For a create, `next_id` is the id it takes
// (next_filesystem_id). Returns the record unchanged when an update asks for the capacity it has.
Result<proto::FilesystemRecord> plan_filesystem_change(const FilesystemChange& change,
                                                       const FilesystemTable& table,
                                                       const FilesystemUsageTable& usage,
                                                       uint64_t usable_bytes, uint32_t next_id,
                                                       uint64_t now_unix_ms);

// The id a create takes: one above both the counter's last id and the highest id stored (the
// counter could only be behind after an etcd restore). kFailedPrecondition once ids run out.
Result<uint32_t> next_filesystem_id(uint64_t counter, const FilesystemTable& table);

// Applies `change` in one transaction fenced by the writer's management term
// (`election_revision`, the create revision of election/mgmt) and compared against the version
// (and for a create the id counter and the new record's key): reads the table, the counter and the
// map header, plans, writes; retries a change another one beat, or whose lost answer is found not
// applied, up to kMaxFilesystemWriteAttempts in all, each against a fresh read. Returns the record
// as written. `usage`: by filesystem id, what each holds. REQUIRES: election_revision > 0.
Task<Result<proto::FilesystemRecord>> change_filesystem(ConfigStore* store, ClusterKeys keys,
                                                        FilesystemChange change,
                                                        FilesystemUsageTable usage,
                                                        int64_t election_revision,
                                                        uint64_t now_unix_ms, Deadline deadline);

}  // namespace tessera
