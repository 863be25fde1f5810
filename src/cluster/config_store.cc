#include "cluster/config_store.h"

namespace tessera {

namespace {

// Outside the coroutine: GCC 12 warns of an uninitialized optional built in a coroutine frame.
Result<std::optional<KeyValue>> first_of(Result<RangeResult> read) {
  if (!read.ok()) return read.status();
  if (read->kvs.empty()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(std::move(read->kvs.front()));
}

// Requests are built here, not as braced temporaries in the coroutines: GCC 12 copies such a
// temporary bitwise into the callee's frame and frees its string twice (ASan caught it).
RangeRequest key_request(std::string key, bool prefix) {
  RangeRequest request;
  request.key = std::move(key);
  request.prefix = prefix;
  return request;
}

}  // namespace

Task<Result<std::optional<KeyValue>>> ConfigStore::get(std::string key, Deadline deadline) {
  RangeRequest request = key_request(std::move(key), /*prefix=*/false);
  co_return first_of(co_await range(std::move(request), deadline));
}

Task<Result<RangeResult>> ConfigStore::get_prefix(std::string prefix, Deadline deadline) {
  RangeRequest request = key_request(std::move(prefix), /*prefix=*/true);
  co_return co_await range(std::move(request), deadline);
}

Task<Status> ConfigStore::put(std::string key, std::string value, LeaseId lease,
                              Deadline deadline) {
  std::vector<WriteOp> ops;
  ops.push_back(WriteOp{WriteOp::Kind::kPut, std::move(key), std::move(value), lease});
  TESS_CO_ASSIGN_OR_RETURN(TxnResult done, co_await txn({}, std::move(ops), deadline));
  TESS_ASSERT(done.succeeded, "a transaction without comparisons failed");
  co_return Status();
}

Status lost_quorum_error(size_t answering, size_t members, std::string_view detail) {
  return error(StatusCode::kUnavailable,
               "etcd has lost quorum: {} of {} members answer but none can commit ({})", answering,
               members, detail);
}

Status unreachable_error(size_t members, std::string_view detail) {
  return error(StatusCode::kUnavailable, "etcd is unreachable: none of {} members answers ({})",
               members, detail);
}

Status outcome_unknown_error(std::string_view detail) {
  return error(StatusCode::kDeadlineExceeded, "outcome unknown: {}", detail);
}

std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

}  // namespace tessera
