#include "meta/namespace_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "base/assert.h"
#include "meta/keys.h"
#include "meta/routing.h"

namespace tessera::meta {

std::string_view name_of(FindingKind kind) {
  switch (kind) {
    case FindingKind::kDanglingEntry:
      return "dangling-entry";
    case FindingKind::kTypeMismatch:
      return "type-mismatch";
    case FindingKind::kWrongLinkCount:
      return "wrong-link-count";
    case FindingKind::kWrongParent:
      return "wrong-parent";
    case FindingKind::kDirectoryLinkedTwice:
      return "directory-linked-twice";
    case FindingKind::kUnreachableInode:
      return "unreachable-inode";
    case FindingKind::kStaleIntent:
      return "stale-intent";
  }
  return "unknown";
}

std::string Finding::identity() const {
  return fmt::format("{}/{:x}/{:x}/{}/{}", name_of(kind), inode.value(), dir.value(), name, detail);
}

namespace {

std::string_view type_name(proto::FileType type) {
  switch (type) {
    case proto::FILE_TYPE_REGULAR:
      return "file";
    case proto::FILE_TYPE_DIRECTORY:
      return "directory";
    case proto::FILE_TYPE_SYMLINK:
      return "symlink";
    case proto::FILE_TYPE_FIFO:
      return "fifo";
    case proto::FILE_TYPE_SOCKET:
      return "socket";
    case proto::FILE_TYPE_CHAR_DEVICE:
      return "character device";
    case proto::FILE_TYPE_BLOCK_DEVICE:
      return "block device";
    default:
      return "unknown";
  }
}

// What a pass keeps of each inode it reached.
struct Reached {
  proto::FileType type = proto::FILE_TYPE_UNSPECIFIED;
  uint32_t nlink = 0;
  uint32_t links = 0;    // Entries naming it.
  uint32_t subdirs = 0;  // Directories: entries of type directory in it.
};

// One walk and inventory, and what it found.
struct Pass {
  bool root_exists = false;
  uint64_t directories = 0;
  uint64_t files = 0;
  uint64_t entries = 0;
  uint64_t inodes_listed = 0;
  std::vector<Finding> findings;  // At most max_findings.
  uint64_t findings_total = 0;
};

class Checker {
 public:
  Checker(MetaTransport& transport, const CheckOptions& options, Deadline deadline, uint32_t number,
          uint64_t stale_intents)
      : transport_(transport),
        options_(options),
        deadline_(deadline),
        number_(number),
        stale_intents_(stale_intents) {}

  Task<Result<Pass>> run() {
    InodeId root = root_inode(options_.fs, options_.bucket_count);
    TESS_CO_ASSIGN_OR_RETURN(auto root_answer, co_await getattr(root));
    if (root_answer.errno_value() == 0) {
      pass_.root_exists = true;
      TESS_CO_RETURN_IF_ERROR(note_reached(root, root_answer.inode()));
      queue_.push_back(root);
      queued_.insert(root.value());
      while (!queue_.empty()) {
        InodeId dir = queue_.front();
        queue_.pop_front();
        TESS_CO_RETURN_IF_ERROR(co_await walk_directory(dir));
        ++pass_.directories;
        if (options_.progress) options_.progress({number_, pass_.directories, pass_.entries});
      }
      check_link_counts();
    } else if (root_answer.errno_value() != ENOENT) {
      co_return Status(
          StatusCode::kInternal,
          fmt::format("the root directory could not be read: {}", root_answer.message()));
    }
    for (uint32_t b = 0; b < options_.bucket_count; ++b) {
      TESS_CO_RETURN_IF_ERROR(co_await list_inodes(BucketId(b)));
    }
    co_return std::move(pass_);
  }

 private:
  // A read of the bucket that routing names (or `bucket`), retried while it answers `locked`.
  Task<Result<proto::MetaResult>> read(proto::MetaRead read, BucketId bucket) {
    read.set_fs(options_.fs.value());
    Clock::Duration wait = std::chrono::milliseconds(1);
    Clock::TimePoint give_up = options_.clock->after(options_.lock_wait);
    for (;;) {
      TESS_CO_ASSIGN_OR_RETURN(auto answer, co_await transport_.read(bucket, read, deadline_));
      if (!answer.locked()) co_return answer;
      if (options_.clock->now() + wait >= give_up || deadline_.remaining() <= wait) {
        co_return Status(
            StatusCode::kUnavailable,
            fmt::format(
                "bucket {} stayed locked by a transaction for longer than {} ms ({}){}", bucket,
                std::chrono::duration_cast<std::chrono::milliseconds>(options_.lock_wait).count(),
                answer.message(),
                stale_intents_ > 0 ? fmt::format("; {} stale intents hold locks: repair "
                                                 "ends them",
                                                 stale_intents_)
                                   : ""));
      }
      (void)co_await options_.clock->sleep_for(wait);
      wait = std::min<Clock::Duration>(wait * 2, std::chrono::milliseconds(50));
    }
  }
  Task<Result<proto::MetaResult>> read(proto::MetaRead read) {
    BucketId bucket = bucket_for(read);
    co_return co_await this->read(std::move(read), bucket);
  }
  Task<Result<proto::MetaResult>> getattr(InodeId inode) {
    proto::MetaRead op;
    op.mutable_getattr()->set_inode(inode.value());
    co_return co_await read(std::move(op));
  }
  Task<Result<proto::MetaResult>> lookup(InodeId dir, const std::string& name) {
    proto::MetaRead op;
    op.mutable_lookup()->set_parent(dir.value());
    op.mutable_lookup()->set_name(name);
    co_return co_await read(std::move(op));
  }

  void add(Finding finding) {
    ++pass_.findings_total;
    if (pass_.findings.size() < options_.max_findings) pass_.findings.push_back(std::move(finding));
  }

  Status note_reached(InodeId id, const proto::Inode& inode) {
    auto [at, added] = reached_.try_emplace(id.value());
    if (!added) return Status();
    if (reached_.size() > options_.max_inodes) {
      return Status(StatusCode::kOutOfRange,
                    fmt::format("the filesystem holds more than {} inodes, the checker's limit",
                                options_.max_inodes));
    }
    at->second.type = inode.type();
    at->second.nlink = inode.nlink();
    // Directories are counted when walked (one reached again through a cycle is not).
    if (inode.type() != proto::FILE_TYPE_DIRECTORY) ++pass_.files;
    return Status();
  }

  // Every entry of `dir`, a page at a time.
  Task<Status> walk_directory(InodeId dir) {
    uint64_t cookie = 0;
    for (;;) {
      proto::MetaRead op;
      op.mutable_readdir()->set_dir(dir.value());
      op.mutable_readdir()->set_cookie(cookie);
      op.mutable_readdir()->set_limit(options_.page);
      op.mutable_readdir()->set_plus(true);
      auto answer = co_await read(op);
      // readdirplus refuses a page whose local child is missing (a damaged entry); the names
      // alone are still readable, and getattr then finds what is missing.
      if (!answer.ok() && answer.status().code() == StatusCode::kCorruption) {
        op.mutable_readdir()->set_plus(false);
        answer = co_await read(op);
      }
      TESS_CO_ASSIGN_OR_RETURN(auto page, std::move(answer));
      // Removed or replaced since its entry was read: a change, which the second pass settles.
      if (page.errno_value() != 0) co_return Status();
      for (const proto::MetaDirEntry& entry : page.entries()) {
        TESS_CO_RETURN_IF_ERROR(co_await check_entry(dir, entry));
        cookie = entry.cookie();
      }
      if (page.end() || page.entries_size() == 0) co_return Status();
    }
  }

  Task<Status> check_entry(InodeId dir, const proto::MetaDirEntry& entry) {
    ++pass_.entries;
    InodeId child(entry.inode());
    proto::Inode attributes = entry.attributes();
    if (!entry.has_attributes()) {
      TESS_CO_ASSIGN_OR_RETURN(auto answer, co_await getattr(child));
      if (answer.errno_value() == ENOENT) co_return co_await check_dangling(dir, entry);
      if (answer.errno_value() != 0) {
        co_return Status(StatusCode::kInternal, fmt::format("inode {:x} could not be read: {}",
                                                            child.value(), answer.message()));
      }
      attributes = answer.inode();
    }
    TESS_CO_RETURN_IF_ERROR(note_reached(child, attributes));
    Reached& reached = reached_[child.value()];
    ++reached.links;
    if (entry.type() == proto::FILE_TYPE_DIRECTORY) ++reached_[dir.value()].subdirs;
    if (entry.type() != attributes.type()) {
      add({FindingKind::kTypeMismatch, child, dir, entry.name(),
           fmt::format("entry of type {} names an inode of type {}", type_name(entry.type()),
                       type_name(attributes.type()))});
    }
    if (attributes.type() != proto::FILE_TYPE_DIRECTORY) co_return Status();
    if (!queued_.insert(child.value()).second) {
      add({FindingKind::kDirectoryLinkedTwice, child, dir, entry.name(),
           "a directory already reached from the root"});
      co_return Status();
    }
    if (attributes.parent() != dir.value()) {
      add({FindingKind::kWrongParent, child, dir, entry.name(),
           fmt::format("records parent {:x}", attributes.parent())});
    }
    queue_.push_back(child);
    co_return Status();
  }

  // The entry named an inode that getattr did not find. Inode ids are never reused, so if the
  // entry still names it afterwards, the entry outlived its inode; if not, an unlink raced the
  // walk.
  Task<Status> check_dangling(InodeId dir, const proto::MetaDirEntry& entry) {
    auto answer = co_await lookup(dir, entry.name());
    // A lookup in the inode's own bucket refuses an entry naming a missing inode outright.
    bool refused_as_corrupt = !answer.ok() && answer.status().code() == StatusCode::kCorruption;
    if (refused_as_corrupt) {
      add({FindingKind::kDanglingEntry, InodeId(entry.inode()), dir, entry.name(),
           "names a missing inode"});
      co_return Status();
    }
    TESS_CO_ASSIGN_OR_RETURN(auto again, std::move(answer));
    if (again.errno_value() != 0 || again.entries_size() == 0 ||
        again.entries(0).inode() != entry.inode()) {
      co_return Status();
    }
    add({FindingKind::kDanglingEntry, InodeId(entry.inode()), dir, entry.name(),
         "names a missing inode"});
    co_return Status();
  }

  void check_link_counts() {
    for (const auto& [id, reached] : reached_) {
      bool directory = reached.type == proto::FILE_TYPE_DIRECTORY;
      uint32_t expected = directory ? 2 + reached.subdirs : reached.links;
      if (reached.nlink != expected) {
        add({FindingKind::kWrongLinkCount, InodeId(id), InodeId(), "",
             fmt::format("nlink {}, expected {} ({} entries{})", reached.nlink, expected,
                         reached.links,
                         directory ? fmt::format(", {} subdirectories", reached.subdirs) : "")});
      }
    }
  }

  // The bucket's inodes of this filesystem that the walk did not reach.
  Task<Status> list_inodes(BucketId bucket) {
    uint64_t after = 0;
    for (;;) {
      proto::MetaRead op;
      op.mutable_list_inodes()->set_after(after);
      op.mutable_list_inodes()->set_limit(options_.page);
      TESS_CO_ASSIGN_OR_RETURN(auto page, co_await read(std::move(op), bucket));
      if (page.errno_value() != 0) {
        co_return Status(
            StatusCode::kPermissionDenied,
            fmt::format("bucket {} refused to list inodes: {}", bucket, page.message()));
      }
      for (const proto::Inode& inode : page.inodes()) {
        ++pass_.inodes_listed;
        after = inode.id();
        if (reached_.contains(inode.id())) continue;
        add({FindingKind::kUnreachableInode, InodeId(inode.id()), InodeId(), "",
             fmt::format("{}, nlink {}", type_name(inode.type()), inode.nlink())});
      }
      if (page.end() || page.inodes_size() == 0) co_return Status();
    }
  }

  MetaTransport& transport_;
  const CheckOptions& options_;
  Deadline deadline_;
  uint32_t number_;
  uint64_t stale_intents_;
  Pass pass_;
  std::unordered_map<uint64_t, Reached> reached_;
  std::unordered_set<uint64_t> queued_;  // Directories reached (queued once each).
  std::deque<InodeId> queue_;
};

uint64_t stale_before_ms(const CheckOptions& options) {
  uint64_t now_ms = options.unix_ms();
  auto age_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(options.intent_age).count());
  return now_ms > age_ms ? now_ms - age_ms : 0;
}

// The filesystem's intents older than intent_age in every bucket, as findings (an old intent is
// a fact, not a walk's view: no second pass), and the buckets that hold them.
Task<Result<std::vector<Finding>>> stale_intents(MetaTransport& transport,
                                                 const CheckOptions& options, Deadline deadline,
                                                 std::set<BucketId>* buckets) {
  std::vector<Finding> findings;
  for (uint32_t b = 0; b < options.bucket_count; ++b) {
    BucketId bucket(b);
    proto::MetaRead op;
    op.set_fs(options.fs.value());
    op.mutable_list_intents()->set_before_log_ms(stale_before_ms(options));
    TESS_CO_ASSIGN_OR_RETURN(auto listed, co_await transport.read(bucket, std::move(op), deadline));
    for (const proto::TxnIntent& intent : listed.intents()) {
      if (FilesystemId(intent.fs()) != options.fs) continue;
      buckets->insert(bucket);
      findings.push_back({FindingKind::kStaleIntent, InodeId(), InodeId(), "",
                          fmt::format("bucket {}: transaction {}:{} {}, written at {} ms", bucket,
                                      intent.id().coordinator(), intent.id().begin_index(),
                                      intent.state() == proto::TXN_STATE_PREPARED    ? "prepared"
                                      : intent.state() == proto::TXN_STATE_COMMITTED ? "committed"
                                                                                     : "preparing",
                                      intent.log_time_ms())});
    }
  }
  co_return findings;
}

void fill(CheckReport& report, const Pass& pass) {
  report.root_exists = pass.root_exists;
  report.directories = pass.directories;
  report.files = pass.files;
  report.entries = pass.entries;
  report.inodes_listed = pass.inodes_listed;
}

}  // namespace

Task<Result<CheckReport>> check_namespace(MetaTransport& transport, CheckOptions options,
                                          Deadline deadline) {
  TESS_ASSERT(options.fs.value() != 0 && options.bucket_count > 0 &&
                  options.bucket_count <= kMaxBucketCount,
              "a namespace check needs a filesystem and the bucket count");
  if (!options.unix_ms) options.unix_ms = system_unix_ms;
  if (options.page == 0) options.page = 1;
  CheckReport report;
  // Intents first: their locks would stop the walk, so a repair ends them before it.
  std::set<BucketId> intent_buckets;
  TESS_CO_ASSIGN_OR_RETURN(std::vector<Finding> intents,
                           co_await stale_intents(transport, options, deadline, &intent_buckets));
  if (options.repair) {
    for (BucketId bucket : intent_buckets) {
      TESS_CO_ASSIGN_OR_RETURN(
          RecoveryCounts counts,
          co_await recover_transactions(transport, bucket, stale_before_ms(options), deadline));
      report.repaired.aborted += counts.aborted;
      report.repaired.finished += counts.finished;
      report.repaired.waiting += counts.waiting;
    }
  }
  uint64_t holding_locks = options.repair ? 0 : intents.size();
  Checker first_checker(transport, options, deadline, 1, holding_locks);
  TESS_CO_ASSIGN_OR_RETURN(Pass confirmed, co_await first_checker.run());
  report.passes = 1;
  fill(report, confirmed);
  if (confirmed.findings_total > 0) {
    Checker second_checker(transport, options, deadline, 2, holding_locks);
    TESS_CO_ASSIGN_OR_RETURN(Pass second, co_await second_checker.run());
    report.passes = 2;
    fill(report, second);
    std::set<std::string> again;
    for (const Finding& finding : second.findings) again.insert(finding.identity());
    std::vector<Finding> both;
    for (Finding& finding : confirmed.findings) {
      if (again.contains(finding.identity())) both.push_back(std::move(finding));
    }
    // Findings past max_findings were counted, not kept, so not compared: the smaller count of
    // the two passes stands for them.
    uint64_t uncompared = std::min(confirmed.findings_total, second.findings_total) -
                          std::min<uint64_t>(confirmed.findings.size(), second.findings.size());
    report.unsettled = confirmed.findings_total - both.size() - uncompared;
    confirmed.findings_total = both.size() + uncompared;
    confirmed.findings = std::move(both);
  }
  report.findings_total = intents.size() + confirmed.findings_total;
  report.findings = std::move(intents);
  for (Finding& finding : confirmed.findings) {
    if (report.findings.size() >= options.max_findings) break;
    report.findings.push_back(std::move(finding));
  }
  for (const Finding& finding : report.findings) {
    ++report.findings_by_kind[static_cast<int>(finding.kind)];
  }
  co_return report;
}

}  // namespace tessera::meta
