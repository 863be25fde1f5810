#include "cli/exit_code.h"

namespace tessera::cli {

int exit_code(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 2;
    case StatusCode::kNotFound:
      return 3;
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
      return 4;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kBusy:
    case StatusCode::kStaleMap:
      return 5;
    case StatusCode::kNoSpace:
      return 6;
    case StatusCode::kPermissionDenied:
      return 7;
    default:
      return 1;
  }
}

}  // namespace tessera::cli
