#include "base/status.h"

#include <array>

namespace tessera {

std::string_view status_code_name(StatusCode code) {
  static constexpr std::array<std::string_view, kStatusCodeCount> kNames = {"OK",
                                                                            "Cancelled",
                                                                            "InvalidArgument",
                                                                            "DeadlineExceeded",
                                                                            "NotFound",
                                                                            "AlreadyExists",
                                                                            "PermissionDenied",
                                                                            "NoSpace",
                                                                            "FailedPrecondition",
                                                                            "Aborted",
                                                                            "OutOfRange",
                                                                            "Unimplemented",
                                                                            "Internal",
                                                                            "Unavailable",
                                                                            "Busy",
                                                                            "StaleMap",
                                                                            "Corruption",
                                                                            "IoError"};
  auto index = static_cast<size_t>(code);
  return index < kNames.size() ? kNames[index] : std::string_view("Unknown");
}

Status::Status(StatusCode code, std::string message)
    : state_(std::make_shared<const State>(State{code, std::move(message)})) {
  TESS_ASSERT(code != StatusCode::kOk, "a non-OK Status needs a non-OK code");
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  return fmt::format("{}: {}", status_code_name(code()), message());
}

Status Status::with_context(std::string_view context) const {
  if (ok()) return *this;
  return Status(code(), fmt::format("{}: {}", context, message()));
}

}  // namespace tessera
