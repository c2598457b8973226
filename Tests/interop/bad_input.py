"""Bad input against a running interop-server: malformed HTTP/2 and gRPC from a stranger,
each with the exact answer it must get, while a well-behaved grpcio client on the same
server keeps working.  Usage: bad_input.py --server_port=PORT"""
import gzip
import socket
import struct
import sys
import time
import zlib

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from pyinterop_common import Checks, load_stubs, parse_flags

empty_pb2, messages_pb2, test_pb2_grpc = load_stubs()

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
flags = parse_flags(sys.argv[1:], {"server_port": None})
PORT = int(flags["server_port"])
checks = Checks()
check = checks.check


def frame(payload, flag=0, declared=None):
    return struct.pack(">BI", flag, len(payload) if declared is None else declared) + payload


def raw_exchange(data, wait=2.0):
    """Sends raw bytes; returns (everything received, whether the server closed)."""
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=wait)
    sock.sendall(data)
    received, closed = b"", False
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            received += chunk
    except (socket.timeout, ConnectionResetError):
        closed = closed or False
    sock.close()
    return received, closed


def goaway_code(received):
    """Error code of the first GOAWAY frame in a raw server byte stream, or None."""
    offset = 0
    while offset + 9 <= len(received):
        length = int.from_bytes(received[offset:offset + 3], "big")
        kind = received[offset + 3]
        if kind == 7 and offset + 9 + 8 <= len(received):
            return int.from_bytes(received[offset + 13:offset + 17], "big")
        offset += 9 + length
    return None


def record(conn, result, event):
    """What an h2 event says about one call, into its result."""
    if isinstance(event, h2.events.ResponseReceived):
        result["headers"] = dict(event.headers)
    elif isinstance(event, h2.events.TrailersReceived):
        result["trailers"] = dict(event.headers)
    elif isinstance(event, h2.events.DataReceived):
        result["data"] += len(event.data)
        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
    elif isinstance(event, h2.events.StreamEnded):
        result["ended"] = True
    elif isinstance(event, h2.events.StreamReset):
        result["reset"] = event.error_code


def grpc_call(path, body=b"", headers=(), end_stream=True, wait=3.0, method="POST", content_type="application/grpc"):
    """One call with the h2 package: returns a dict of response headers, trailers,
    data length and whether the stream was reset."""
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=wait)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", method), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
                            ("content-type", content_type), ("te", "trailers"), *headers],
                      end_stream=end_stream and not body)
    if body:
        conn.send_data(sid, body, end_stream=end_stream)
    sock.sendall(conn.data_to_send())
    result = {"headers": {}, "trailers": {}, "data": 0, "reset": None, "ended": False}
    started = time.monotonic()
    deadline = started + wait
    try:
        while time.monotonic() < deadline and not result["ended"] and result["reset"] is None:
            chunk = sock.recv(65536)
            if not chunk:
                break
            for event in conn.receive_data(chunk):
                record(conn, result, event)
            sock.sendall(conn.data_to_send())
    except socket.timeout:
        pass
    result["elapsed"] = time.monotonic() - started
    sock.close()
    return result


def calls_on_one_connection(calls, wait=5.0):
    """Several calls (path, body, headers) as streams of one connection, all sent at
    once; a result per call as grpc_call returns them."""
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=wait)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 24})
    results, streams = [], {}
    for path, body, headers in calls:
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
                                ("content-type", "application/grpc"), ("te", "trailers"), *headers])
        result = {"headers": {}, "trailers": {}, "data": 0, "reset": None, "ended": False, "body": body}
        streams[sid] = result
        results.append(result)
    sock.sendall(conn.data_to_send())
    # Bodies as flow control allows, interleaved with reading.
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline and not all(r["ended"] or r["reset"] is not None for r in results):
            for sid, result in streams.items():
                pending = result["body"]
                if pending is None or result["ended"] or result["reset"] is not None:
                    continue
                room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if room > 0:
                    chunk, rest = pending[:room], pending[room:]
                    conn.send_data(sid, chunk, end_stream=not rest)
                    result["body"] = rest if rest else None
            sock.sendall(conn.data_to_send())
            sock.settimeout(0.2)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            for event in conn.receive_data(chunk):
                result = streams.get(getattr(event, "stream_id", None))
                if result is not None:
                    record(conn, result, event)
            sock.sendall(conn.data_to_send())
    except (socket.timeout, h2.exceptions.StreamClosedError):
        pass
    sock.close()
    return results


def zeros_payload(n):
    return messages_pb2.Payload(body=b"\0" * n)


def status_of(result):
    """grpc-status and grpc-message, from trailers or a Trailers-Only response."""
    fields = result["trailers"] or result["headers"]
    return fields.get("grpc-status"), fields.get("grpc-message", "")


# A well-behaved client that stays connected through everything below.
channel = grpc.insecure_channel(f"127.0.0.1:{PORT}")
stub = test_pb2_grpc.TestServiceStub(channel)


def good_client_works(after):
    try:
        response = stub.UnaryCall(messages_pb2.SimpleRequest(response_size=1000), timeout=5)
        check(f"well-behaved client after {after}", len(response.payload.body) == 1000, "UnaryCall OK")
    except grpc.RpcError as error:
        check(f"well-behaved client after {after}", False, f"{error.code()} {error.details()}")


good_client_works("start")

received, closed = raw_exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
check("bad preface closes the connection", closed, f"closed={closed}, GOAWAY code={goaway_code(received)}")
good_client_works("bad preface")

received, closed = raw_exchange(PREFACE + b"\x00\x00\x05\x04\x00\x00\x00\x00\x00" + b"\x00" * 5)
code = goaway_code(received)
check("SETTINGS of bad length -> GOAWAY FRAME_SIZE_ERROR", closed and code == 0x6, f"closed={closed}, GOAWAY code={code}")
good_client_works("malformed frame")

received, closed = raw_exchange(PREFACE + bytes(range(256)) * 4)
code = goaway_code(received)
check("garbage after the preface -> GOAWAY and close", closed and code is not None and code != 0,
      f"closed={closed}, GOAWAY code={code}")
good_client_works("garbage")

unary = "/grpc.testing.TestService/UnaryCall"
r = grpc_call(unary, frame(b"\0" * 16, declared=5 << 20))
check("oversized message -> RESOURCE_EXHAUSTED", status_of(r)[0] == "8", f"status={status_of(r)}")

r = grpc_call(unary, frame(b"\x10\x01", declared=100))
check("truncated message then END_STREAM -> INTERNAL", status_of(r)[0] == "13", f"status={status_of(r)}")

r = grpc_call(unary, frame(b"\x1a\x64"))
check("invalid protobuf -> INTERNAL", status_of(r)[0] == "13" and "could not decode" in status_of(r)[1],
      f"status={status_of(r)}")

r = grpc_call(unary, frame(b"\x10\x01", flag=1))
check("compressed flag without grpc-encoding -> INTERNAL", status_of(r)[0] == "13", f"status={status_of(r)}")

r = grpc_call(unary, frame(b"\x10\x01"), headers=[("grpc-encoding", "snappy")])
check("unsupported grpc-encoding -> UNIMPLEMENTED, naming what is supported", status_of(r)[0] == "12"
      and r["headers"].get("grpc-accept-encoding") == "identity,deflate,gzip", f"status={status_of(r)} headers={r['headers']}")

r = grpc_call(unary, frame(b"\x10\x01"), headers=[("grpc-encoding", "x" * 8000)])
check("a long unknown grpc-encoding is not echoed whole", status_of(r)[0] == "12" and len(status_of(r)[1]) < 200,
      f"status={status_of(r)[0]}, message of {len(status_of(r)[1])} characters")

# Compressed requests: SimpleRequest{response_size: 7}, gzip and deflate (zlib format);
# the answer is 16 bytes (5 of framing, a SimpleResponse with a 7-byte payload).
small_request = b"\x10\x07"
for name, compress in (("gzip", lambda b: gzip.compress(b)), ("deflate", lambda b: zlib.compress(b))):
    r = grpc_call(unary, frame(compress(small_request), flag=1), headers=[("grpc-encoding", name)])
    check(f"{name} request -> OK", status_of(r)[0] == "0" and r["data"] == 16, f"status={status_of(r)}, data={r['data']}")

r = grpc_call(unary, frame(small_request), headers=[("grpc-encoding", "gzip")])
check("uncompressed message in a gzip call -> OK (the flag says which)", status_of(r)[0] == "0", f"status={status_of(r)}")

r = grpc_call(unary, frame(b"\x1f\x8b\x08\x00garbage, not deflate data", flag=1), headers=[("grpc-encoding", "gzip")])
check("corrupt gzip -> INTERNAL", status_of(r)[0] == "13" and "decompress" in status_of(r)[1], f"status={status_of(r)}")

r = grpc_call(unary, frame(gzip.compress(small_request)[:-6], flag=1), headers=[("grpc-encoding", "gzip")])
check("truncated gzip -> INTERNAL", status_of(r)[0] == "13", f"status={status_of(r)}")

r = grpc_call(unary, frame(zlib.compress(small_request), flag=1), headers=[("grpc-encoding", "gzip")])
check("deflate data labelled gzip -> INTERNAL", status_of(r)[0] == "13", f"status={status_of(r)}")

# A gzip bomb: 36 KiB that inflates to 36 MiB, past the server's 4 MiB message limit.
# Inflation stops at the limit; a valid call on the same connection is answered.
bomb = frame(gzip.compress(b"\0" * (36 << 20), compresslevel=9), flag=1)
results = calls_on_one_connection([
    (unary, bomb, [("grpc-encoding", "gzip")]),
    (unary, frame(gzip.compress(small_request)), [("grpc-encoding", "gzip")]),
    (unary, frame(small_request), []),
])
check("gzip bomb -> RESOURCE_EXHAUSTED", status_of(results[0])[0] == "8" and "inflates past" in status_of(results[0])[1],
      f"status={status_of(results[0])}, bomb of {len(bomb)} bytes")
check("after the bomb, a call on the same connection is answered", status_of(results[2])[0] == "0" and results[2]["data"] == 16,
      f"status={status_of(results[2])}")
check("a compressed payload without the flag is read as protobuf (INTERNAL)", status_of(results[1])[0] == "13",
      f"status={status_of(results[1])}")
good_client_works("compressed input")

def grpcio_compressed(compression):
    response = stub.UnaryCall(messages_pb2.SimpleRequest(response_size=70000, payload=zeros_payload(50000),
                                                        response_compressed=messages_pb2.BoolValue(value=True)),
                              compression=compression, timeout=5)
    return len(response.payload.body)


check("grpcio client with gzip on the channel's calls", grpcio_compressed(grpc.Compression.Gzip) == 70000)
check("grpcio client with deflate on the channel's calls", grpcio_compressed(grpc.Compression.Deflate) == 70000)

r = grpc_call("/grpc.testing.TestService/NoSuchMethod", frame(b""))
check("unknown method -> UNIMPLEMENTED", status_of(r)[0] == "12", f"status={status_of(r)}")

r = grpc_call("/no.Such/Service", frame(b""))
check("unknown service -> UNIMPLEMENTED", status_of(r)[0] == "12", f"status={status_of(r)}")

r = grpc_call(unary, frame(b""), headers=[("grpc-timeout", "soon")])
check("malformed grpc-timeout -> INTERNAL", status_of(r)[0] == "13", f"status={status_of(r)}")

r = grpc_call("/grpc.testing.TestService/FullDuplexCall", headers=[("grpc-timeout", "100m")], end_stream=False)
check("server enforces grpc-timeout -> DEADLINE_EXCEEDED", status_of(r)[0] == "4" and r["elapsed"] < 2.0,
      f"status={status_of(r)} after {r['elapsed']:.3f}s")

r = grpc_call(unary, frame(b""), method="PUT")
check("non-POST method -> HTTP 405", r["headers"].get(":status") == "405", f"headers={r['headers']}")

r = grpc_call(unary, frame(b""), content_type="text/plain")
check("non-gRPC content-type -> HTTP 415", r["headers"].get(":status") == "415", f"headers={r['headers']}")

r = grpc_call(unary, frame(b""), content_type="application/grpc+proto")
check("application/grpc+proto is gRPC", status_of(r)[0] == "0", f"status={status_of(r)}")

r = grpc_call(unary, frame(b""), headers=[("x-huge", "x" * 20000)])
check("oversized header list -> RESOURCE_EXHAUSTED", status_of(r)[0] == "8", f"status={status_of(r)}")

sock_conn = grpc_call(unary, frame(b""), headers=[])  # sanity: a valid empty request works
check("valid request on a fresh connection", status_of(sock_conn)[0] == "0", f"status={status_of(sock_conn)}")

good_client_works("every bad request")
channel.close()
checks.finish()
