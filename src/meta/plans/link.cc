// link of an inode in another bucket than the new entry's directory: the entry in the
// directory's bucket (coordinator), the link count in the inode's bucket.
#include <cerrno>

#include "meta/keys.h"
#include "meta/names.h"
#include "meta/permissions.h"
#include "meta/plans/plans.h"

namespace tessera::meta {

Task<Result<Plan>> plan_link(PlanContext& context, const proto::MetaLink& op) {
  InodeId target_id(op.inode());
  InodeId parent_id(op.new_parent());
  TESS_CO_ASSIGN_OR_RETURN(auto target, co_await context.inode(target_id));
  if (!target.ok()) co_return final_answer(target.refusal());
  if (target->type() == proto::FILE_TYPE_DIRECTORY) {
    co_return final_answer(refuse(EPERM, "a directory cannot have another link"));
  }
  if (target->nlink() >= kMaxLinks) {
    co_return final_answer(
        refuse(EMLINK, fmt::format("inode {:x} has {} links", target_id.value(), target->nlink())));
  }
  TESS_CO_ASSIGN_OR_RETURN(auto parent, co_await context.inode(parent_id));
  if (!parent.ok()) co_return final_answer(parent.refusal());
  if (parent->type() != proto::FILE_TYPE_DIRECTORY) {
    co_return final_answer(refuse(ENOTDIR, "the new parent is not a directory"));
  }
  if (!may_access(context.caller(), *parent, kMayWrite | kMayExecute)) {
    co_return final_answer(refuse(EACCES, "no permission to link into the directory"));
  }

  PartsBuilder parts(bucket_of(parent_id));
  proto::TxnEntryChange& entry = parts.entry(parent_id, op.new_name());
  entry.set_new_inode(target_id.value());
  entry.set_new_type(target->type());
  parts.inode(target_id).set_nlink_delta(1);
  proto::MetaResult answer;
  *answer.mutable_inode() = *target;
  answer.mutable_inode()->set_nlink(target->nlink() + 1);  // As planned; ctime moves at commit.
  co_return parts.build(std::move(answer));
}

}  // namespace tessera::meta
