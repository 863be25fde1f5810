// NamespaceClient: a filesystem's namespace as a client uses it
// (docs/design/2026-12-05-namespace.md, 2026-12-05-cross-bucket-transactions.md): every operation
// goes to the bucket that holds what it names first (meta/routing.h), exactly-once through the
// BucketClient's session; one that turns out to span buckets is planned and run as a transaction
// answering the same request; an answer `locked` (a transaction holds what it needs) is retried as
// a new request after a short random backoff, within the caller's deadline.
//
// Answers: a MetaResult whose errno_value is the POSIX answer (0: success); a failed Result when
// the buckets could not answer in time (kDeadlineExceeded: the outcome of a mutation is unknown)
// or answered with an error of their own.
//
// Executor: lives on the BucketClient's executor; call it only from tasks there. The caller
// (frontends: FUSE, S3, tools) maps errno values to its own vocabulary.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "base/status.h"
#include "base/strong_id.h"
#include "bucket/bucket_client.h"
#include "client/metadata_cache.h"
#include "meta/bucket_transport.h"
#include "meta/meta_transport.h"
#include "proto/meta.pb.h"
#include "runtime/clock.h"
#include "runtime/deadline.h"
#include "runtime/task.h"

namespace tessera::client {

struct NamespaceClientOptions {
  const Clock* clock = &RealClock::instance();
  uint32_t bucket_count = 0;  // The cluster's; required.
  FilesystemId fs;            // Required.
  uint64_t seed = 1;          // Backoff jitter.
  Clock::Duration min_locked_backoff = std::chrono::milliseconds(1);
  Clock::Duration max_locked_backoff = std::chrono::milliseconds(50);
  // Serves lookup and getattr while valid and learns from every answer (metadata_cache.h); not
  // owned, on the client's executor. nullptr: every read goes to the buckets (linearizable). Only
  // callers whose permissions the buckets do not check (the kernel checks them: FUSE with
  // default_permissions) are served from it, since a cached answer skips the bucket's checks.
  MetadataCache* cache = nullptr;
};

class NamespaceClient final {
 public:
  // REQUIRES: `buckets` outlives the client; options.bucket_count > 0 and options.fs set.
  NamespaceClient(bucket::BucketClient& buckets, NamespaceClientOptions options);

  // The filesystem's root directory, created on first use (idempotent; make_root).
  Task<Result<proto::MetaResult>> root(const proto::Caller& caller, Deadline deadline);
  // Any namespace mutation or read (the command's fs is set here).
  Task<Result<proto::MetaResult>> mutate(proto::MetaCommand command, Deadline deadline);
  Task<Result<proto::MetaResult>> read(proto::MetaRead read, Deadline deadline);

  // Shorthands for the common operations.
  Task<Result<proto::MetaResult>> lookup(const proto::Caller& caller, InodeId parent,
                                         std::string name, Deadline deadline);
  Task<Result<proto::MetaResult>> getattr(const proto::Caller& caller, InodeId inode,
                                          Deadline deadline);
  Task<Result<proto::MetaResult>> mkdir(const proto::Caller& caller, InodeId parent,
                                        std::string name, uint32_t mode, Deadline deadline);
  Task<Result<proto::MetaResult>> create(const proto::Caller& caller, InodeId parent,
                                         std::string name, uint32_t mode, bool exclusive,
                                         Deadline deadline);
  Task<Result<proto::MetaResult>> unlink(const proto::Caller& caller, InodeId parent,
                                         std::string name, bool directory, Deadline deadline);
  Task<Result<proto::MetaResult>> rename(const proto::Caller& caller, InodeId parent,
                                         std::string name, InodeId new_parent, std::string new_name,
                                         uint32_t flags, Deadline deadline);

  // What the transactions this client runs talk to the buckets through.
  meta::MetaTransport& transport() { return transport_; }

  uint64_t transactions() const { return transactions_; }
  uint64_t locked_retries() const { return locked_retries_; }

 private:
  // One attempt of a mutation as one request (cross-bucket continuation included).
  Task<Result<proto::MetaResult>> attempt(const proto::MetaCommand& command, Deadline deadline);
  // The cache a read by `caller` may use: none for callers the buckets check.
  MetadataCache* cache_for(const proto::Caller& caller) const;
  // Waits before retrying an answer `locked`; false if the deadline would pass first.
  Task<bool> back_off(int attempt, Deadline deadline);

  bucket::BucketClient& buckets_;
  meta::BucketTransport transport_;
  NamespaceClientOptions options_;
  std::mt19937_64 random_;
  uint64_t transactions_ = 0;
  uint64_t locked_retries_ = 0;
};

}  // namespace tessera::client
