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
  if (state_ == State::kPayload && staged() == 0) {
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

void FrameDecoder::take_staged(std::byte* out, size_t count) {
  std::memcpy(out, staging_.data() + begin_, count);
  begin_ += count;
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
    frame_ = Frame{*header, std::string(header->proto_bytes, '\0'), Buffer()};
    filled_ = 0;
    state_ = State::kProto;
  }
  if (state_ == State::kProto) {
    size_t count = std::min(staged(), frame_.proto.size() - filled_);
    take_staged(reinterpret_cast<std::byte*>(frame_.proto.data()) + filled_, count);
    filled_ += count;
    if (filled_ < frame_.proto.size()) return std::optional<Frame>();
    frame_.payload = Buffer::allocate(frame_.header.payload_bytes);
    filled_ = 0;
    state_ = State::kPayload;
  }
  size_t count = std::min(staged(), frame_.payload.size() - filled_);
  if (count > 0) take_staged(frame_.payload.data() + filled_, count);
  filled_ += count;
  if (filled_ < frame_.payload.size()) return std::optional<Frame>();
  state_ = State::kHeader;
  filled_ = 0;
  return std::optional<Frame>(std::move(frame_));
}

}  // namespace tessera::rpc
