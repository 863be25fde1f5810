// What the planners of plan.h share: reads of other buckets as checked values, and the parts of
// a transaction gathered per bucket. Internal to src/meta.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "meta/context.h"
#include "meta/plan.h"

namespace tessera::meta {

class PlanContext {
 public:
  PlanContext(MetaTransport& transport, uint32_t bucket_count, const proto::MetaCommand& command,
              Deadline deadline)
      : transport_(transport),
        bucket_count_(bucket_count),
        command_(command),
        fs_(command.fs()),
        deadline_(deadline) {}

  // An inode's attributes from its bucket, or the refusal (ENOENT, locked, ...).
  Task<Result<Checked<proto::Inode>>> inode(InodeId id);
  // An entry of `dir` from its bucket (nullopt: no such name), or the refusal.
  Task<Result<Checked<std::optional<proto::MetaDirEntry>>>> entry(InodeId dir, std::string name);

  // plan.h's is_ancestor, with this plan's caller and deadline.
  Task<Result<Checked<bool>>> is_ancestor(InodeId moved, InodeId dir) {
    return meta::is_ancestor(transport_, caller(), fs_, moved, dir, deadline_);
  }

  const proto::Caller& caller() const { return command_.caller(); }
  const proto::MetaCommand& command() const { return command_; }
  FilesystemId fs() const { return fs_; }
  uint32_t bucket_count() const { return bucket_count_; }

 private:
  MetaTransport& transport_;
  uint32_t bucket_count_;
  const proto::MetaCommand& command_;
  FilesystemId fs_;
  Deadline deadline_;
};

// The parts of a transaction, one per bucket, the coordinator's first.
class PartsBuilder {
 public:
  explicit PartsBuilder(BucketId coordinator) : coordinator_(coordinator) { part(coordinator); }
  proto::TxnPart& part(BucketId bucket);
  proto::TxnEntryChange& entry(InodeId dir, const std::string& name);
  proto::TxnInodeChange& inode(InodeId id);
  Plan build(proto::MetaResult answer) const;

 private:
  BucketId coordinator_;
  std::map<BucketId, proto::TxnPart> parts_;
};

inline Plan final_answer(proto::MetaResult answer) { return Plan{std::nullopt, std::move(answer)}; }

Task<Result<Plan>> plan_mkdir(PlanContext& context, const proto::MetaCreate& op);
Task<Result<Plan>> plan_remove(PlanContext& context, const proto::MetaUnlink& op);
Task<Result<Plan>> plan_link(PlanContext& context, const proto::MetaLink& op);
Task<Result<Plan>> plan_rename(PlanContext& context, const proto::MetaRename& op);

}  // namespace tessera::meta
