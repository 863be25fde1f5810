// readdir and readdirplus (design 3 and 5): the entries of a directory after a cookie, in key
// order (cookie, name). A cookie is a hash of the name, not a position, so entries created or
// removed between two calls cannot shift what a resumed readdir returns: it goes on after the
// last cookie it was given, skipping nothing and repeating nothing that existed throughout. `.`
// and `..` (cookies 1 and 2) are the client's to add. A name that a cross-bucket transaction is
// changing within the answer's range makes the reader retry (answer `locked`).
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meta/keys.h"
#include "meta/names.h"
#include "meta/ops/ops.h"
#include "meta/permissions.h"

namespace tessera::meta {
namespace {

using Rows = std::vector<std::pair<std::string, std::string>>;

// Entries are answered at most this many at a time, and at least one.
uint32_t limit_of(const proto::MetaReaddir& op) {
  if (op.limit() == 0 || op.limit() > kMaxReaddirEntries) return kMaxReaddirEntries;
  return op.limit();
}

// One answer's rows, and whether no row follows them.
struct Page {
  Rows rows;
  bool end = false;
};

// The entry rows after `cookie`, at most `limit` of them unless that would split the names of
// one cookie (about one pair in 2^31 names of a directory): a later call resumes after the last
// cookie answered, so a group split across two answers would lose its rest.
Result<Page> page_after(const OpContext& context, InodeId dir, uint64_t cookie, uint32_t limit) {
  std::string stop = entries_end(context.bucket, context.fs, dir);
  Page page;
  TESS_ASSIGN_OR_RETURN(
      page.rows, context.store.scan(entries_from(context.bucket, context.fs, dir, cookie + 1), stop,
                                    size_t{limit} + 1));
  page.end = page.rows.size() <= limit;
  if (page.end) return page;
  Rows& rows = page.rows;
  uint64_t last = entry_cookie(rows[limit - 1].first);
  if (entry_cookie(rows[limit].first) != last) {
    rows.pop_back();
    return page;
  }
  // Finish the group: every row of cookie `last` from the first one not yet answered. No bound:
  // a group is as large as its hash collisions.
  std::string group_end = entries_from(context.bucket, context.fs, dir, last + 1);
  TESS_ASSIGN_OR_RETURN(Rows rest, context.store.scan(rows[limit].first, group_end,
                                                      std::numeric_limits<size_t>::max()));
  rows.pop_back();
  std::move(rest.begin(), rest.end(), std::back_inserter(rows));
  TESS_ASSIGN_OR_RETURN(Rows after, context.store.scan(group_end, stop, 1));
  page.end = after.empty();
  return page;
}

// Whether a cross-bucket transaction holds a name of `dir` whose cookie is in (after, through]:
// a pending create, removal or rename there, whose state before the decision the answer must not
// show (cross-bucket transactions design 4). Entry locks are keyed by name, not cookie, so every
// lock of `dir` is read; there are few, each held for milliseconds.
Result<bool> pending_in(const OpContext& context, InodeId dir, uint64_t after, uint64_t through) {
  std::string begin = entry_locks_begin(context.bucket, context.fs, dir);
  TESS_ASSIGN_OR_RETURN(Rows locks,
                        context.store.scan(begin, entry_locks_end(context.bucket, context.fs, dir),
                                           std::numeric_limits<size_t>::max()));
  for (const auto& [key, value] : locks) {
    uint64_t cookie = cookie_of(std::string_view(key).substr(begin.size()));
    if (cookie > after && cookie <= through) return true;
  }
  return false;
}

// The attributes of a child in this bucket, or nothing while a transaction holds its inode (the
// client then asks getattr, which waits for the decision).
Result<std::optional<proto::Inode>> attributes_of(const OpContext& context, InodeId dir,
                                                  const proto::MetaDirEntry& entry) {
  InodeId child(entry.inode());
  TESS_ASSIGN_OR_RETURN(auto holder,
                        lock_holder(context, inode_lock_key(context.bucket, context.fs, child)));
  if (holder) return std::optional<proto::Inode>();
  TESS_ASSIGN_OR_RETURN(auto inode, load_inode(context, child));
  if (!inode) {
    return error(StatusCode::kCorruption, "entry '{}' of {:x} names missing inode {:x}",
                 entry.name(), dir.value(), child.value());
  }
  return inode;
}

Result<proto::MetaDirEntry> entry_of(const OpContext& context, InodeId dir, const std::string& key,
                                     const std::string& value, bool attributes) {
  proto::DirEntry stored;
  if (!stored.ParseFromString(value)) {
    return error(StatusCode::kCorruption, "an entry of {:x} in bucket {} unreadable", dir.value(),
                 context.bucket);
  }
  proto::MetaDirEntry entry;
  entry.set_name(std::string(entry_name(key)));
  entry.set_inode(stored.inode());
  entry.set_type(stored.type());
  entry.set_cookie(entry_cookie(key));
  if (attributes && is_local(context, InodeId(stored.inode()))) {
    TESS_ASSIGN_OR_RETURN(auto inode, attributes_of(context, dir, entry));
    if (inode) *entry.mutable_attributes() = std::move(*inode);
  }
  return entry;
}

// A directory the caller may list: read permission, as opendir needs (Linux lists a directory
// it may read but not search, as `ls` of a mode 0444 directory shows names only).
Result<Checked<proto::Inode>> listable(const OpContext& context, InodeId dir) {
  TESS_ASSIGN_OR_RETURN(auto found, existing_inode(context, dir));
  if (!found.ok()) return found;
  if (found->type() != proto::FILE_TYPE_DIRECTORY) {
    return Checked<proto::Inode>(
        refuse(ENOTDIR, fmt::format("inode {:x} is not a directory", dir.value())));
  }
  if (!may_access(context.caller, *found, kMayRead)) {
    return Checked<proto::Inode>(
        refuse(EACCES, fmt::format("no permission to list directory {:x}", dir.value())));
  }
  return found;
}

}  // namespace

Result<proto::MetaResult> readdir(const OpContext& context, const proto::MetaReaddir& op) {
  InodeId dir_id(op.dir());
  TESS_ASSIGN_OR_RETURN(auto dir, listable(context, dir_id));
  if (!dir.ok()) return dir.refusal();
  // The children's attributes are what lookups would answer, which need search permission.
  bool attributes = op.plus() && may_access(context.caller, *dir, kMayExecute);
  proto::MetaResult result;
  // Cookies are below 2^62 + 3: none follows the largest.
  if (op.cookie() == std::numeric_limits<uint64_t>::max()) {
    result.set_end(true);
    return result;
  }
  TESS_ASSIGN_OR_RETURN(Page page, page_after(context, dir_id, op.cookie(), limit_of(op)));
  uint64_t through =
      page.end ? std::numeric_limits<uint64_t>::max() : entry_cookie(page.rows.back().first);
  TESS_ASSIGN_OR_RETURN(bool pending, pending_in(context, dir_id, op.cookie(), through));
  if (pending) return locked(fmt::format("an entry of directory {:x}", op.dir()));
  for (const auto& [key, value] : page.rows) {
    TESS_ASSIGN_OR_RETURN(*result.add_entries(), entry_of(context, dir_id, key, value, attributes));
  }
  result.set_end(page.end);
  return result;
}

}  // namespace tessera::meta
