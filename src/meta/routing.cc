#include "meta/routing.h"

#include "base/assert.h"
#include "meta/keys.h"

namespace tessera::meta {

BucketId bucket_for(const proto::MetaCommand& command, uint32_t bucket_count) {
  switch (command.op_case()) {
    case proto::MetaCommand::kMakeRoot:
      return root_bucket(FilesystemId(command.fs()), bucket_count);
    case proto::MetaCommand::kCreate:
      return bucket_of(InodeId(command.create().parent()));
    case proto::MetaCommand::kUnlink:
      return bucket_of(InodeId(command.unlink().parent()));
    case proto::MetaCommand::kLink:
      return bucket_of(InodeId(command.link().new_parent()));
    case proto::MetaCommand::kRename:
      return bucket_of(InodeId(command.rename().parent()));
    case proto::MetaCommand::kSetattr:
      return bucket_of(InodeId(command.setattr().inode()));
    case proto::MetaCommand::kSetxattr:
      return bucket_of(InodeId(command.setxattr().inode()));
    case proto::MetaCommand::kRemovexattr:
      return bucket_of(InodeId(command.removexattr().inode()));
    case proto::MetaCommand::OP_NOT_SET:
      break;
  }
  TESS_ASSERT(false, "a namespace command without an operation");
  return BucketId(0);
}

BucketId bucket_for(const proto::MetaRead& read) {
  switch (read.op_case()) {
    case proto::MetaRead::kLookup:
      return bucket_of(InodeId(read.lookup().parent()));
    case proto::MetaRead::kGetattr:
      return bucket_of(InodeId(read.getattr().inode()));
    case proto::MetaRead::kReaddir:
      return bucket_of(InodeId(read.readdir().dir()));
    case proto::MetaRead::kReadlink:
      return bucket_of(InodeId(read.readlink().inode()));
    case proto::MetaRead::kGetxattr:
      return bucket_of(InodeId(read.getxattr().inode()));
    case proto::MetaRead::kListxattr:
      return bucket_of(InodeId(read.listxattr().inode()));
    case proto::MetaRead::kTxnStatus:
      return BucketId(read.txn_status().id().coordinator());
    case proto::MetaRead::kListIntents:
    case proto::MetaRead::kListInodes:
    case proto::MetaRead::kUsage:
      TESS_ASSERT(false,
                  "list_intents, list_inodes and usage name no bucket: their caller chooses");
      break;
    case proto::MetaRead::OP_NOT_SET:
      break;
  }
  TESS_ASSERT(false, "a namespace read without an operation");
  return BucketId(0);
}

}  // namespace tessera::meta
