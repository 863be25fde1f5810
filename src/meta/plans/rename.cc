// rename across buckets (design 1 and 5): the source entry in its directory's bucket
// (coordinator); the destination entry in its directory's bucket; the moved inode (ctime, and its
// parent when a directory changes directory); a replaced inode (a link less, or the empty
// directory removed); and, when a directory changes directory, the filesystem's rename lock in the
// root's bucket, under which the destination's ancestry is walked to refuse a cycle.
#include <cerrno>

#include "meta/keys.h"
#include "meta/names.h"
#include "meta/permissions.h"
#include "meta/plans/plans.h"

namespace tessera::meta {
namespace {

constexpr uint32_t kNoReplace = 1;
constexpr uint32_t kExchange = 2;

bool is_directory(const proto::MetaDirEntry& entry) {
  return entry.type() == proto::FILE_TYPE_DIRECTORY;
}

// Write and search on a directory the entry changes in, and the sticky rule for the entry's
// inode. A refusal, or nullopt.
std::optional<proto::MetaResult> may_change(const proto::Caller& caller, const proto::Inode& dir,
                                            const proto::Inode* child) {
  if (!may_access(caller, dir, kMayWrite | kMayExecute)) {
    return refuse(EACCES, fmt::format("no permission on directory {:x}", dir.id()));
  }
  if (child != nullptr && !may_unlink_from(caller, dir, *child)) {
    return refuse(EPERM, fmt::format("directory {:x} is sticky", dir.id()));
  }
  return std::nullopt;
}

}  // namespace

Task<Result<Plan>> plan_rename(PlanContext& context, const proto::MetaRename& op) {
  std::string why;
  if ((op.flags() & ~(kNoReplace | kExchange)) != 0 || op.flags() == (kNoReplace | kExchange)) {
    co_return final_answer(refuse(EINVAL, fmt::format("rename flags {:#x}", op.flags())));
  }
  if (int bad = check_name(op.name(), why); bad != 0) co_return final_answer(refuse(bad, why));
  if (int bad = check_name(op.new_name(), why); bad != 0) co_return final_answer(refuse(bad, why));
  bool exchange = (op.flags() & kExchange) != 0;
  InodeId from_dir_id(op.parent());
  InodeId to_dir_id(op.new_parent());

  TESS_CO_ASSIGN_OR_RETURN(auto from_dir, co_await context.inode(from_dir_id));
  if (!from_dir.ok()) co_return final_answer(from_dir.refusal());
  TESS_CO_ASSIGN_OR_RETURN(auto to_dir, co_await context.inode(to_dir_id));
  if (!to_dir.ok()) co_return final_answer(to_dir.refusal());
  if (to_dir->type() != proto::FILE_TYPE_DIRECTORY) {
    co_return final_answer(refuse(ENOTDIR, "the new parent is not a directory"));
  }
  TESS_CO_ASSIGN_OR_RETURN(auto source, co_await context.entry(from_dir_id, op.name()));
  if (!source.ok()) co_return final_answer(source.refusal());
  if (!*source) co_return final_answer(refuse(ENOENT, fmt::format("no '{}'", op.name())));
  TESS_CO_ASSIGN_OR_RETURN(auto target, co_await context.entry(to_dir_id, op.new_name()));
  if (!target.ok()) co_return final_answer(target.refusal());
  const proto::MetaDirEntry& from = **source;
  const std::optional<proto::MetaDirEntry>& to = *target;
  if (to && to->inode() == from.inode()) co_return final_answer(proto::MetaResult());
  if (exchange && !to) co_return final_answer(refuse(ENOENT, "nothing to exchange with"));
  if (!exchange && to && (op.flags() & kNoReplace) != 0) {
    co_return final_answer(refuse(EEXIST, fmt::format("'{}' exists", op.new_name())));
  }
  if (!exchange && to && is_directory(from) && !is_directory(*to)) {
    co_return final_answer(refuse(ENOTDIR, "a directory cannot replace a file"));
  }
  if (!exchange && to && !is_directory(from) && is_directory(*to)) {
    co_return final_answer(refuse(EISDIR, "a file cannot replace a directory"));
  }

  InodeId moved_id(from.inode());
  TESS_CO_ASSIGN_OR_RETURN(auto moved, co_await context.inode(moved_id));
  if (!moved.ok()) co_return final_answer(moved.refusal());
  std::optional<proto::Inode> replaced;
  if (to) {
    TESS_CO_ASSIGN_OR_RETURN(auto inode, co_await context.inode(InodeId(to->inode())));
    if (!inode.ok()) co_return final_answer(inode.refusal());
    replaced = std::move(*inode);
  }
  if (auto no = may_change(context.caller(), *from_dir, &*moved)) co_return final_answer(*no);
  if (auto no = may_change(context.caller(), *to_dir, replaced ? &*replaced : nullptr)) {
    co_return final_answer(*no);
  }

  bool across = from_dir_id != to_dir_id;
  bool moves_directory = across && is_directory(from);
  bool returns_directory = across && exchange && is_directory(*to);
  PartsBuilder parts(bucket_of(from_dir_id));
  if (moves_directory || returns_directory) {
    parts.part(root_bucket(context.fs(), context.bucket_count())).set_rename_lock(true);
    // The lock is taken at prepare, and the walk below reads parents before it: it refuses the
    // plain cases early, and the runner walks again under the lock (CycleCheck), since a move
    // committed in between can make this one close a cycle.
    if (moves_directory) {
      TESS_CO_ASSIGN_OR_RETURN(auto cycle, co_await context.is_ancestor(moved_id, to_dir_id));
      if (!cycle.ok()) co_return final_answer(cycle.refusal());
      if (*cycle) co_return final_answer(refuse(EINVAL, "a directory cannot move into itself"));
    }
    if (returns_directory) {
      TESS_CO_ASSIGN_OR_RETURN(auto cycle,
                               co_await context.is_ancestor(InodeId(to->inode()), from_dir_id));
      if (!cycle.ok()) co_return final_answer(cycle.refusal());
      if (*cycle) co_return final_answer(refuse(EINVAL, "a directory cannot move into itself"));
    }
  }

  proto::TxnEntryChange& leaving = parts.entry(from_dir_id, op.name());
  leaving.set_expect_inode(from.inode());
  proto::TxnEntryChange& arriving = parts.entry(to_dir_id, op.new_name());
  arriving.set_expect_inode(to ? to->inode() : 0);
  // A plain rename replaces whatever the name holds: another state than the plan saw makes the
  // plan stale, not the rename refused (NOREPLACE and EXCHANGE require what they saw).
  arriving.set_observed(!exchange && (op.flags() & kNoReplace) == 0);
  arriving.set_new_inode(from.inode());
  arriving.set_new_type(from.type());
  if (exchange) {
    leaving.set_new_inode(to->inode());
    leaving.set_new_type(to->type());
  }
  if (moves_directory) {
    leaving.set_dir_nlink_delta(leaving.dir_nlink_delta() - 1);
    arriving.set_dir_nlink_delta(arriving.dir_nlink_delta() + 1);
  }
  if (returns_directory) {
    leaving.set_dir_nlink_delta(leaving.dir_nlink_delta() + 1);
    arriving.set_dir_nlink_delta(arriving.dir_nlink_delta() - 1);
  }
  proto::TxnInodeChange& moved_change = parts.inode(moved_id);  // Its ctime moves.
  if (moves_directory) moved_change.set_set_parent(to_dir_id.value());
  if (to) {
    proto::TxnInodeChange& other = parts.inode(InodeId(to->inode()));
    if (exchange) {
      if (returns_directory) other.set_set_parent(from_dir_id.value());
    } else if (is_directory(*to)) {
      other.set_remove_directory(true);
      arriving.set_dir_nlink_delta(arriving.dir_nlink_delta() - 1);
    } else {
      other.set_nlink_delta(-1);
    }
  }
  proto::MetaResult answer;
  *answer.mutable_inode() = *moved;
  Plan plan = parts.build(std::move(answer));
  if (moves_directory) plan.cycle_checks.push_back({moved_id, to_dir_id});
  if (returns_directory) plan.cycle_checks.push_back({InodeId(to->inode()), from_dir_id});
  co_return plan;
}

}  // namespace tessera::meta
