"""grpcio interop client: runs the standard interop test cases against a server
(SwiftVerse's interop-server in `make test`). Exit 0 only if every case passed."""
import sys
import time

import grpc

from pyinterop_common import load_stubs, parse_flags

empty_pb2, messages_pb2, test_pb2_grpc = load_stubs()

ALL = ["empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
       "custom_metadata", "status_code_and_message", "special_status_message", "unimplemented_method",
       "unimplemented_service", "cancel_after_begin", "cancel_after_first_response",
       "timeout_on_sleeping_server", "client_compressed_unary", "server_compressed_unary",
       "client_compressed_streaming", "server_compressed_streaming"]


class Failure(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise Failure(message)


def zeros(n):
    return messages_pb2.Payload(body=b"\0" * n)


def large_request():
    return messages_pb2.SimpleRequest(response_size=314159, payload=zeros(271828))


def empty_unary(stub, channel):
    response = stub.EmptyCall(empty_pb2.Empty())
    expect(isinstance(response, empty_pb2.Empty), "EmptyCall did not return Empty")


def large_unary(stub, channel):
    response = stub.UnaryCall(large_request())
    expect(response.payload.body == b"\0" * 314159, f"payload of {len(response.payload.body)} bytes")


def client_streaming(stub, channel):
    requests = (messages_pb2.StreamingInputCallRequest(payload=zeros(n)) for n in (27182, 8, 1828, 45904))
    response = stub.StreamingInputCall(requests)
    expect(response.aggregated_payload_size == 74922, f"aggregated {response.aggregated_payload_size}")


def server_streaming(stub, channel):
    sizes = [31415, 9, 2653, 58979]
    request = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=s) for s in sizes])
    got = [len(r.payload.body) for r in stub.StreamingOutputCall(request)]
    expect(got == sizes, f"sizes {got}")


class Pipe:
    """A request iterator the test feeds one message at a time."""

    def __init__(self):
        import queue
        self.queue = queue.Queue()

    def add(self, item):
        self.queue.put(item)

    def close(self):
        self.queue.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.queue.get()
        if item is None:
            raise StopIteration
        return item


def ping_pong(stub, channel):
    pipe = Pipe()
    responses = stub.FullDuplexCall(pipe)
    for response_size, payload_size in ((31415, 27182), (9, 8), (2653, 1828), (58979, 45904)):
        pipe.add(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=response_size)], payload=zeros(payload_size)))
        response = next(responses)
        expect(len(response.payload.body) == response_size, f"response of {len(response.payload.body)}")
    pipe.close()
    expect(next(responses, None) is None, "more than four responses")


def empty_stream(stub, channel):
    responses = list(stub.FullDuplexCall(iter([])))
    expect(responses == [], f"{len(responses)} responses")


def custom_metadata(stub, channel):
    initial = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
    trailing = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
    metadata = (initial, trailing)

    def check(call, what):
        got_initial = dict(call.initial_metadata())
        got_trailing = dict(call.trailing_metadata())
        expect(got_initial.get(initial[0]) == initial[1], f"{what}: initial metadata {got_initial}")
        expect(got_trailing.get(trailing[0]) == trailing[1], f"{what}: trailing metadata {got_trailing}")

    response, call = stub.UnaryCall.with_call(large_request(), metadata=metadata)
    expect(len(response.payload.body) == 314159, "UnaryCall payload")
    check(call, "UnaryCall")
    call = stub.FullDuplexCall(iter([messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=314159)], payload=zeros(271828))]),
        metadata=metadata)
    responses = list(call)
    expect(len(responses) == 1 and len(responses[0].payload.body) == 314159, "FullDuplexCall responses")
    check(call, "FullDuplexCall")


def expect_status(code, message, fn):
    try:
        fn()
    except grpc.RpcError as error:
        expect(error.code() == code, f"status {error.code()}, expected {code}")
        if message is not None:
            expect(error.details() == message, f"message {error.details()!r}, expected {message!r}")
        return
    raise Failure(f"call succeeded, expected {code}")


def status_test(stub, message, unary_only=False):
    echo = messages_pb2.EchoStatus(code=2, message=message)
    expect_status(grpc.StatusCode.UNKNOWN, message,
                  lambda: stub.UnaryCall(messages_pb2.SimpleRequest(response_status=echo)))
    if not unary_only:
        expect_status(grpc.StatusCode.UNKNOWN, message, lambda: list(stub.FullDuplexCall(
            iter([messages_pb2.StreamingOutputCallRequest(response_status=echo)]))))


def status_code_and_message(stub, channel):
    status_test(stub, "test status message")


def special_status_message(stub, channel):
    status_test(stub, "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n", unary_only=True)


def unimplemented_method(stub, channel):
    expect_status(grpc.StatusCode.UNIMPLEMENTED, None, lambda: stub.UnimplementedCall(empty_pb2.Empty()))


def unimplemented_service(stub, channel):
    unimplemented = test_pb2_grpc.UnimplementedServiceStub(channel)
    expect_status(grpc.StatusCode.UNIMPLEMENTED, None, lambda: unimplemented.UnimplementedCall(empty_pb2.Empty()))


def cancel_after_begin(stub, channel):
    pipe = Pipe()
    future = stub.StreamingInputCall.future(pipe)
    future.cancel()
    expect(future.cancelled(), "call was not cancelled")
    empty_unary(stub, channel)


def cancel_after_first_response(stub, channel):
    pipe = Pipe()
    responses = stub.FullDuplexCall(pipe)
    pipe.add(messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=31415)], payload=zeros(27182)))
    first = next(responses)
    expect(len(first.payload.body) == 31415, "first response size")
    responses.cancel()
    try:
        next(responses)
    except grpc.RpcError as error:
        expect(error.code() == grpc.StatusCode.CANCELLED, f"status {error.code()}")
    else:
        raise Failure("stream went on after cancel")
    pipe.close()
    empty_unary(stub, channel)


def timeout_on_sleeping_server(stub, channel):
    pipe = Pipe()
    responses = stub.FullDuplexCall(pipe, timeout=0.001)
    pipe.add(messages_pb2.StreamingOutputCallRequest(payload=zeros(27182)))
    try:
        next(responses)
    except grpc.RpcError as error:
        expect(error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, f"status {error.code()}")
    else:
        raise Failure("call succeeded, expected DEADLINE_EXCEEDED")
    pipe.close()
    empty_unary(stub, channel)


# Compression (the CompressedRequest and CompressedResponse features). grpcio's Python
# API compresses a whole call or none of it and does not say whether a response arrived
# compressed: these cases check all that the API lets a client check; SwiftVerse's own
# interop-client checks the per-message flags against the same server.

def flag(value):
    return messages_pb2.BoolValue(value=value)


def client_compressed_unary(stub, channel):
    request = large_request()
    request.expect_compressed.CopyFrom(flag(True))
    # The probe: a request that claims compression without it is refused.
    expect_status(grpc.StatusCode.INVALID_ARGUMENT, None, lambda: stub.UnaryCall(request))
    response = stub.UnaryCall(request, compression=grpc.Compression.Gzip)
    expect(response.payload.body == b"\0" * 314159, "compressed request: response payload")
    request.expect_compressed.CopyFrom(flag(False))
    response = stub.UnaryCall(request)
    expect(response.payload.body == b"\0" * 314159, "uncompressed request: response payload")


def server_compressed_unary(stub, channel):
    for compressed in (True, False):
        response = stub.UnaryCall(messages_pb2.SimpleRequest(
            response_size=314159, payload=zeros(271828), response_compressed=flag(compressed)))
        expect(response.payload.body == b"\0" * 314159, f"response_compressed={compressed}: payload")


def client_compressed_streaming(stub, channel):
    def request(size, expect_compressed):
        return messages_pb2.StreamingInputCallRequest(payload=zeros(size), expect_compressed=flag(expect_compressed))
    expect_status(grpc.StatusCode.INVALID_ARGUMENT, None,
                  lambda: stub.StreamingInputCall(iter([request(27182, True)])))
    # Python cannot send the case's second message uncompressed in a compressed call:
    # it goes compressed, and without expect_compressed (the server then checks nothing).
    second = messages_pb2.StreamingInputCallRequest(payload=zeros(45904))
    response = stub.StreamingInputCall(iter([request(27182, True), second]), compression=grpc.Compression.Gzip)
    expect(response.aggregated_payload_size == 73086, f"aggregated {response.aggregated_payload_size}")


def server_compressed_streaming(stub, channel):
    asked = [(31415, True), (92653, False)]
    request = messages_pb2.StreamingOutputCallRequest(response_parameters=[
        messages_pb2.ResponseParameters(size=size, compressed=flag(compressed)) for size, compressed in asked])
    got = [len(r.payload.body) for r in stub.StreamingOutputCall(request)]
    expect(got == [size for size, _ in asked], f"sizes {got}")


def main():
    flags = parse_flags(sys.argv[1:], {
        "server_host": "127.0.0.1", "server_port": None, "test_case": "all", "use_tls": "false",
        "ca_file": None, "server_host_override": None, "use_test_ca": "false"})
    target = f"{flags['server_host']}:{flags['server_port']}"
    if flags["use_tls"] == "true":
        with open(flags["ca_file"], "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        options = []
        if flags["server_host_override"]:
            options.append(("grpc.ssl_target_name_override", flags["server_host_override"]))
        channel = grpc.secure_channel(target, credentials, options)
    else:
        channel = grpc.insecure_channel(target)
    stub = test_pb2_grpc.TestServiceStub(channel)
    cases = ALL if flags["test_case"] == "all" else flags["test_case"].split(",")
    failed = 0
    for name in cases:
        started = time.monotonic()
        try:
            globals()[name](stub, channel)
            print(f"PASS {name} ({(time.monotonic() - started) * 1000:.0f} ms)", flush=True)
        except Exception as error:  # noqa: BLE001 - report every failure the same way
            failed += 1
            print(f"FAIL {name}: {error!r}", flush=True)
    channel.close()
    print(f"{len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
