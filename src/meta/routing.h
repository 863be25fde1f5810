// Which bucket a client sends a namespace command or read to: the bucket of the inode or
// directory it names first (docs/design/2026-12-05-namespace.md 2). A command that turns out to
// need other buckets answers cross_bucket there, and that bucket coordinates its transaction.
#pragma once

#include "base/strong_id.h"
#include "proto/meta.pb.h"

namespace tessera::meta {

// REQUIRES: the command or read names its operation, and the read is not list_intents or
// list_inodes (their caller chooses the bucket). make_root goes to root_bucket(), which needs
// the bucket count: `bucket_count`.
BucketId bucket_for(const proto::MetaCommand& command, uint32_t bucket_count);
BucketId bucket_for(const proto::MetaRead& read);

}  // namespace tessera::meta
