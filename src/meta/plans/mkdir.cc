// mkdir of a directory whose inode hashes to another bucket: the entry and the parent's link in
// the parent's bucket (coordinator), the new inode in its own bucket, which allocates its id at
// prepare. The parent's bucket checked the name, the permissions and EEXIST already.
#include <sys/stat.h>

#include "meta/keys.h"
#include "meta/plans/plans.h"

namespace tessera::meta {

Task<Result<Plan>> plan_mkdir(PlanContext& context, const proto::MetaCreate& op) {
  InodeId parent_id(op.parent());
  TESS_CO_ASSIGN_OR_RETURN(auto parent, co_await context.inode(parent_id));
  if (!parent.ok()) co_return final_answer(parent.refusal());
  BucketId home(op.directory_bucket());
  if (home == bucket_of(parent_id) || home.value() >= context.bucket_count()) {
    co_return final_answer(
        refuse(EINVAL, fmt::format("directory bucket {} of {}", home, context.bucket_count())));
  }
  PartsBuilder parts(bucket_of(parent_id));
  proto::TxnEntryChange& entry = parts.entry(parent_id, op.name());
  entry.set_new_inode_created(true);
  entry.set_new_type(proto::FILE_TYPE_DIRECTORY);
  entry.set_dir_nlink_delta(1);

  proto::Inode& inode = *parts.part(home).mutable_create();
  inode.set_type(proto::FILE_TYPE_DIRECTORY);
  uint32_t mode = op.mode() & 07777;
  inode.set_uid(context.caller().uid());
  // As create.cc: a set-group-id parent gives its group and its bit.
  if ((parent->mode() & S_ISGID) != 0) {
    inode.set_gid(parent->gid());
    mode |= S_ISGID;
  } else {
    inode.set_gid(context.caller().gid());
  }
  inode.set_mode(mode);
  inode.set_nlink(2);
  inode.set_parent(parent_id.value());

  proto::MetaResult answer;
  *answer.mutable_inode() = inode;
  co_return parts.build(std::move(answer));
}

}  // namespace tessera::meta
