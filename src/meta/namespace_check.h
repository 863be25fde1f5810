// The namespace checker behind `tess fsck` (docs/design/2026-12-05-namespace-check.md): walks a
// filesystem online through ordinary linearizable reads and reports what breaks the namespace's
// rules: an entry naming a missing inode or an inode of another type, a link count that is not
// the number of entries (plus subdirectories), a directory whose recorded parent is not the one
// holding its entry, a directory reached twice (a cycle or a second link), an inode no entry
// reaches, and a transaction intent older than the recovery should ever leave one.
//
// Online: the filesystem may change while it is walked, which makes a walk see states that never
// existed together. A pass (walk, then an inventory of every bucket's inodes) that finds anything
// is followed by a second pass, and only what both passes found with the same evidence is
// reported; the rest is counted as `unsettled`. On a quiet filesystem the answer is exact. Stale
// intents are listed once, before the walk: an intent's age is a fact, not a view.
//
// Repair (`repair`): stale intents are driven to their end by recover_transactions, exactly as a
// bucket leader's recovery would, before the walk (their locks would stop it). Nothing else is
// changed: the other findings are reported for the operator (their repairs need commands of their
// own; the design note says which are safe). Without repair, a walk that meets a lock held longer
// than lock_wait fails (kUnavailable) and says so.
//
// Reads go through `transport` as a caller the buckets do not check (root); answers `locked` are
// retried after a short wait. Memory: one small record per inode reached (the limit is
// max_inodes) and at most max_findings findings kept in full.
//
// Failures: a failed Result when a bucket could not be read before the deadline (nothing is
// concluded from a partial walk), when the filesystem holds more than max_inodes inodes, or when a
// bucket answered an error of its own (corruption).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/strong_id.h"
#include "meta/meta_transport.h"
#include "meta/txn_recovery.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::meta {

enum class FindingKind {
  kDanglingEntry,         // An entry names an inode that does not exist.
  kTypeMismatch,          // An entry's type is not its inode's.
  kWrongLinkCount,        // nlink is not the entries naming the inode (directories: 2 + subdirs).
  kWrongParent,           // A directory's recorded parent does not hold its entry.
  kDirectoryLinkedTwice,  // A second entry names a directory (a cycle, or a hard link).
  kUnreachableInode,      // An inode that no entry reached from the root names.
  kStaleIntent,           // A transaction intent older than intent_age.
};
inline constexpr int kFindingKindCount = 7;
std::string_view name_of(FindingKind kind);

struct Finding {
  FindingKind kind = FindingKind::kDanglingEntry;
  InodeId inode;     // The inode concerned (0 for an intent).
  InodeId dir;       // The directory of the entry concerned, if any.
  std::string name;  // The entry's name, if any.
  std::string detail;
  // What makes two passes' findings the same one: kind, ids, name and detail.
  std::string identity() const;
};

struct CheckProgress {
  uint32_t pass = 1;
  uint64_t directories = 0;
  uint64_t entries = 0;
};

struct CheckOptions {
  FilesystemId fs;            // Required.
  uint32_t bucket_count = 0;  // The cluster's; required.
  const Clock* clock = &RealClock::instance();
  // Wall-clock milliseconds since the Unix epoch, the clock of log times (intents' ages);
  // nullptr: the system clock.
  std::function<uint64_t()> unix_ms;
  // An intent older than this is a finding: the buckets' recovery ends every abandoned
  // transaction within seconds of its timeout (RecoveryLoopOptions).
  Clock::Duration intent_age = std::chrono::seconds(60);
  // A read answered `locked` is retried for this long, then the check fails: a live transaction
  // holds its locks for milliseconds, only a stale intent (see repair) for longer.
  Clock::Duration lock_wait = std::chrono::seconds(10);
  bool repair = false;
  uint32_t page = 1000;                                // Entries or inodes per read.
  uint64_t max_inodes = 20'000'000;                    // About 64 bytes of memory each.
  size_t max_findings = 1000;                          // Kept in full; the rest only counted.
  std::function<void(const CheckProgress&)> progress;  // After every directory; may be empty.
};

struct CheckReport {
  bool root_exists = false;  // A filesystem never used has no root yet, and nothing else.
  uint32_t passes = 0;
  // Of the last pass.
  uint64_t directories = 0;
  uint64_t files = 0;  // Every inode reached that is not a directory.
  uint64_t entries = 0;
  uint64_t inodes_listed = 0;
  // Found by every pass (up to max_findings kept; findings_total counts all).
  std::vector<Finding> findings;
  uint64_t findings_total = 0;
  uint64_t findings_by_kind[kFindingKindCount] = {};  // Of the findings kept.
  // Found by the first pass but not by the second: changes made while the check ran.
  uint64_t unsettled = 0;
  // With repair: what recovery did to the stale intents.
  RecoveryCounts repaired;
  bool clean() const { return findings_total == 0; }
};

// REQUIRES: options.fs set and 0 < options.bucket_count <= kMaxBucketCount; `transport` outlives
// the call.
Task<Result<CheckReport>> check_namespace(MetaTransport& transport, CheckOptions options,
                                          Deadline deadline);

}  // namespace tessera::meta
