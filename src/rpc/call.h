// The request and reply as a handler or a caller sees them: the protobuf message still serialized
// (parsed on demand into the type the message_type implies) and the payload as a Buffer.
#pragma once

#include <cstdint>
#include <string>

#include "base/buffer.h"
#include "base/status.h"
#include "base/strong_id.h"
#include "runtime/deadline.h"

namespace tessera::rpc {

// Parses `bytes` as message M, or kInvalidArgument naming M.
template <typename M>
Result<M> parse_message(const std::string& bytes) {
  M message;
  if (!message.ParseFromString(bytes)) {
    return error(StatusCode::kInvalidArgument, "malformed {} message", M().GetTypeName());
  }
  return message;
}

struct Request {
  uint32_t message_type = 0;
  std::string proto;
  Buffer payload;
  MapEpoch map_epoch;
  // When the caller stops waiting; a handler should give up (and need not answer) after it.
  Deadline deadline = Deadline::never();
  std::string peer_name;

  template <typename M>
  Result<M> parse() const {
    return parse_message<M>(proto);
  }
};

struct Reply {
  std::string proto;
  Buffer payload;

  template <typename M>
  static Reply of(const M& message, Buffer payload = Buffer()) {
    return Reply{message.SerializeAsString(), std::move(payload)};
  }
  template <typename M>
  Result<M> parse() const {
    return parse_message<M>(proto);
  }
};

}  // namespace tessera::rpc
