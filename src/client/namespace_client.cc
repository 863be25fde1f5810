#include "client/namespace_client.h"

#include <algorithm>
#include <cerrno>

#include "base/fault_points.h"
#include "meta/bucket_transport.h"
#include "meta/context.h"
#include "meta/keys.h"
#include "meta/routing.h"
#include "meta/txn_runner.h"

namespace tessera::client {
using meta::meta_result_of;

NamespaceClient::NamespaceClient(bucket::BucketClient& buckets, NamespaceClientOptions options)
    : buckets_(buckets), transport_(buckets), options_(options), random_(options.seed) {
  TESS_ASSERT(options_.bucket_count > 0 && options_.fs.value() != 0,
              "a namespace client needs the bucket count and a filesystem");
}

Task<bool> NamespaceClient::back_off(int attempt, Deadline deadline) {
  auto ceiling = std::min(options_.max_locked_backoff,
                          options_.min_locked_backoff * (int64_t{1} << std::min(attempt, 10)));
  auto wait = Clock::Duration(static_cast<Clock::Duration::rep>(
      random_() % static_cast<uint64_t>(std::max<Clock::Duration::rep>(ceiling.count(), 1))));
  if (deadline.remaining() <= wait) co_return false;
  ++locked_retries_;
  (void)co_await options_.clock->sleep_for(wait);
  co_return true;
}

Task<Result<proto::MetaResult>> NamespaceClient::attempt(const proto::MetaCommand& command,
                                                         Deadline deadline) {
  uint64_t request = buckets_.open_request();
  auto first = meta_result_of(co_await buckets_.meta(
      meta::bucket_for(command, options_.bucket_count), command, request, deadline));
  if (first.ok() && first->cross_bucket()) {
    ++transactions_;
    first = co_await meta::run_cross_bucket(transport_, options_.bucket_count, command,
                                            /*session=*/buckets_.session(), request, deadline);
  }
  buckets_.close_request(request);
  co_return first;
}

Task<Result<proto::MetaResult>> NamespaceClient::mutate(proto::MetaCommand command,
                                                        Deadline deadline) {
  command.set_fs(options_.fs.value());
  if (command.has_create() && command.create().type() == proto::FILE_TYPE_DIRECTORY) {
    const proto::MetaCreate& op = command.create();
    command.mutable_create()->set_directory_bucket(
        meta::directory_bucket(options_.fs, InodeId(op.parent()), op.name(), options_.bucket_count)
            .value());
  }
  Clock::TimePoint asked = options_.clock->now();
  for (int attempt_number = 0;; ++attempt_number) {
    auto answer = co_await attempt(command, deadline);
    bool settled = !answer.ok() || !answer->locked();
    if (!settled) {
      TESS_COVER("client.namespace_locked_retry");
      settled = !co_await back_off(attempt_number, deadline);
    }
    if (!settled) continue;
    // An unknown outcome (a failed Result) still forgets what the command names.
    if (options_.cache != nullptr) {
      options_.cache->observe(command, answer.ok() ? *answer : proto::MetaResult(), asked);
    }
    co_return answer;
  }
}

Task<Result<proto::MetaResult>> NamespaceClient::read(proto::MetaRead read, Deadline deadline) {
  read.set_fs(options_.fs.value());
  BucketId bucket = meta::bucket_for(read);
  for (int attempt_number = 0;; ++attempt_number) {
    auto answer = co_await transport_.read(bucket, read, deadline);
    if (!answer.ok() || !answer->locked()) co_return answer;
    if (!co_await back_off(attempt_number, deadline)) co_return answer;
  }
}

Task<Result<proto::MetaResult>> NamespaceClient::root(const proto::Caller& caller,
                                                      Deadline deadline) {
  proto::MetaCommand command;
  *command.mutable_caller() = caller;
  command.mutable_make_root()->set_mode(0755);
  co_return co_await mutate(std::move(command), deadline);
}

Task<Result<proto::MetaResult>> NamespaceClient::lookup(const proto::Caller& caller, InodeId parent,
                                                        std::string name, Deadline deadline) {
  MetadataCache* cache = cache_for(caller);
  if (cache != nullptr) {
    if (auto entry = cache->entry(parent, name)) {
      if (entry->value.value() == 0) {
        co_return meta::refuse(ENOENT, fmt::format("no '{}' (cached)", name));
      }
      if (auto attr = cache->attr(entry->value)) {
        proto::MetaResult cached;
        *cached.mutable_inode() = std::move(attr->value);
        co_return cached;
      }
    }
  }
  proto::MetaRead op;
  *op.mutable_caller() = caller;
  op.mutable_lookup()->set_parent(parent.value());
  op.mutable_lookup()->set_name(name);
  Clock::TimePoint asked = options_.clock->now();
  auto answer = co_await read(std::move(op), deadline);
  if (cache != nullptr && answer.ok()) {
    if (answer->errno_value() == 0) {
      cache->put_entry(parent, name, InodeId(answer->inode().id()), asked);
      cache->put_attr(answer->inode(), asked);
    } else if (answer->errno_value() == ENOENT) {
      cache->put_absent(parent, name, asked);
    }
  }
  co_return answer;
}

Task<Result<proto::MetaResult>> NamespaceClient::getattr(const proto::Caller& caller, InodeId inode,
                                                         Deadline deadline) {
  MetadataCache* cache = cache_for(caller);
  if (cache != nullptr) {
    if (auto attr = cache->attr(inode)) {
      proto::MetaResult cached;
      *cached.mutable_inode() = std::move(attr->value);
      co_return cached;
    }
  }
  proto::MetaRead op;
  *op.mutable_caller() = caller;
  op.mutable_getattr()->set_inode(inode.value());
  Clock::TimePoint asked = options_.clock->now();
  auto answer = co_await read(std::move(op), deadline);
  if (cache != nullptr && answer.ok() && answer->errno_value() == 0) {
    cache->put_attr(answer->inode(), asked);
  }
  co_return answer;
}

MetadataCache* NamespaceClient::cache_for(const proto::Caller& caller) const {
  return caller.check_permissions() ? nullptr : options_.cache;
}

Task<Result<proto::MetaResult>> NamespaceClient::mkdir(const proto::Caller& caller, InodeId parent,
                                                       std::string name, uint32_t mode,
                                                       Deadline deadline) {
  proto::MetaCommand command;
  *command.mutable_caller() = caller;
  proto::MetaCreate& op = *command.mutable_create();
  op.set_parent(parent.value());
  op.set_name(std::move(name));
  op.set_type(proto::FILE_TYPE_DIRECTORY);
  op.set_mode(mode);
  co_return co_await mutate(std::move(command), deadline);
}

Task<Result<proto::MetaResult>> NamespaceClient::create(const proto::Caller& caller, InodeId parent,
                                                        std::string name, uint32_t mode,
                                                        bool exclusive, Deadline deadline) {
  proto::MetaCommand command;
  *command.mutable_caller() = caller;
  proto::MetaCreate& op = *command.mutable_create();
  op.set_parent(parent.value());
  op.set_name(std::move(name));
  op.set_type(proto::FILE_TYPE_REGULAR);
  op.set_mode(mode);
  op.set_exclusive(exclusive);
  co_return co_await mutate(std::move(command), deadline);
}

Task<Result<proto::MetaResult>> NamespaceClient::unlink(const proto::Caller& caller, InodeId parent,
                                                        std::string name, bool directory,
                                                        Deadline deadline) {
  proto::MetaCommand command;
  *command.mutable_caller() = caller;
  command.mutable_unlink()->set_parent(parent.value());
  command.mutable_unlink()->set_name(std::move(name));
  command.mutable_unlink()->set_directory(directory);
  co_return co_await mutate(std::move(command), deadline);
}

Task<Result<proto::MetaResult>> NamespaceClient::rename(const proto::Caller& caller, InodeId parent,
                                                        std::string name, InodeId new_parent,
                                                        std::string new_name, uint32_t flags,
                                                        Deadline deadline) {
  proto::MetaCommand command;
  *command.mutable_caller() = caller;
  proto::MetaRename& op = *command.mutable_rename();
  op.set_parent(parent.value());
  op.set_name(std::move(name));
  op.set_new_parent(new_parent.value());
  op.set_new_name(std::move(new_name));
  op.set_flags(flags);
  co_return co_await mutate(std::move(command), deadline);
}

}  // namespace tessera::client
