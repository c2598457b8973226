"""Bad input against a running interop-server: malformed HTTP/2 and gRPC from a stranger,
each with the exact answer it must get, while a well-behaved grpcio client on the same
server keeps working.  Usage: bad_input.py --server_port=PORT"""
import socket
import struct
import sys
import time

import grpc
import h2.config
import h2.connection
import h2.events

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
            sock.sendall(conn.data_to_send())
    except socket.timeout:
        pass
    result["elapsed"] = time.monotonic() - started
    sock.close()
    return result


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

r = grpc_call(unary, frame(b"\x10\x01"), headers=[("grpc-encoding", "gzip")])
check("unsupported grpc-encoding -> UNIMPLEMENTED", status_of(r)[0] == "12"
      and (r["headers"].get("grpc-accept-encoding") == "identity"), f"status={status_of(r)}")

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
