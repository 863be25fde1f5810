#include "rpc/frame.h"

#include <algorithm>
#include <cstring>

#include "base/crc32c.h"
#include "base/endian.h"

namespace tessera::rpc {

namespace {
constexpr size_t kCrcOffset = 44;
}

EncodedHeader encode_frame_header(const FrameHeader& header) {
  EncodedHeader out{};
  std::byte* p = out.data();
  store_le<uint32_t>(p + 0, kFrameMagic);
  store_le<uint16_t>(p + 4, header.version);
  store_le<uint16_t>(p + 6, header.flags);
  store_le<uint32_t>(p + 8, header.message_type);
  store_le<uint32_t>(p + 12, header.proto_bytes);
  store_le<uint64_t>(p + 16, header.request_id);
  store_le<uint64_t>(p + 24, header.map_epoch);
  store_le<uint32_t>(p + 32, header.payload_bytes);
  store_le<uint32_t>(p + 36, header.timeout_ms);
  store_le<uint32_t>(p + 40, 0);
  store_le<uint32_t>(p + kCrcOffset, crc32c(std::span(p, kCrcOffset)));
  return out;
}

Result<FrameHeader> decode_frame_header(std::span<const std::byte, kFrameHeaderSize> bytes,
                                        const FrameLimits& limits) {
  const std::byte* p = bytes.data();
  if (load_le<uint32_t>(p) != kFrameMagic) {
    return error(StatusCode::kInvalidArgument, "bad frame magic {:#010x}", load_le<uint32_t>(p));
  }
  uint32_t expected_crc = crc32c(std::span(p, kCrcOffset));
  if (load_le<uint32_t>(p + kCrcOffset) != expected_crc) {
    return error(StatusCode::kInvalidArgument, "frame header checksum mismatch");
  }
  FrameHeader header;
  header.version = load_le<uint16_t>(p + 4);
  header.flags = load_le<uint16_t>(p + 6);
  header.message_type = load_le<uint32_t>(p + 8);
  header.proto_bytes = load_le<uint32_t>(p + 12);
  header.request_id = load_le<uint64_t>(p + 16);
  header.map_epoch = load_le<uint64_t>(p + 24);
  header.payload_bytes = load_le<uint32_t>(p + 32);
  header.timeout_ms = load_le<uint32_t>(p + 36);
  if (header.version != kProtocolVersion) {
    return error(StatusCode::kInvalidArgument, "unsupported protocol version {} (this is {})",
                 header.version, kProtocolVersion);
  }
  if ((header.flags & ~kKnownFlags) != 0) {
    return error(StatusCode::kInvalidArgument, "unknown frame flags {:#x}", header.flags);
  }
  if (load_le<uint32_t>(p + 40) != 0) {
    return error(StatusCode::kInvalidArgument, "reserved header field is not zero");
  }
  if (header.proto_bytes > limits.max_proto_bytes) {
    return error(StatusCode::kInvalidArgument, "message of {} bytes exceeds the limit of {}",
                 header.proto_bytes, limits.max_proto_bytes);
  }
  if (header.payload_bytes > limits.max_payload_bytes) {
    return error(StatusCode::kInvalidArgument, "payload of {} bytes exceeds the limit of {}",
                 header.payload_bytes, limits.max_payload_bytes);
  }
  return header;
}

FrameDecoder::FrameDecoder(FrameLimits limits, size_t staging_bytes)
    : limits_(limits), staging_(std::max(staging_bytes, 2 * kFrameHeaderSize)) {}

std::span<std::byte> FrameDecoder::read_target() {
  if (failed()) return {};
  if (state_ == State::kPayload && staged() == 0 && filled_ < frame_.header.payload_bytes) {
    grow_payload();
    direct_ = true;
    return frame_.payload.span().subspan(filled_);
  }
  direct_ = false;
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (staging_.size() - end_ < kFrameHeaderSize) {
    // Too little room at the tail for even a header: move the staged bytes to the front.
    std::memmove(staging_.data(), staging_.data() + begin_, staged());
    end_ -= begin_;
    begin_ = 0;
  }
  return std::span(staging_).subspan(end_);
}

void FrameDecoder::commit(size_t byte_count) {
  if (direct_) {
    TESS_ASSERT(byte_count <= frame_.payload.size() - filled_, "commit past the payload");
    filled_ += byte_count;
  } else {
    TESS_ASSERT(byte_count <= staging_.size() - end_, "commit past the staging buffer");
    end_ += byte_count;
  }
  direct_ = false;
}

size_t FrameDecoder::allocate_ahead_bytes() const {
  return std::max<size_t>(limits_.max_allocated_ahead_bytes, kBlockSize);
}

void FrameDecoder::take_staged(std::byte* out, size_t count) {
  std::memcpy(out, staging_.data() + begin_, count);
  begin_ += count;
}

void FrameDecoder::grow_payload() {
  size_t declared = frame_.header.payload_bytes;
  TESS_ASSERT(filled_ < declared, "no payload bytes left to receive");
  if (filled_ < frame_.payload.size()) return;
  // Full: double it (at most to the declared size), keeping what arrived. The memory held beyond
  // the received bytes stays at most what was received.
  Buffer grown =
      Buffer::allocate(std::min(declared, std::max(2 * filled_, allocate_ahead_bytes())));
  if (filled_ > 0) std::memcpy(grown.data(), frame_.payload.data(), filled_);
  frame_.payload = std::move(grown);
}

Status FrameDecoder::fail(Status status) {
  failure_ = status;
  return status;
}

Result<std::optional<Frame>> FrameDecoder::next() {
  if (failed()) return failure_;
  if (state_ == State::kHeader) {
    if (staged() < kFrameHeaderSize) return std::optional<Frame>();
    auto header = decode_frame_header(
        std::span<const std::byte, kFrameHeaderSize>(staging_.data() + begin_, kFrameHeaderSize),
        limits_);
    if (!header.ok()) return fail(header.status());
    begin_ += kFrameHeaderSize;
    frame_ = Frame{*header, std::string(), Buffer()};
    // The message grows as its bytes arrive (it comes through staging, at most a staging buffer
    // at a time).
    frame_.proto.reserve(std::min<size_t>(header->proto_bytes, staging_.size()));
    filled_ = 0;
    state_ = State::kProto;
  }
  if (state_ == State::kProto) {
    size_t count = std::min(staged(), frame_.header.proto_bytes - frame_.proto.size());
    frame_.proto.append(reinterpret_cast<const char*>(staging_.data() + begin_), count);
    begin_ += count;
    if (frame_.proto.size() < frame_.header.proto_bytes) return std::optional<Frame>();
    // The whole payload at once if small enough (then it is read in place), else the first part.
    frame_.payload =
        Buffer::allocate(std::min<size_t>(frame_.header.payload_bytes, allocate_ahead_bytes()));
    filled_ = 0;
    state_ = State::kPayload;
  }
  while (staged() > 0 && filled_ < frame_.header.payload_bytes) {
    grow_payload();
    size_t count = std::min(staged(), frame_.payload.size() - filled_);
    take_staged(frame_.payload.data() + filled_, count);
    filled_ += count;
  }
  if (filled_ < frame_.header.payload_bytes) return std::optional<Frame>();
  TESS_ASSERT(frame_.payload.size() == frame_.header.payload_bytes,
              "payload buffer of {} bytes for {}", frame_.payload.size(),
              frame_.header.payload_bytes);
  state_ = State::kHeader;
  filled_ = 0;
  return std::optional<Frame>(std::move(frame_));
}

}  // namespace tessera::rpc
