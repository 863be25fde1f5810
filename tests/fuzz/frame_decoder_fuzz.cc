// libFuzzer target: the RPC frame decoder must turn any byte stream into frames or a clean
// error, never crash, hang or read out of bounds, whatever the chunking of the stream.
//
// Input layout: byte 0 seeds the read sizes (so the fuzzer explores every split of the stream);
// the rest is the stream itself. Every frame that decodes is checked against its header, its
// header re-encoded must decode to itself, and its message is parsed as each built-in type.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/assert.h"
#include "proto/rpc.pb.h"
#include "rpc/call.h"
#include "rpc/frame.h"

namespace {

using tessera::rpc::FrameDecoder;
using tessera::rpc::FrameLimits;

// A small allocate-ahead limit so that payload growth (frame.h) is explored as well.
constexpr FrameLimits kLimits{
    .max_proto_bytes = 64 * 1024, .max_payload_bytes = 1 << 20, .max_allocated_ahead_bytes = 4096};

void check_frame(const tessera::rpc::Frame& frame) {
  TESS_ASSERT(frame.proto.size() == frame.header.proto_bytes, "proto length mismatch");
  TESS_ASSERT(frame.payload.size() == frame.header.payload_bytes, "payload length mismatch");
  TESS_ASSERT(frame.header.proto_bytes <= kLimits.max_proto_bytes, "proto over the limit");
  TESS_ASSERT(frame.header.payload_bytes <= kLimits.max_payload_bytes, "payload over the limit");
  auto encoded = tessera::rpc::encode_frame_header(frame.header);
  auto again = tessera::rpc::decode_frame_header(encoded, kLimits);
  TESS_ASSERT(again.ok() && *again == frame.header, "header does not round-trip");
  (void)tessera::rpc::parse_message<tessera::proto::RpcError>(frame.proto);
  (void)tessera::rpc::parse_message<tessera::proto::PingRequest>(frame.proto);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint32_t split_state = data[0] * 2654435761u + 1;
  const uint8_t* stream = data + 1;
  size_t remaining = size - 1;
  FrameDecoder decoder(kLimits, /*staging_bytes=*/256);
  size_t fed = 0;
  while (true) {
    // A frame's memory grows with the bytes that arrived, whatever its header declares.
    TESS_ASSERT(decoder.allocated_bytes() <= 256 + 64 + kLimits.max_allocated_ahead_bytes + 4 * fed,
                "decoder holds {} bytes after {} arrived", decoder.allocated_bytes(), fed);
    while (true) {
      auto next = decoder.next();
      if (!next.ok()) {
        TESS_ASSERT(decoder.failed() && decoder.read_target().empty(), "failure is not sticky");
        return 0;
      }
      if (!next->has_value()) break;
      check_frame(**next);
    }
    if (remaining == 0) return 0;
    auto target = decoder.read_target();
    TESS_ASSERT(!target.empty(), "healthy decoder offered no room");
    split_state = split_state * 1103515245u + 12345u;
    size_t piece = 1 + (split_state >> 16) % 512;
    size_t n = std::min({target.size(), piece, remaining});
    std::memcpy(target.data(), stream, n);
    decoder.commit(n);
    stream += n;
    remaining -= n;
    fed += n;
  }
}
