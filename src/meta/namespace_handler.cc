#include "meta/namespace_handler.h"

#include <cerrno>

#include "meta/ops/ops.h"

namespace tessera::meta {

Result<proto::MetaResult> NamespaceHandler::execute(bucket::StateStore& store,
                                                    const bucket::ApplyContext& apply,
                                                    const proto::MetaCommand& command) {
  if (command.fs() == 0) return refuse(EINVAL, "a namespace command needs a filesystem");
  OpContext context{store,
                    apply.bucket,
                    FilesystemId(command.fs()),
                    command.caller(),
                    static_cast<int64_t>(apply.log_time_ms) * 1'000'000,
                    apply.index};
  switch (command.op_case()) {
    case proto::MetaCommand::kMakeRoot:
      return make_root(context, command.make_root());
    case proto::MetaCommand::kCreate:
      return create(context, command.create());
    case proto::MetaCommand::kUnlink:
      return unlink(context, command.unlink());
    case proto::MetaCommand::kLink:
      return link(context, command.link());
    case proto::MetaCommand::kRename:
      return rename(context, command.rename());
    case proto::MetaCommand::kSetattr:
      return setattr(context, command.setattr());
    case proto::MetaCommand::kSetxattr:
      return setxattr(context, command.setxattr());
    case proto::MetaCommand::kRemovexattr:
      return removexattr(context, command.removexattr());
    case proto::MetaCommand::OP_NOT_SET:
      break;
  }
  return refuse(EINVAL, "a namespace command without an operation");
}

Result<proto::MetaResult> NamespaceHandler::execute_txn(bucket::StateStore& store,
                                                        const bucket::ApplyContext& apply,
                                                        const proto::MetaTxnCommand& command) {
  if (command.fs() == 0) return refuse(EINVAL, "a transaction command needs a filesystem");
  // Transaction commands act for the transaction, not for a caller: its parts were planned with
  // the caller's permissions checked.
  static const proto::Caller kNoChecks;
  OpContext context{store,
                    apply.bucket,
                    FilesystemId(command.fs()),
                    kNoChecks,
                    static_cast<int64_t>(apply.log_time_ms) * 1'000'000,
                    apply.index};
  switch (command.op_case()) {
    case proto::MetaTxnCommand::kBegin:
      return txn_begin(context, command.begin());
    case proto::MetaTxnCommand::kPrepare:
      return txn_prepare(context, command.prepare());
    case proto::MetaTxnCommand::kDecide:
      return txn_decide(context, command.decide());
    case proto::MetaTxnCommand::kFinish:
      return txn_finish(context, command.finish());
    case proto::MetaTxnCommand::kForget:
      return txn_forget(context, command.forget());
    case proto::MetaTxnCommand::OP_NOT_SET:
      break;
  }
  return refuse(EINVAL, "a transaction command without an operation");
}

Result<proto::MetaResult> NamespaceHandler::read(bucket::StateStore& store, BucketId bucket,
                                                 const proto::MetaRead& read) {
  if (read.fs() == 0 && !read.has_list_intents() && !read.has_usage()) {
    return refuse(EINVAL, "a namespace read needs a filesystem");
  }
  OpContext context{store, bucket, FilesystemId(read.fs()), read.caller()};
  switch (read.op_case()) {
    case proto::MetaRead::kLookup:
      return lookup(context, read.lookup());
    case proto::MetaRead::kGetattr:
      return getattr(context, read.getattr());
    case proto::MetaRead::kReaddir:
      return readdir(context, read.readdir());
    case proto::MetaRead::kReadlink:
      return readlink(context, read.readlink());
    case proto::MetaRead::kGetxattr:
      return getxattr(context, read.getxattr());
    case proto::MetaRead::kListxattr:
      return listxattr(context, read.listxattr());
    case proto::MetaRead::kTxnStatus:
      return txn_status(context, read.txn_status());
    case proto::MetaRead::kListIntents:
      return list_intents(context, read.list_intents());
    case proto::MetaRead::kListInodes:
      return list_inodes(context, read.list_inodes());
    case proto::MetaRead::kUsage:
      return usage(context, read.usage());
    case proto::MetaRead::OP_NOT_SET:
      break;
  }
  return refuse(EINVAL, "a namespace read without an operation");
}

}  // namespace tessera::meta
