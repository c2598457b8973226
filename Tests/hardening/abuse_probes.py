"""Abuse against a running chat-server, each attack at full speed from one process,
with a well-behaved chat client alongside (Register, Join General, a message every
200 ms): each attack must get its defined answer, and the good client must lose
nothing and stay fast.  Usage: abuse_probes.py --server_port=PORT [--seconds=3]
[--p99_ms=250] [--report=FILE] (the p99 bound is loose in make test, whose servers are
debug builds; --report writes the figures)."""
import os
import resource
import socket
import struct
import sys
import threading
import time

import grpc

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
sys.path.insert(0, os.path.join(HERE, "..", "chat"))
from pyinterop_common import Checks, parse_flags  # noqa: E402
from chat_stubs import load_chat_stubs  # noqa: E402

gate_pb2, gate_grpc, chat_pb2 = load_chat_stubs()
from google.protobuf import any_pb2  # noqa: E402

flags = parse_flags(sys.argv[1:], {"server_port": None, "server_pid": "", "http_port": "", "max_connections": "",
                                    "process_budget_mib": "", "idle_timeout": "", "seconds": "3", "p99_ms": "250", "report": ""})
PORT = int(flags["server_port"])
TARGET = f"127.0.0.1:{PORT}"
SECONDS = float(flags["seconds"])
P99_MS = float(flags["p99_ms"])
checks = Checks()
check = checks.check
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENHANCE_YOUR_CALM = 0xB


def frame(kind, flags_, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags_]) + struct.pack(">I", stream) + payload


def frames(data):
    """(type, flags, stream, payload) of each whole frame in a server byte stream."""
    out, offset = [], 0
    while offset + 9 <= len(data):
        length = int.from_bytes(data[offset:offset + 3], "big")
        if offset + 9 + length > len(data):
            break
        out.append((data[offset + 3], data[offset + 4], int.from_bytes(data[offset + 5:offset + 9], "big") & 0x7FFFFFFF,
                    data[offset + 9:offset + 9 + length]))
        offset += 9 + length
    return out


def read_until_closed(sock, wait=5.0):
    sock.settimeout(wait)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


class GoodClient:
    """Registers, joins General, sends a message every 200 ms and times each call and
    the push of its own message back."""

    def __init__(self, user):
        self.channel = grpc.insecure_channel(TARGET, options=[("grpc.use_local_subchannel_pool", 1)])
        self.stub = gate_grpc.GateServiceStub(self.channel)
        self.stream = self.stub.Register(gate_pb2.Empty(), metadata=[("x-username", user), ("x-password", "000000")])
        registered = gate_pb2.RegisterResponse()
        next(self.stream).Unpack(registered)
        self.client_id = registered.client_id
        self.lock = threading.Lock()
        self.sent = {}       # text -> time sent
        self.latencies = []  # ms, calls and pushes
        self.errors = []
        self.received = set()
        threading.Thread(target=self._read, daemon=True).start()
        self.call("Join", chat_pb2.ChatRoom_JoinRequest(client_id=self.client_id), chat_pb2.ChatRoom_JoinResponse)

    def call(self, method, request, response_type):
        payload = any_pb2.Any()
        payload.Pack(request)
        reply = self.stub.CallObject(gate_pb2.CallObjectRequest(client_id=self.client_id, type="ChatRoom", id="ChatRoom-General",
                                                                method=method, request=payload), timeout=10)
        out = response_type()
        reply.response.Unpack(out)
        return out

    def _read(self):
        try:
            for push in self.stream:
                note = chat_pb2.Client_NewMessageNotification()
                if push.Unpack(note):
                    now = time.monotonic()
                    with self.lock:
                        if note.message.message in self.sent and note.message.message not in self.received:
                            self.received.add(note.message.message)
                            self.latencies.append((now - self.sent[note.message.message]) * 1000)
        except grpc.RpcError:
            pass

    def run(self, stop, label):
        index = 0
        while not stop.is_set():
            text = f"{label}-{index}"
            index += 1
            started = time.monotonic()
            with self.lock:
                self.sent[text] = started
            try:
                self.call("SendMessage", chat_pb2.ChatRoom_SendChatMessageRequest(message=text), chat_pb2.Client_SendChatMessageResponse)
                with self.lock:
                    self.latencies.append((time.monotonic() - started) * 1000)
            except grpc.RpcError as error:
                with self.lock:
                    self.errors.append(f"{error.code().name}: {error.details()}")
            stop.wait(0.2)

    def window(self, attack, label):
        """Runs `attack(stop)` beside the client for SECONDS; returns (p99 ms, lost, errors, attack result)."""
        with self.lock:
            self.sent.clear()
            self.received.clear()
            self.latencies.clear()
            self.errors.clear()
        stop, attack_over = threading.Event(), threading.Event()
        sender = threading.Thread(target=self.run, args=(attack_over, label))  # beside the whole attack
        outcome = {}
        attacker = threading.Thread(target=lambda: outcome.update(attack(stop) or {}))
        sender.start()
        attacker.start()
        time.sleep(SECONDS)
        stop.set()
        attacker.join(timeout=90)
        attack_over.set()
        sender.join()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) == len(self.sent):
                    break
            time.sleep(0.05)
        with self.lock:
            lost = len(self.sent) - len(self.received)
            ordered = sorted(self.latencies)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("inf")
            return p99, lost, list(self.errors), outcome, len(self.sent)


def hpack_bomb_block():
    value = b"a" * 4000
    block = bytes([0x83, 0x86, 0x84, 0x01, 0x01]) + b"x"   # :method POST, :scheme http, :path /, :authority x
    block += bytes([0x40, 6]) + b"x-bomb"
    rest = 4000 - 127
    block += bytes([0x7F, (rest & 0x7F) | 0x80, rest >> 7]) + value
    return block + bytes([0xBE]) * 12000


def sent_away_each_time(stop, payload):
    """Sends `payload` on connection after connection until `stop`; counts the
    connections and those that ended with GOAWAY ENHANCE_YOUR_CALM."""
    connections, goaways = 0, 0
    while not stop.is_set():
        sock = socket.create_connection(("127.0.0.1", PORT))
        try:
            sock.sendall(payload)
        except OSError:
            pass
        got = frames(read_until_closed(sock))
        sock.close()
        connections += 1
        if any(kind == 7 and int.from_bytes(body[4:8], "big") == ENHANCE_YOUR_CALM for kind, _, _, body in got):
            goaways += 1
    return {"connections": connections, "goaways": goaways}


def hpack_bombs(stop):
    """HEADERS+CONTINUATION blocks of one large table entry referenced 12,000 times,
    four per connection: each connection must end with GOAWAY ENHANCE_YOUR_CALM."""
    block = hpack_bomb_block()
    payload = PREFACE + frame(4, 0, 0, b"")
    chunks = [block[i:i + 16384] for i in range(0, len(block), 16384)]
    for stream in (1, 3, 5, 7):
        for index, chunk in enumerate(chunks):
            flags_ = (0x4 if index == len(chunks) - 1 else 0) | (0x1 if index == 0 else 0)
            payload += frame(1 if index == 0 else 9, flags_, stream, chunk)
    return sent_away_each_time(stop, payload)


def ping_flood(stop):
    """Thousands of PINGs without reading the answers, connection after connection."""
    return sent_away_each_time(stop, PREFACE + frame(4, 0, 0, b"") + frame(6, 0, 0, b"\0" * 8) * 5000)


def rapid_reset(stop):
    """CVE-2023-44487: requests opened and reset at once, as fast as the socket takes
    them, on connection after connection: nghttp2 sends each away (GOAWAY) after 1,000,
    and the server closes it once it keeps sending regardless (1 MiB past the GOAWAY)."""
    head = bytes([0x83, 0x86]) + bytes([0x04, 0x1D]) + b"/gate.GateService/CallObject" + bytes([0x01, 0x01]) + b"x"
    connections, closed, sent = 0, 0, 0
    while not stop.is_set():
        sock = socket.create_connection(("127.0.0.1", PORT))
        connections += 1
        stream = 1
        try:
            sock.sendall(PREFACE + frame(4, 0, 0, b""))
            while not stop.is_set():
                batch = b""
                for _ in range(100):
                    batch += frame(1, 0x4, stream, head) + frame(3, 0, stream, struct.pack(">I", 8))
                    stream += 2
                sock.sendall(batch)
                sent += 100
                sock.setblocking(False)
                try:
                    while True:
                        if not sock.recv(65536):
                            raise ConnectionResetError("closed by the server")
                except BlockingIOError:
                    pass
                sock.setblocking(True)
        except OSError:
            closed += 1
        sock.close()
    return {"connections": connections, "closed_by_server": closed, "resets": sent}


def resident_mib():
    """The server's RSS in MiB (with --server_pid), else 0."""
    if not flags["server_pid"]:
        return 0
    with open(f"/proc/{flags['server_pid']}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


# A channel for streams its application never reads. grpcio's BDP probing can grow
# their flow-control windows until grpcio itself holds the flood (16 MB a stream, 3 GB in
# all, the probe CPU-bound for half a minute and no stream ever cut off), so whether the
# server had to queue depended on timing. With it off the windows stay at grpcio's
# 64 KiB, as a client that does not read leaves them: the pushes pile up at the server.
UNREAD_CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1), ("grpc.http2.bdp_probe", 0)]


def join_unread(stub, user):
    """Registers `user`, joins General, and never reads the stream again: its pushes pile
    up at the server."""
    stream = stub.Register(gate_pb2.Empty(), metadata=[("x-username", user), ("x-password", "000000")])
    registered = gate_pb2.RegisterResponse()
    next(stream).Unpack(registered)  # the client id, then never another read
    payload = any_pb2.Any()
    payload.Pack(chat_pb2.ChatRoom_JoinRequest(client_id=registered.client_id))
    stub.CallObject(gate_pb2.CallObjectRequest(client_id=registered.client_id, type="ChatRoom", id="ChatRoom-General",
                                               method="Join", request=payload), timeout=10)
    return stream


def flood_unread(stop, streams, flooder_name):
    """Floods General with 4 KB messages beside `streams` that are never read: at least
    4,000 messages (16 MB to each stream), however long a slow machine takes (a minute
    at most).
    Then counts the streams cut off (RESOURCE_EXHAUSTED) and cancels them all."""
    flooder = GoodClient(flooder_name)
    text = "f" * 4000
    sent, peak = 0, resident_mib()
    start_mib = peak
    give_up = time.monotonic() + 60
    while (not stop.is_set() or sent < 4000) and time.monotonic() < give_up:
        try:
            flooder.call("SendMessage", chat_pb2.ChatRoom_SendChatMessageRequest(message=text), chat_pb2.Client_SendChatMessageResponse)
            sent += 1
        except grpc.RpcError:
            pass
        if sent % 50 == 0:
            peak = max(peak, resident_mib())
    deadline = time.monotonic() + 10  # grpcio reports a reset stream in its own time
    while time.monotonic() < deadline and not any(stream.done() for stream in streams):
        time.sleep(0.1)
    cut = sum(1 for stream in streams if stream.done() and stream.code() == grpc.StatusCode.RESOURCE_EXHAUSTED)
    for stream in streams:
        stream.cancel()
    return {"messages": sent, "cut_off": cut, "rss_before_mib": start_mib, "peak_rss_mib": peak}


def unread_pushes(stop):
    """One connection with 200 Register streams in General that never read them, and
    a flood of 4 KB messages into the room: the connection's budget cuts its largest
    streams (RESOURCE_EXHAUSTED), and the server's memory stays bounded."""
    channel = grpc.insecure_channel(TARGET, options=UNREAD_CHANNEL_OPTIONS)
    stub = gate_grpc.GateServiceStub(channel)
    streams = [join_unread(stub, f"staller{index}") for index in range(200)]
    outcome = flood_unread(stop, streams, "flooder")
    channel.close()
    return outcome


def unread_pushes_everywhere(stop):
    """40 connections with 3 Register streams each that are never read, and a flood of
    4 KB messages: each connection stays under its own budget (3 x 4 MiB < 16 MiB), so
    what stops them is the process's --max-queued-bytes, the largest connection first."""
    channels = [grpc.insecure_channel(TARGET, options=UNREAD_CHANNEL_OPTIONS) for _ in range(40)]
    streams = [join_unread(gate_grpc.GateServiceStub(channel), f"hog{number}-{index}")
               for number, channel in enumerate(channels) for index in range(3)]
    outcome = flood_unread(stop, streams, "flooder2")
    for channel in channels:
        channel.close()
    return outcome


def slowloris(stop):
    """1,000 connections to the HTTP port, each sending its request head a byte at a
    time, slower than any real client: all closed by the server at its idle timeout."""
    sockets = [socket.create_connection(("127.0.0.1", int(flags["http_port"]))) for _ in range(1000)]
    head, sent, opened = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", 0, time.monotonic()
    closed = set()
    for sock in sockets:
        sock.setblocking(False)
    deadline = opened + float(flags["idle_timeout"]) * 2 + 5
    while len(closed) < len(sockets) and time.monotonic() < deadline:
        for index, sock in enumerate(sockets):
            if index in closed:
                continue
            try:
                if sock.recv(4096) == b"":
                    closed.add(index)
                    continue
            except BlockingIOError:
                pass
            except OSError:
                closed.add(index)
                continue
            try:
                sock.send(head[sent % len(head):sent % len(head) + 1])
            except OSError:
                closed.add(index)
        sent += 1
        time.sleep(0.2)
    for sock in sockets:
        sock.close()
    return {"connections": len(sockets), "closed_by_server": len(closed), "seconds": round(time.monotonic() - opened, 1)}


def too_many_connections(stop):
    """Half again as many HTTP/2 connections as --max-connections, each holding on: the
    ones past the limit get GOAWAY "too many connections" and their close."""
    limit = int(flags["max_connections"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, limit * 2 + 1000), hard))
    held, refused = [], 0
    for _ in range(limit + limit // 2):
        sock = socket.create_connection(("127.0.0.1", PORT))
        sock.sendall(PREFACE + frame(4, 0, 0, b""))
        held.append(sock)
    time.sleep(1)  # every answer sent (a refusal's SETTINGS and GOAWAY go in one write)
    for sock in held:
        sock.setblocking(False)
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if any(kind == 7 and b"too many connections" in body for kind, _, _, body in frames(data)):
            refused += 1
    stop.wait()
    for sock in held:
        sock.close()
    return {"connections": len(held), "refused": refused}


def wrong_passwords(stop):
    """Register with wrong passwords as fast as answers come: past the free ones, every
    attempt is refused RESOURCE_EXHAUSTED without being checked."""
    channel = grpc.insecure_channel(TARGET, options=[("grpc.use_local_subchannel_pool", 1)])
    stub = gate_grpc.GateServiceStub(channel)
    codes = {}
    while not stop.is_set():
        try:
            next(stub.Register(gate_pb2.Empty(), metadata=[("x-username", "mallory"), ("x-password", "999999")], timeout=5))
            codes["OK"] = codes.get("OK", 0) + 1
        except grpc.RpcError as error:
            codes[error.code().name] = codes.get(error.code().name, 0) + 1
    channel.close()
    return codes


def oversized_fields(stop):
    """CallObject with 100 KB object types: INVALID_ARGUMENT with a short message, each."""
    channel = grpc.insecure_channel(TARGET, options=[("grpc.use_local_subchannel_pool", 1)])
    stub = gate_grpc.GateServiceStub(channel)
    answers, longest = {}, 0
    while not stop.is_set():
        try:
            stub.CallObject(gate_pb2.CallObjectRequest(type="q" * 100_000, id="x", method="m"), timeout=5)
            answers["OK"] = answers.get("OK", 0) + 1
        except grpc.RpcError as error:
            answers[error.code().name] = answers.get(error.code().name, 0) + 1
            longest = max(longest, len((error.details() or "").encode()))
    channel.close()
    return {"answers": answers, "longest_message": longest}


good = GoodClient("good")
rows = []


def probe(name, attack, verdict):
    p99, lost, errors, outcome, sent = good.window(attack, name.replace(" ", "-"))
    rows.append((name, sent, lost, p99, outcome))
    check(f"{name}: the attack got its answer", verdict(outcome), str(outcome))
    check(f"{name}: the good client lost nothing ({sent} messages)", lost == 0 and not errors, f"lost {lost}, errors {errors[:3]}")
    check(f"{name}: the good client's p99 stayed under {P99_MS:.0f} ms", p99 < P99_MS, f"p99 {p99:.1f} ms")


probe("baseline", lambda stop: (stop.wait(), {})[1], lambda outcome: True)
probe("HPACK bombs", hpack_bombs, lambda o: o.get("connections", 0) >= 1 and o["goaways"] == o["connections"])
probe("PING flood", ping_flood, lambda o: o.get("connections", 0) >= 1 and o["goaways"] == o["connections"])
probe("rapid reset", rapid_reset,
      # Every connection but the one the window's end interrupted was closed by the server.
      lambda o: o.get("connections", 0) >= 2 and o["closed_by_server"] >= o["connections"] - 1)
before_mib = resident_mib()
probe("unread pushes", unread_pushes,
      # Cut down to the connection's 16 MiB budget; memory bounded by it, not by 200 x 4 MiB.
      lambda o: o.get("cut_off", 0) >= 1 and (not flags["server_pid"] or o["peak_rss_mib"] < before_mib + 200))
if flags["process_budget_mib"]:
    before_mib = resident_mib()
    budget = int(flags["process_budget_mib"])
    probe("unread pushes on 40 connections", unread_pushes_everywhere,
          # Bounded by the process budget plus a fixed overhead (64 MiB), not by 120 x 4 MiB.
          lambda o: o.get("cut_off", 0) >= 1 and (not flags["server_pid"] or o["peak_rss_mib"] < before_mib + budget + 64))
if flags["http_port"]:
    probe("slowloris (HTTP)", slowloris, lambda o: o.get("closed_by_server") == o.get("connections"))
if flags["max_connections"]:
    probe("too many connections", too_many_connections,
          # The good client's own connection and the probe's grpcio channels count too.
          lambda o: o.get("refused", 0) >= o.get("connections", 0) - int(flags["max_connections"]))
probe("wrong passwords", wrong_passwords,
      # Three free failures and a fourth that starts the wait; then one checked attempt
      # per wait (1 s, 2 s, ...) at most, every other one refused unchecked.
      lambda o: 4 <= o.get("UNAUTHENTICATED", 0) <= 4 + SECONDS and o.get("RESOURCE_EXHAUSTED", 0) >= 1 and "OK" not in o)
probe("oversized fields", oversized_fields,
      lambda o: set(o.get("answers", {})) == {"INVALID_ARGUMENT"} and o["longest_message"] < 100)

report = "\n".join(f"{name:<32} {sent:>5} sent {lost:>3} lost  p99 {p99:7.1f} ms  {outcome}" for name, sent, lost, p99, outcome in rows)
print(report)
if flags["report"]:
    with open(flags["report"], "w") as out:
        out.write(report + "\n")
checks.finish()
