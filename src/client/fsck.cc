#include "client/fsck.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <random>

#include "bucket/bucket_client.h"
#include "client/namespace_client.h"
#include "client/rest_bucket_directory.h"
#include "runtime/event_loop.h"

namespace tessera::client {
namespace {

// The bucket client lives on the loop, made and destroyed there.
Task<Result<meta::CheckReport>> run_check(RestBucketDirectory* directory, meta::CheckOptions check,
                                          uint64_t session, Deadline deadline) {
  Executor executor = co_await boost::asio::this_coro::executor;
  bucket::BucketClientOptions bucket_options;
  bucket_options.session = session;
  bucket::BucketClient buckets(executor, *directory, bucket_options);
  NamespaceClientOptions names_options;
  names_options.bucket_count = check.bucket_count;
  names_options.fs = check.fs;
  NamespaceClient names(buckets, names_options);
  co_return co_await meta::check_namespace(names.transport(), std::move(check), deadline);
}

uint64_t random_session() {
  std::random_device device;
  uint64_t session = 0;
  while (session == 0) session = (uint64_t{device()} << 32) | device();
  return session;
}

}  // namespace

Result<meta::CheckReport> check_filesystem(const CheckFilesystemOptions& options) {
  if (options.api.empty()) {
    return Status(StatusCode::kInvalidArgument, "no REST API address to read the buckets from");
  }
  if (options.check.fs.value() == 0) {
    return Status(StatusCode::kInvalidArgument, "no filesystem to check");
  }
  Deadline deadline = Deadline::after(options.timeout, RealClock::instance());
  RestBucketDirectoryOptions directory_options;
  directory_options.api = options.api;
  RestBucketDirectory directory(directory_options);
  TESS_RETURN_IF_ERROR(directory.load(deadline));
  if (directory.bucket_count() == 0) {
    return Status(StatusCode::kFailedPrecondition, "the cluster has no buckets yet");
  }
  meta::CheckOptions check = options.check;
  check.bucket_count = static_cast<uint32_t>(directory.bucket_count());
  EventLoopGroup loops(1);
  auto done = boost::asio::co_spawn(
      loops.executor(0), run_check(&directory, std::move(check), random_session(), deadline),
      boost::asio::use_future);
  Result<meta::CheckReport> report = done.get();
  loops.stop();
  return report;
}

}  // namespace tessera::client
