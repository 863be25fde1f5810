#!/usr/bin/env python3
"""Writes the seed inputs of the frame decoder fuzz target into corpus/frame_decoder/.

Each seed is one split byte followed by a byte stream of frames in the format of
src/rpc/frame.h: valid requests and responses, several frames back to back, and the broken
cases the decoder must refuse (bad magic, checksum, version, flags, lengths, truncation).
"""
import os
import struct
import sys

MAGIC = 0x41525354


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def header(msg_type, proto_len, payload_len, request_id=1, flags=0, version=1, epoch=0,
           timeout_ms=1000, reserved=0, magic=MAGIC, bad_crc=False):
    body = struct.pack("<IHHIIQQIII", magic, version, flags, msg_type, proto_len, request_id,
                       epoch, payload_len, timeout_ms, reserved)
    crc = crc32c(body) ^ (1 if bad_crc else 0)
    return body + struct.pack("<I", crc)


def frame(msg_type, proto=b"", payload=b"", **kw):
    return header(msg_type, len(proto), len(payload), **kw) + proto + payload


PING = bytes([0x08, 0x2A, 0x10, 0x01])  # PingRequest{nonce: 42, echo_payload: true}
ERROR = bytes([0x08, 0x07, 0x12, 0x04]) + b"full"  # RpcError{code: 7, message: "full"}

SEEDS = {
    "ping": frame(1, PING),
    "ping_payload": frame(1, PING, bytes(range(256)) * 20),
    "response": frame(1, PING, b"xyz", flags=1, request_id=7),
    "error_response": frame(1, ERROR, flags=3, request_id=9),
    "three_frames": frame(1, PING) + frame(9000, b"", b"p" * 5000) + frame(2, b"abc", b"q"),
    "empty_frame": frame(0),
    "bad_magic": frame(1, PING, magic=0x12345678),
    "bad_crc": frame(1, PING, bad_crc=True),
    "bad_version": frame(1, PING, version=9),
    "bad_flags": frame(1, PING, flags=0x40),
    "bad_reserved": frame(1, PING, reserved=5),
    "huge_proto": header(1, 0xFFFFFFFF, 0),
    "huge_payload": header(1, 0, 0xFFFFFFF0),
    "truncated_header": frame(1, PING)[:30],
    "truncated_payload": frame(1, PING, b"z" * 1000)[:600],
    "garbage": bytes((i * 37 + 11) % 256 for i in range(300)),
}


def main() -> int:
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "frame_decoder")
    os.makedirs(out, exist_ok=True)
    for name, stream in SEEDS.items():
        for split in (0, 200):
            with open(os.path.join(out, f"seed_{name}_{split}"), "wb") as f:
                f.write(bytes([split]) + stream)
    print(f"wrote {2 * len(SEEDS)} seeds to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
