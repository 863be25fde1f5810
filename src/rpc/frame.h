// The frame: the unit of every RPC message on a connection.
//
//   offset size field
//        0    4 magic          0x41525354, the bytes "TSRA"
//        4    2 version        kProtocolVersion
//        6    2 flags          kFlagResponse | kFlagError; other bits must be zero
//        8    4 message_type   rpc::MessageType
//       12    4 proto_bytes    length of the protobuf message that follows the header
//       16    8 request_id     chosen by the caller, echoed in the response
//       24    8 map_epoch      the sender's cluster map epoch (0 = none)
//       32    4 payload_bytes  length of the raw payload after the protobuf message
//       36    4 timeout_ms     time the caller still waits (requests); 0 in responses
//       40    4 reserved       zero
//       44    4 header_crc     CRC32C of bytes 0..43
//
// All integers little-endian. A frame that breaks any rule (magic, version, flags, reserved,
// header CRC, lengths above the receiver's limits) ends the connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/buffer.h"
#include "base/status.h"
#include "base/units.h"

namespace tessera::rpc {

inline constexpr uint32_t kFrameMagic = 0x41525354;
inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kFrameHeaderSize = 48;
inline constexpr uint16_t kFlagResponse = 1;
inline constexpr uint16_t kFlagError = 2;
inline constexpr uint16_t kKnownFlags = kFlagResponse | kFlagError;

struct FrameHeader {
  uint16_t version = kProtocolVersion;
  uint16_t flags = 0;
  uint32_t message_type = 0;
  uint32_t proto_bytes = 0;
  uint64_t request_id = 0;
  uint64_t map_epoch = 0;
  uint32_t payload_bytes = 0;
  uint32_t timeout_ms = 0;

  bool is_response() const { return (flags & kFlagResponse) != 0; }
  bool is_error() const { return (flags & kFlagError) != 0; }
  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};

// What a receiver accepts. Larger frames end the connection before any memory is allocated.
struct FrameLimits {
  uint32_t max_proto_bytes = 4 * kMiB;
  uint32_t max_payload_bytes = 64 * kMiB;
  // How much memory a frame may hold ahead of the bytes that fill it, so that a header declaring
  // a huge frame costs its sender the bytes, not the receiver the memory. A payload up to this
  // size is allocated whole when it starts and read in place (no copy); a larger one grows by
  // doubling as its bytes arrive (each growth copies what arrived: less than the payload in all).
  // Values below 4 KiB count as 4 KiB.
  uint32_t max_allocated_ahead_bytes = 1 * kMiB;
};

using EncodedHeader = std::array<std::byte, kFrameHeaderSize>;

EncodedHeader encode_frame_header(const FrameHeader& header);
// Validates every rule in the comment above; kInvalidArgument names the broken one.
Result<FrameHeader> decode_frame_header(std::span<const std::byte, kFrameHeaderSize> bytes,
                                        const FrameLimits& limits);

struct Frame {
  FrameHeader header;
  std::string proto;
  Buffer payload;
};

// Parses a byte stream into frames, incrementally. The reader asks where to put the next bytes
// (read_target), reads into that span, reports how many arrived (commit), then takes frames out
// (next) until it returns nullopt. Headers and messages are staged in a small internal buffer;
// a payload is read straight into its own aligned Buffer once the staged bytes are used up, so
// payloads are not copied (up to FrameLimits::max_allocated_ahead_bytes; larger ones grow as they
// arrive). Memory held: the staging buffer plus at most max(max_allocated_ahead_bytes, bytes of
// the frame received) beyond what arrived. After an error the decoder stays failed.
//
// Not thread-safe: one connection's reader owns it.
class FrameDecoder {
 public:
  explicit FrameDecoder(FrameLimits limits, size_t staging_bytes = 64 * kKiB);

  // Where the next bytes should go; never empty unless failed.
  std::span<std::byte> read_target();
  // REQUIRES: byte_count <= read_target().size().
  void commit(size_t byte_count);
  // The next complete frame, nullopt if more bytes are needed, or the reason the stream is bad.
  Result<std::optional<Frame>> next();

  bool failed() const { return !failure_.ok(); }
  // True between frames, with nothing staged (a clean place for the stream to end).
  bool idle() const { return state_ == State::kHeader && begin_ == end_; }
  // Memory the decoder holds now: staging, the message and the payload buffer as allocated.
  size_t allocated_bytes() const {
    return staging_.size() + frame_.proto.capacity() + frame_.payload.size();
  }

 private:
  enum class State { kHeader, kProto, kPayload };
  size_t staged() const { return end_ - begin_; }
  size_t allocate_ahead_bytes() const;
  void take_staged(std::byte* out, size_t count);
  // Makes room in the payload buffer for at least one more byte, growing it if it is full.
  void grow_payload();
  Status fail(Status status);

  FrameLimits limits_;
  std::vector<std::byte> staging_;
  size_t begin_ = 0;
  size_t end_ = 0;
  State state_ = State::kHeader;
  Frame frame_;
  size_t filled_ = 0;    // Bytes of the current payload received so far.
  bool direct_ = false;  // read_target() handed out the payload itself.
  Status failure_;
};

}  // namespace tessera::rpc
