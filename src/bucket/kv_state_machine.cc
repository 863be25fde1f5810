#include "bucket/kv_state_machine.h"

#include <algorithm>

#include "base/endian.h"
#include "base/fault_points.h"
#include "bucket/keys.h"

namespace tessera::bucket {

proto::BucketResult result_of(const Status& status) {
  proto::BucketResult result;
  result.set_status_code(static_cast<uint32_t>(status.code()));
  result.set_message(std::string(status.message()));
  return result;
}

Status status_of(const proto::BucketResult& result) {
  if (result.status_code() == 0) return Status();
  if (result.status_code() >= static_cast<uint32_t>(kStatusCodeCount)) {
    return error(StatusCode::kInternal, "unknown status code {}: {}", result.status_code(),
                 result.message());
  }
  return Status(static_cast<StatusCode>(result.status_code()), result.message());
}

Result<std::optional<proto::BucketResult>> stored_result(StateStore& store, BucketId bucket,
                                                         uint64_t session, uint64_t request) {
  TESS_ASSIGN_OR_RETURN(auto bytes, store.get(result_key(bucket, session, request)));
  if (!bytes) return std::optional<proto::BucketResult>();
  proto::BucketResult result;
  if (!result.ParseFromString(*bytes)) {
    return error(StatusCode::kCorruption, "stored result of {}/{} unreadable", session, request);
  }
  return std::optional<proto::BucketResult>(std::move(result));
}

Result<bool> replace_stored_result(StateStore& store, BucketId bucket, uint64_t session,
                                   uint64_t request, const proto::BucketResult& result) {
  std::string key = result_key(bucket, session, request);
  TESS_ASSIGN_OR_RETURN(auto old, store.get(key));
  if (!old) return false;
  store.put(key, result.SerializeAsString());
  return true;
}

Status KvStateMachine::validate(const proto::BucketCommand& command) {
  auto check_key = [](const std::string& key) -> Status {
    if (key.empty()) return error(StatusCode::kInvalidArgument, "empty key");
    if (key.size() > kMaxKeyBytes) {
      return error(StatusCode::kInvalidArgument, "key of {} bytes exceeds {}", key.size(),
                   kMaxKeyBytes);
    }
    return Status();
  };
  auto check_value = [](const std::string& value) -> Status {
    if (value.size() > kMaxValueBytes) {
      return error(StatusCode::kInvalidArgument, "value of {} bytes exceeds {}", value.size(),
                   kMaxValueBytes);
    }
    return Status();
  };
  switch (command.command_case()) {
    case proto::BucketCommand::kPut:
      TESS_RETURN_IF_ERROR(check_key(command.put().key()));
      return check_value(command.put().value());
    case proto::BucketCommand::kDelete:
      return check_key(command.delete_().key());
    case proto::BucketCommand::kCas:
      TESS_RETURN_IF_ERROR(check_key(command.cas().key()));
      TESS_RETURN_IF_ERROR(check_value(command.cas().expected()));
      return check_value(command.cas().value());
    case proto::BucketCommand::kExpireSessions:
    case proto::BucketCommand::kMeta:  // The handler validates its own commands.
    case proto::BucketCommand::kMetaTxn:
      return Status();
    case proto::BucketCommand::COMMAND_NOT_SET:
      break;
  }
  return error(StatusCode::kInvalidArgument, "command without an operation");
}

Result<proto::BucketResult> KvStateMachine::apply(StateStore& store, uint64_t index,
                                                  std::string_view bytes) {
  proto::BucketCommand command;
  if (!command.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    // Deterministic on every replica: the same bytes fail to parse everywhere.
    auto result = result_of(error(StatusCode::kInvalidArgument, "malformed command at {}", index));
    result.set_applied_index(index);
    return result;
  }
  log_time_ms_ = std::max(log_time_ms_, command.log_time_ms());
  if (command.has_meta_txn()) {
    proto::BucketResult result;
    if (handler_ == nullptr) {
      result = result_of(error(StatusCode::kUnimplemented, "this bucket has no namespace"));
    } else {
      ApplyContext context{bucket_, index, command.log_time_ms()};
      TESS_ASSIGN_OR_RETURN(*result.mutable_meta(),
                            handler_->execute_txn(store, context, command.meta_txn()));
    }
    result.set_applied_index(index);
    return result;
  }
  if (command.has_expire_sessions()) {
    auto result =
        expire_sessions(store, command.log_time_ms(), command.expire_sessions().idle_timeout_ms());
    if (result.ok()) result->set_applied_index(index);
    return result;
  }
  return execute(store, index, command);
}

Result<proto::BucketResult> KvStateMachine::execute(StateStore& store, uint64_t index,
                                                    const proto::BucketCommand& command) {
  const proto::RequestHeader& header = command.header();
  if (header.session() == 0 || header.request() == 0) {
    auto result =
        result_of(error(StatusCode::kInvalidArgument, "a mutation needs a session and request"));
    result.set_applied_index(index);
    return result;
  }
  std::string session_k = session_key(bucket_, header.session());
  proto::SessionRecord record;
  TESS_ASSIGN_OR_RETURN(auto stored_record, store.get(session_k));
  if (stored_record && !record.ParseFromString(*stored_record)) {
    return error(StatusCode::kCorruption, "session record of {} unreadable", header.session());
  }
  std::string result_k = result_key(bucket_, header.session(), header.request());
  TESS_ASSIGN_OR_RETURN(auto first_answer,
                        stored_result(store, bucket_, header.session(), header.request()));
  if (first_answer) {
    TESS_COVER("bucket.retried_mutation_answered_from_session");
    return std::move(*first_answer);
  }
  proto::BucketResult result;
  result.set_applied_index(index);
  if (header.request() < record.acked_below()) {
    result = result_of(error(StatusCode::kFailedPrecondition,
                             "request {} of session {} was answered already", header.request(),
                             header.session()));
    result.set_applied_index(index);
    return result;
  }
  record.set_last_used_log_ms(std::max(record.last_used_log_ms(), command.log_time_ms()));
  if (header.acked_below() > record.acked_below()) {
    TESS_RETURN_IF_ERROR(
        forget_results_below(store, header.session(), header.acked_below(), record));
    record.set_acked_below(header.acked_below());
  }
  if (record.stored_results() >= kMaxStoredResults) {
    store.put(session_k, record.SerializeAsString());
    result = result_of(error(StatusCode::kBusy, "session {} has {} unacknowledged results",
                             header.session(), record.stored_results()));
    result.set_applied_index(index);
    return result;
  }

  if (Status valid = validate(command); !valid.ok()) {
    result = result_of(valid);
    result.set_applied_index(index);
  } else if (command.has_put()) {
    store.put(user_key(bucket_, command.put().key()), command.put().value());
  } else if (command.has_delete_()) {
    std::string k = user_key(bucket_, command.delete_().key());
    TESS_ASSIGN_OR_RETURN(auto old, store.get(k));
    result.set_found(old.has_value());
    store.erase(k);
  } else if (command.has_meta()) {
    if (handler_ == nullptr) {
      result = result_of(error(StatusCode::kUnimplemented, "this bucket has no namespace"));
      result.set_applied_index(index);
    } else {
      ApplyContext context{bucket_, index, command.log_time_ms(), command.header().session(),
                           command.header().request()};
      TESS_ASSIGN_OR_RETURN(*result.mutable_meta(),
                            handler_->execute(store, context, command.meta()));
    }
  } else if (command.has_cas()) {
    const proto::KvCompareAndSet& cas = command.cas();
    std::string k = user_key(bucket_, cas.key());
    TESS_ASSIGN_OR_RETURN(auto current, store.get(k));
    bool matches = cas.expect_absent() ? !current.has_value()
                                       : current.has_value() && *current == cas.expected();
    result.set_found(matches);
    if (matches) {
      store.put(k, cas.value());
    } else if (current) {
      result.set_value(*current);
    }
  }
  store.put(result_k, result.SerializeAsString());
  record.set_stored_results(record.stored_results() + 1);
  store.put(session_k, record.SerializeAsString());
  return result;
}

Status KvStateMachine::forget_results_below(StateStore& store, uint64_t session, uint64_t below,
                                            proto::SessionRecord& record) {
  // Results below the session's acked_below are gone already: scanning from there keeps the
  // scan off their tombstones, which would otherwise grow with every request of the session.
  TESS_ASSIGN_OR_RETURN(auto old,
                        store.scan(result_key(bucket_, session, record.acked_below()),
                                   result_key(bucket_, session, below), kMaxStoredResults + 1));
  for (const auto& [k, v] : old) store.erase(k);
  record.set_stored_results(record.stored_results() -
                            std::min<uint32_t>(record.stored_results(), old.size()));
  return Status();
}

Result<proto::BucketResult> KvStateMachine::expire_sessions(StateStore& store, uint64_t now_ms,
                                                            uint64_t idle_timeout_ms) {
  std::string begin = kind_prefix(bucket_, KeyKind::kSession);
  std::string end =
      kind_prefix(bucket_, static_cast<KeyKind>(static_cast<char>(KeyKind::kSession) + 1));
  TESS_ASSIGN_OR_RETURN(auto sessions, store.scan(begin, end, SIZE_MAX));
  uint64_t expired = 0;
  for (const auto& [k, v] : sessions) {
    proto::SessionRecord record;
    if (!record.ParseFromString(v))
      return error(StatusCode::kCorruption, "session record unreadable");
    if (record.last_used_log_ms() + idle_timeout_ms >= now_ms) continue;
    uint64_t session = key_u64(k, 5);
    TESS_RETURN_IF_ERROR(forget_results_below(store, session, UINT64_MAX, record));
    store.erase(k);
    ++expired;
  }
  if (expired > 0) TESS_COVER("bucket.sessions_expired");
  proto::BucketResult result;
  result.set_value(std::to_string(expired));
  return result;
}

Result<proto::BucketResult> KvStateMachine::get(StateStore& store, std::string_view key) const {
  TESS_ASSIGN_OR_RETURN(auto value, store.get(user_key(bucket_, key)));
  proto::BucketResult result;
  result.set_found(value.has_value());
  if (value) result.set_value(std::move(*value));
  return result;
}

Result<proto::BucketResult> KvStateMachine::range(StateStore& store, std::string_view start,
                                                  std::string_view end, size_t limit) const {
  limit = std::min(limit, kMaxRangeLimit);
  std::string range_end =
      end.empty() ? kind_prefix(bucket_, static_cast<KeyKind>('K' + 1)) : user_key(bucket_, end);
  TESS_ASSIGN_OR_RETURN(auto pairs, store.scan(user_key(bucket_, start), range_end, limit));
  std::string out;
  for (const auto& [k, v] : pairs) {
    std::string_view key = user_key_of(k);
    std::byte size[4];
    store_le<uint32_t>(size, static_cast<uint32_t>(key.size()));
    out.append(reinterpret_cast<const char*>(size), 4);
    out.append(key);
    store_le<uint32_t>(size, static_cast<uint32_t>(v.size()));
    out.append(reinterpret_cast<const char*>(size), 4);
    out.append(v);
  }
  proto::BucketResult result;
  result.set_found(!pairs.empty());
  result.set_value(std::move(out));
  return result;
}

Result<proto::BucketResult> KvStateMachine::meta_read(StateStore& store,
                                                      const proto::MetaRead& read) const {
  if (handler_ == nullptr) {
    return result_of(error(StatusCode::kUnimplemented, "this bucket has no namespace"));
  }
  proto::BucketResult result;
  TESS_ASSIGN_OR_RETURN(*result.mutable_meta(), handler_->read(store, bucket_, read));
  return result;
}

}  // namespace tessera::bucket
