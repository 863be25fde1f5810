#include "rpc/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <random>

#include "base/crc32c.h"
#include "base/endian.h"
#include "rpc/connection.h"
#include "testing/testing.h"

namespace tessera::rpc {
namespace {

FrameHeader sample_header() {
  return FrameHeader{.flags = kFlagResponse,
                     .message_type = 77,
                     .proto_bytes = 5,
                     .request_id = 0x1122334455667788,
                     .map_epoch = 9,
                     .payload_bytes = 3,
                     .timeout_ms = 250};
}

Result<FrameHeader> decode(const EncodedHeader& bytes, FrameLimits limits = {}) {
  return decode_frame_header(std::span<const std::byte, kFrameHeaderSize>(bytes), limits);
}

void reseal(EncodedHeader& bytes) {  // Recomputes the CRC after a deliberate edit.
  store_le<uint32_t>(bytes.data() + 44, crc32c(std::span(bytes.data(), 44)));
}

TEST(FrameHeaderTest, RoundTrip) {
  auto decoded = decode(encode_frame_header(sample_header()));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, sample_header());
}

TEST(FrameHeaderTest, RejectsEveryBrokenRule) {
  struct Case {
    const char* name;
    void (*edit)(EncodedHeader&);
    const char* expected;
  };
  const Case cases[] = {
      {"magic",
       [](EncodedHeader& b) {
         b[0] = std::byte{'X'};
         reseal(b);
       },
       "magic"},
      {"crc", [](EncodedHeader& b) { b[20] ^= std::byte{1}; }, "checksum"},
      {"version",
       [](EncodedHeader& b) {
         store_le<uint16_t>(b.data() + 4, 2);
         reseal(b);
       },
       "version"},
      {"flags",
       [](EncodedHeader& b) {
         store_le<uint16_t>(b.data() + 6, 0x80);
         reseal(b);
       },
       "flags"},
      {"reserved",
       [](EncodedHeader& b) {
         store_le<uint32_t>(b.data() + 40, 1);
         reseal(b);
       },
       "reserved"},
      {"proto",
       [](EncodedHeader& b) {
         store_le<uint32_t>(b.data() + 12, 5000);
         reseal(b);
       },
       "message of 5000 bytes"},
      {"payload",
       [](EncodedHeader& b) {
         store_le<uint32_t>(b.data() + 32, 9000);
         reseal(b);
       },
       "payload of 9000 bytes"},
  };
  FrameLimits limits{.max_proto_bytes = 4096, .max_payload_bytes = 8192};
  for (const Case& c : cases) {
    EncodedHeader bytes = encode_frame_header(sample_header());
    c.edit(bytes);
    auto decoded = decode(bytes, limits);
    ASSERT_FALSE(decoded.ok()) << c.name;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(decoded.status().message().find(c.expected), std::string_view::npos)
        << c.name << ": " << decoded.status();
  }
}

// Serializes frames the way a Connection writes them.
std::string wire_bytes(const std::vector<OutgoingFrame>& frames) {
  std::string out;
  for (const auto& f : frames) {
    out.append(reinterpret_cast<const char*>(f.header.data()), f.header.size());
    out.append(f.proto);
    out.append(f.payload.as_string_view());
  }
  return out;
}

std::vector<OutgoingFrame> three_frames(size_t big_payload) {
  std::string big(big_payload, 'p');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::vector<OutgoingFrame> frames;
  frames.push_back(make_frame(FrameHeader{.message_type = 1, .request_id = 1}, "first", {}));
  frames.push_back(make_frame(FrameHeader{.message_type = 2, .request_id = 2}, "",
                              Buffer::copy_of(std::string_view(big))));
  frames.push_back(make_frame(FrameHeader{.message_type = 3, .request_id = 3}, "third",
                              Buffer::copy_of(std::string_view("xyz"))));
  return frames;
}

// Feeds `wire` to a decoder in pieces of at most `piece` bytes and returns the frames.
std::vector<Frame> decode_in_pieces(const std::string& wire, size_t piece, size_t staging) {
  FrameDecoder decoder(FrameLimits{}, staging);
  std::vector<Frame> frames;
  size_t offset = 0;
  while (true) {
    while (true) {
      auto next = decoder.next();
      EXPECT_TRUE(next.ok()) << next.status();
      if (!next.ok() || !next->has_value()) break;
      frames.push_back(std::move(**next));
    }
    if (offset == wire.size()) break;
    auto target = decoder.read_target();
    size_t n = std::min({target.size(), piece, wire.size() - offset});
    std::memcpy(target.data(), wire.data() + offset, n);
    decoder.commit(n);
    offset += n;
  }
  EXPECT_TRUE(decoder.idle());
  return frames;
}

TEST(FrameDecoderTest, DecodesAtEverySplit) {
  std::string wire = wire_bytes(three_frames(5000));
  for (size_t piece :
       {size_t{1}, size_t{3}, size_t{47}, size_t{48}, size_t{100}, size_t{4096}, wire.size()}) {
    auto frames = decode_in_pieces(wire, piece, 128);
    ASSERT_EQ(frames.size(), 3u) << piece;
    EXPECT_EQ(frames[0].proto, "first");
    EXPECT_EQ(frames[1].payload.size(), 5000u);
    EXPECT_EQ(frames[1].payload.as_string_view().substr(0, 4), "abcd");
    EXPECT_EQ(frames[2].proto, "third");
    EXPECT_EQ(frames[2].payload.as_string_view(), "xyz");
    EXPECT_EQ(frames[2].header.request_id, 3u);
  }
}

TEST(FrameDecoderTest, LargePayloadIsReadInPlace) {
  std::string wire = wire_bytes(three_frames(1 << 20));
  FrameDecoder decoder(FrameLimits{}, 64 * kKiB);
  auto target = decoder.read_target();
  std::memcpy(target.data(), wire.data(), target.size());  // First 64 KiB into staging.
  decoder.commit(target.size());
  size_t offset = target.size();
  auto first = decoder.next();
  ASSERT_TRUE(first.ok() && first->has_value());
  auto partial = decoder.next();  // Consumes the staged start of frame 2's payload.
  ASSERT_TRUE(partial.ok() && !partial->has_value());
  auto direct = decoder.read_target();
  // The rest of the payload goes straight into the payload buffer: one read, no copy.
  size_t payload_start = 48 + 5 + 48;
  EXPECT_EQ(direct.size(), (size_t{1} << 20) - (offset - payload_start));
  std::memcpy(direct.data(), wire.data() + offset, direct.size());
  decoder.commit(direct.size());
  // The payload is complete: asking for room before taking the frame out offers staging.
  EXPECT_FALSE(decoder.read_target().empty());
  auto second = decoder.next();
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->payload.data() + (offset - payload_start), direct.data());
}

// A header may declare a payload far larger than what follows it: the decoder must not allocate
// the declared size before the bytes come, yet must still deliver the frame intact when they do.
TEST(FrameDecoderTest, LargeDeclaredPayloadIsAllocatedAsItArrives) {
  constexpr size_t kPayloadBytes = 32 * kMiB;
  constexpr size_t kAheadBytes = 256 * kKiB;
  std::string payload(kPayloadBytes, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 131 % 251);
  std::vector<OutgoingFrame> frames;
  frames.push_back(make_frame(FrameHeader{.message_type = 5, .request_id = 9}, "hello",
                              Buffer::copy_of(std::string_view(payload))));
  std::string wire = wire_bytes(frames);
  FrameDecoder decoder(FrameLimits{.max_allocated_ahead_bytes = kAheadBytes}, 64 * kKiB);
  size_t offset = 0;
  std::optional<Frame> frame;
  while (!frame) {
    auto target = decoder.read_target();
    size_t n = std::min({target.size(), size_t{100 * kKiB}, wire.size() - offset});
    ASSERT_GT(n, 0u);
    std::memcpy(target.data(), wire.data() + offset, n);
    decoder.commit(n);
    offset += n;
    // Never more than the staging buffer, the ahead allowance and twice what arrived.
    EXPECT_LE(decoder.allocated_bytes(), 64 * kKiB + 64 + std::max(kAheadBytes, 2 * offset))
        << "after " << offset << " bytes";
    auto next = decoder.next();
    ASSERT_TRUE(next.ok()) << next.status();
    if (next->has_value()) frame = std::move(**next);
    // Right after the header, the decoder holds the ahead allowance, not the 32 MiB declared.
    if (offset == 64 * kKiB) {
      EXPECT_LE(decoder.allocated_bytes(), 64 * kKiB + 64 + kAheadBytes);
    }
  }
  EXPECT_EQ(offset, wire.size());
  EXPECT_EQ(frame->proto, "hello");
  ASSERT_EQ(frame->payload.size(), kPayloadBytes);
  EXPECT_EQ(frame->payload.as_string_view(), payload);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(frame->payload.data()) % kBlockSize, 0u);
}

// The message also grows with its bytes: a header declaring a 4 MiB message costs little.
TEST(FrameDecoderTest, LargeDeclaredMessageIsAllocatedAsItArrives) {
  EncodedHeader header = encode_frame_header(FrameHeader{.proto_bytes = 4 * kMiB});
  FrameDecoder decoder(FrameLimits{}, 64 * kKiB);
  auto target = decoder.read_target();
  std::memcpy(target.data(), header.data(), header.size());
  std::memset(target.data() + header.size(), 'm', 100);
  decoder.commit(header.size() + 100);
  auto next = decoder.next();
  ASSERT_TRUE(next.ok() && !next->has_value());
  EXPECT_LE(decoder.allocated_bytes(), size_t{2} * 64 * kKiB + 64);
}

TEST(FrameDecoderTest, FailureIsSticky) {
  FrameDecoder decoder(FrameLimits{});
  auto target = decoder.read_target();
  std::memset(target.data(), 0xAB, 64);
  decoder.commit(64);
  auto first = decoder.next();
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(decoder.failed());
  EXPECT_TRUE(decoder.read_target().empty());
  EXPECT_EQ(decoder.next().status(), first.status());
}

TEST(FrameDecoderTest, RandomGarbageNeverCrashes) {
  std::mt19937_64 random(12345);
  for (int round = 0; round < 200; ++round) {
    std::string wire = wire_bytes(three_frames(300));
    for (int flips = 0; flips < 3; ++flips) {
      char& target = wire[random() % wire.size()];
      target = static_cast<char>(target ^ static_cast<char>(1 + random() % 255));
    }
    FrameDecoder decoder(FrameLimits{.max_proto_bytes = 1024, .max_payload_bytes = 4096}, 128);
    size_t offset = 0;
    while (offset < wire.size() && !decoder.failed()) {
      auto target = decoder.read_target();
      size_t n = std::min<size_t>({target.size(), 1 + random() % 64, wire.size() - offset});
      std::memcpy(target.data(), wire.data() + offset, n);
      decoder.commit(n);
      offset += n;
      while (true) {
        auto next = decoder.next();
        if (!next.ok() || !next->has_value()) break;
      }
    }
  }
}

}  // namespace
}  // namespace tessera::rpc
