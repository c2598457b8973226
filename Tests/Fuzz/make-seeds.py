"""Writes the seed corpus for `make fuzz` (Tests/Fuzz/corpus/<target>/): valid inputs
and near-misses that reach deep into each target, for libFuzzer to mutate.
Usage: make-seeds.py (uses hpack from the project's virtualenv)"""
import gzip
import os
import struct
import zlib

import hpack

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def grpc(message, flag=0):
    return struct.pack(">BI", flag, len(message)) + message


def payload(body):  # grpc.testing.Payload{body}
    return b"\x12" + bytes([len(body)]) + body


def chunked(data, size=200):
    """The http2-server target's input: each read prefixed by its length - 1."""
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += bytes([len(piece) - 1]) + piece
    return out


def request(encoder, path, extra=()):
    return encoder.encode([(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "fuzz"),
                           ("content-type", "application/grpc"), ("te", "trailers"), *extra])


# http2-server: whole exchanges after the preface.
e = hpack.Encoder()
settings = frame(4, 0, 0)
unary = request(e, "/fuzz.Echo/Unary")
write("http2-server", "unary", chunked(settings + frame(1, 4, 1, unary) + frame(0, 1, 1, grpc(payload(b"hi")))))
e = hpack.Encoder()
stream = request(e, "/fuzz.Echo/Stream", [("grpc-timeout", "1S"), ("x-meta-bin", "AAEC")])
write("http2-server", "stream-then-reset",
      chunked(settings + frame(1, 4, 3, stream) + frame(0, 0, 3, grpc(payload(b"a")) + grpc(payload(b"b")))
              + frame(8, 0, 3, struct.pack(">I", 1000)) + frame(3, 0, 3, struct.pack(">I", 8)), size=17))
e = hpack.Encoder()
gz = request(e, "/fuzz.Echo/Unary", [("grpc-encoding", "gzip"), ("grpc-accept-encoding", "gzip")])
write("http2-server", "gzip-unary", chunked(settings + frame(1, 4, 1, gz) + frame(0, 1, 1, grpc(gzip.compress(payload(b"zip")), 1))))
e = hpack.Encoder()
head = request(e, "/fuzz.Echo/Unary")
write("http2-server", "continuation-ping-goaway",
      chunked(settings + frame(1, 0, 1, head[:5]) + frame(9, 4, 1, head[5:]) + frame(6, 0, 0, b"12345678")
              + frame(0, 1, 1, grpc(b"")) + frame(7, 0, 0, struct.pack(">II", 1, 0)), size=9))
write("http2-server", "bad-settings", chunked(frame(4, 0, 0, b"\x00" * 5)))

# grpc-deframer: the first byte is where the input is split in two reads.
write("grpc-deframer", "two-messages", bytes([7]) + grpc(b"hello") + grpc(b""))
write("grpc-deframer", "gzip", bytes([3]) + grpc(gzip.compress(b"x" * 100), 1))
write("grpc-deframer", "deflate", bytes([9]) + grpc(zlib.compress(b"y" * 1000), 1))
write("grpc-deframer", "too-large", bytes([1]) + struct.pack(">BI", 0, 1 << 20) + b"z" * 10)
write("grpc-deframer", "bad-flag", bytes([0]) + struct.pack(">BI", 2, 1) + b"q")

# client-messages: what a client sends the gate, and the chat payloads inside calls.
any_join = b"\x0a\x2etype.googleapis.com/chat.ChatRoom_JoinRequest\x12\x0c\x0a\x05alice\x12\x03cid"
write("client-messages", "call-object", b"\x0a\x09127/abc-1\x12\x08ChatRoom\x1a\x0cChatRoom-Gen\x22\x04Join\x2a"
      + bytes([len(any_join)]) + any_join)
write("client-messages", "create-object", b"\x0a\x07Counter\x12\x02c1")
write("client-messages", "send-message", b"\x0a\x05alice\x12\x0bhello \xe2\x98\xba \xf0\x9f\x98\x88\x1a\x04m-01")
write("client-messages", "recent", b"\x08\x05\x10\x32")
write("client-messages", "truncated", b"\x0a\x09127/ab")
