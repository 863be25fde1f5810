// Errors as values. A Status is OK or a code plus a human-readable message; Result<T> is a T or a
// non-OK Status. Both are [[nodiscard]]. Our code never throws: operating errors (bad input, a
// peer that is down, a full or corrupt drive) travel as Status; bugs are TESS_ASSERT failures.
//
// A code exists only if some caller reacts to it differently from the others; detail goes in the
// message. Each frontend maps codes to its own vocabulary (errno, S3 error, exit code) in exactly
// one place.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace tessera {

enum class StatusCode : uint8_t {
  kOk = 0,
  kCancelled = 1,           // The caller gave up (shutdown, cancelled coroutine). Do not retry.
  kInvalidArgument = 2,     // The request is malformed. Retrying the same request fails again.
  kDeadlineExceeded = 3,    // The deadline passed; the operation may or may not have happened.
  kNotFound = 4,            // The named thing does not exist.
  kAlreadyExists = 5,       // The thing to create exists.
  kPermissionDenied = 6,    // The caller may not do this.
  kNoSpace = 7,             // A drive, filesystem or quota is full.
  kFailedPrecondition = 8,  // The system is not in the state the operation needs; fix it first.
  kAborted = 9,             // A conflict (term, intent); retry the whole higher-level operation.
  kOutOfRange = 10,         // Offset or index past the end.
  kUnimplemented = 11,      // Not supported by this peer or this version.
  kInternal = 12,           // An invariant broke in a peer; report it.
  kUnavailable = 13,        // The peer cannot be reached right now; retry (idempotent calls only).
  kBusy = 14,               // The peer is overloaded and shed this request; back off and retry.
  kStaleMap = 15,           // The sender's cluster map epoch is older than the receiver's.
  kCorruption = 16,         // Stored bytes failed their checksum; read degraded and repair.
  kIoError = 17,            // A device failed an I/O.
};
inline constexpr int kStatusCodeCount = 18;

// Returns the code's name without the "k", e.g. "NoSpace".
std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  // An OK status. Costs one null pointer.
  Status() = default;
  // REQUIRES: code != kOk.
  Status(StatusCode code, std::string message);

  static Status ok_status() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  // Empty for OK.
  std::string_view message() const { return state_ ? std::string_view(state_->message) : ""; }
  // "OK" or "<CodeName>: <message>".
  std::string to_string() const;

  // Returns a copy whose message is "<context>: <message>". OK stays OK.
  Status with_context(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  // Immutable once built, so copies share it.
  std::shared_ptr<const State> state_;
};

// Builds a non-OK status with a fmt-formatted message, e.g.
//   return error(StatusCode::kNoSpace, "drive {} has {} bytes free", id, free_bytes);
template <typename... Args>
Status error(StatusCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  // A failed Result (kInternal, "unset"), as absl::StatusOr does; exists because Asio's co_spawn
  // default-constructs results. Code should always construct from a value or a status.
  Result() : value_(std::in_place_index<0>, Status(StatusCode::kInternal, "unset Result")) {}
  // NOLINTNEXTLINE(google-explicit-constructor): a T converts to a successful Result.
  Result(T value) : value_(std::in_place_index<1>, std::move(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor): REQUIRES: !status.ok().
  Result(Status status) : value_(std::in_place_index<0>, std::move(status)) {
    TESS_ASSERT(!std::get<0>(value_).ok(), "a Result cannot hold an OK status without a value");
  }

  bool ok() const { return value_.index() == 1; }
  // OK when a value is held.
  Status status() const { return ok() ? Status() : std::get<0>(value_); }

  // REQUIRES: ok().
  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->checked(); }
  T&& operator*() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }

 private:
  T& checked() {
    TESS_ASSERT(ok(), "value() of a failed Result: {}", std::get<0>(value_).to_string());
    return std::get<1>(value_);
  }
  std::variant<Status, T> value_;
};

namespace internal {
inline Status status_of(Status s) { return s; }
template <typename T>
Status status_of(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace tessera

#define TESS_CONCAT_INNER(a, b) a##b
#define TESS_CONCAT(a, b) TESS_CONCAT_INNER(a, b)

// Returns (or co_returns) the status of `expr` from the enclosing function if it is not OK.
#define TESS_RETURN_IF_ERROR(expr)                                               \
  do {                                                                           \
    if (::tessera::Status tess_status_ = ::tessera::internal::status_of((expr)); \
        !tess_status_.ok()) {                                                    \
      return tess_status_;                                                       \
    }                                                                            \
  } while (false)
#define TESS_CO_RETURN_IF_ERROR(expr)                                            \
  do {                                                                           \
    if (::tessera::Status tess_status_ = ::tessera::internal::status_of((expr)); \
        !tess_status_.ok()) {                                                    \
      co_return tess_status_;                                                    \
    }                                                                            \
  } while (false)

// `TESS_ASSIGN_OR_RETURN(auto x, f());` declares x from a successful Result or returns its status.
// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration and `tmp` a name.
#define TESS_ASSIGN_OR_RETURN(lhs, expr) \
  TESS_ASSIGN_OR_RETURN_IMPL(TESS_CONCAT(tess_result_, __LINE__), lhs, expr, return )
#define TESS_CO_ASSIGN_OR_RETURN(lhs, expr) \
  TESS_ASSIGN_OR_RETURN_IMPL(TESS_CONCAT(tess_result_, __LINE__), lhs, expr, co_return )
#define TESS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr, ret) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) {                                      \
    ret tmp.status();                                   \
  }                                                     \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

template <>
struct fmt::formatter<tessera::Status> : fmt::formatter<std::string_view> {
  auto format(const tessera::Status& s, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(s.to_string(), ctx);
  }
};
