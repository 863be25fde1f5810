#include "meta/plan.h"

#include <cerrno>

#include "meta/keys.h"
#include "meta/plans/plans.h"

namespace tessera::meta {

Task<Result<Checked<proto::Inode>>> PlanContext::inode(InodeId id) {
  proto::MetaRead read;
  read.set_fs(fs_.value());
  *read.mutable_caller() = caller();
  read.mutable_getattr()->set_inode(id.value());
  TESS_CO_ASSIGN_OR_RETURN(auto answer,
                           co_await transport_.read(bucket_of(id), std::move(read), deadline_));
  if (answer.errno_value() != 0) co_return Checked<proto::Inode>(std::move(answer));
  co_return Checked<proto::Inode>(std::move(*answer.mutable_inode()));
}

Task<Result<Checked<std::optional<proto::MetaDirEntry>>>> PlanContext::entry(InodeId dir,
                                                                             std::string name) {
  using Answer = Checked<std::optional<proto::MetaDirEntry>>;
  proto::MetaRead read;
  read.set_fs(fs_.value());
  *read.mutable_caller() = caller();
  read.mutable_lookup()->set_parent(dir.value());
  read.mutable_lookup()->set_name(std::move(name));
  TESS_CO_ASSIGN_OR_RETURN(auto answer,
                           co_await transport_.read(bucket_of(dir), std::move(read), deadline_));
  if (answer.errno_value() == ENOENT && answer.entries_size() == 0 && !answer.cross_bucket()) {
    // No such name (a missing directory answers ENOENT too, but then the caller's own checks of
    // the directory come first).
    co_return Answer(std::optional<proto::MetaDirEntry>());
  }
  if (answer.errno_value() != 0) co_return Answer(std::move(answer));
  co_return Answer(std::optional<proto::MetaDirEntry>(std::move(*answer.mutable_entries(0))));
}

proto::TxnPart& PartsBuilder::part(BucketId bucket) {
  proto::TxnPart& part = parts_[bucket];
  part.set_bucket(bucket.value());
  return part;
}

proto::TxnEntryChange& PartsBuilder::entry(InodeId dir, const std::string& name) {
  proto::TxnPart& in = part(bucket_of(dir));
  for (proto::TxnEntryChange& change : *in.mutable_entries()) {
    if (change.dir() == dir.value() && change.name() == name) return change;
  }
  proto::TxnEntryChange& change = *in.add_entries();
  change.set_dir(dir.value());
  change.set_name(name);
  return change;
}

proto::TxnInodeChange& PartsBuilder::inode(InodeId id) {
  proto::TxnPart& in = part(bucket_of(id));
  for (proto::TxnInodeChange& change : *in.mutable_inodes()) {
    if (change.inode() == id.value()) return change;
  }
  proto::TxnInodeChange& change = *in.add_inodes();
  change.set_inode(id.value());
  return change;
}

Plan PartsBuilder::build(proto::MetaResult answer) const {
  proto::TxnBegin begin;
  *begin.add_parts() = parts_.at(coordinator_);
  // The rename lock's part right after the coordinator's: the runner prepares it first, then
  // checks for cycles under it (CycleCheck).
  for (bool rename_lock : {true, false}) {
    for (const auto& [bucket, part] : parts_) {
      if (bucket != coordinator_ && part.rename_lock() == rename_lock) *begin.add_parts() = part;
    }
  }
  *begin.mutable_answer() = std::move(answer);
  return Plan{std::move(begin), {}};
}

Task<Result<Checked<bool>>> is_ancestor(MetaTransport& transport, const proto::Caller& caller,
                                        FilesystemId fs, InodeId moved, InodeId dir,
                                        Deadline deadline) {
  // Deeper than any real tree; a longer walk means the parents loop (a damaged tree).
  constexpr int kMaxDepth = 4096;
  InodeId at = dir;
  for (int depth = 0; depth < kMaxDepth; ++depth) {
    if (at == moved) co_return Checked<bool>(true);
    proto::MetaRead read;
    read.set_fs(fs.value());
    *read.mutable_caller() = caller;
    read.mutable_getattr()->set_inode(at.value());
    TESS_CO_ASSIGN_OR_RETURN(auto answer,
                             co_await transport.read(bucket_of(at), std::move(read), deadline));
    if (answer.errno_value() != 0) co_return Checked<bool>(std::move(answer));
    InodeId parent(answer.inode().parent());
    if (parent == at) co_return Checked<bool>(false);  // The root.
    at = parent;
  }
  co_return Checked<bool>(refuse(ELOOP, "the directory's parents do not reach the root"));
}

Task<Result<Plan>> plan_transaction(MetaTransport& transport, uint32_t bucket_count,
                                    const proto::MetaCommand& command, Deadline deadline) {
  TESS_ASSERT(command.fs() != 0, "a plan without a filesystem");
  PlanContext context(transport, bucket_count, command, deadline);
  switch (command.op_case()) {
    case proto::MetaCommand::kCreate:
      if (command.create().type() == proto::FILE_TYPE_DIRECTORY) {
        co_return co_await plan_mkdir(context, command.create());
      }
      break;
    case proto::MetaCommand::kUnlink:
      co_return co_await plan_remove(context, command.unlink());
    case proto::MetaCommand::kLink:
      co_return co_await plan_link(context, command.link());
    case proto::MetaCommand::kRename:
      co_return co_await plan_rename(context, command.rename());
    default:
      break;
  }
  co_return final_answer(refuse(EINVAL, "this operation never spans buckets"));
}

}  // namespace tessera::meta
