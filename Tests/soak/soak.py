"""A soak: mixed chat load with churn against a running chat-server for a while, then
the server's resources compared with the start.  Steady members sit in every room and
must be shown every message once (seq gap-free, gaps filled from after_seq); churners
register, join a room, send a few messages, leave or just vanish, and come back as new
clients, all the time. Reports RSS, open descriptors and threads at the start (after a
warm-up) and at the end; fails on any loss, or if any of them grew by more than 10%.
Usage: soak.py --server_port=PORT --server_pid=PID [--minutes=30] [--churners=20]"""
import os
import random
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

flags = parse_flags(sys.argv[1:], {"server_port": None, "server_pid": None, "minutes": "30", "churners": "20"})
TARGET = f"127.0.0.1:{flags['server_port']}"
ROOMS = ["General", "Technology", "Crypto", "Sports", "Movies"]
checks = Checks()


def resources():
    pid = flags["server_pid"]
    figures = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                figures["rss_mib"] = int(line.split()[1]) / 1024
            if line.startswith("Threads:"):
                figures["threads"] = int(line.split()[1])
    figures["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return figures


class Client:
    def __init__(self, user):
        self.channel = grpc.insecure_channel(TARGET, options=[("grpc.use_local_subchannel_pool", 1)])
        self.stub = gate_grpc.GateServiceStub(self.channel)
        self.stream = self.stub.Register(gate_pb2.Empty(), metadata=[("x-username", user), ("x-password", "000000")], timeout=None)
        registered = gate_pb2.RegisterResponse()
        next(self.stream).Unpack(registered)
        self.client_id = registered.client_id

    def call(self, room, method, request, response_type):
        payload = any_pb2.Any()
        payload.Pack(request)
        reply = self.stub.CallObject(gate_pb2.CallObjectRequest(client_id=self.client_id, type="ChatRoom", id=f"ChatRoom-{room}",
                                                                method=method, request=payload), timeout=10)
        out = response_type()
        reply.response.Unpack(out)
        return out

    def close(self):
        self.stream.cancel()
        self.channel.close()


class Member(threading.Thread):
    """Sits in one room for the whole soak and checks it is shown every message once."""

    def __init__(self, room):
        super().__init__(daemon=True)
        self.room = room
        self.client = Client(f"member-{room}")
        joined = self.client.call(room, "Join", chat_pb2.ChatRoom_JoinRequest(client_id=self.client.client_id),
                                  chat_pb2.ChatRoom_JoinResponse)
        self.last = max([m.seq for m in joined.recent_messages] or [0])
        self.shown, self.repeats, self.errors = 0, 0, []

    def run(self):
        try:
            for push in self.client.stream:
                note = chat_pb2.Client_NewMessageNotification()
                if not push.Unpack(note):
                    continue
                seq = note.message.seq
                if seq <= self.last:
                    self.repeats += 1
                    continue
                if seq > self.last + 1:  # a gap: fetched back, as the CLI does
                    page = self.client.call(self.room, "GetRecentMessages",
                                            chat_pb2.ChatRoom_GetRecentMessagesRequest(after_seq=self.last, limit=int(seq - self.last - 1)),
                                            chat_pb2.ChatRoom_GetRecentMessagesResponse)
                    self.shown += len(page.messages)
                self.shown += 1
                self.last = seq
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self.errors.append(f"{error.code().name}: {error.details()}")


def churner(index, stop, counts, lock):
    """Comes and goes: register, join a room, send a few, then leave politely or vanish."""
    rng = random.Random(index)
    while not stop.is_set():
        room = rng.choice(ROOMS)
        try:
            client = Client(f"churn{index}")
            client.call(room, "Join", chat_pb2.ChatRoom_JoinRequest(client_id=client.client_id), chat_pb2.ChatRoom_JoinResponse)
            for _ in range(rng.randint(1, 5)):
                client.call(room, "SendMessage", chat_pb2.ChatRoom_SendChatMessageRequest(message=f"churn {index} {time.time():.3f}"),
                            chat_pb2.Client_SendChatMessageResponse)
                with lock:
                    counts["sent"] += 1
                stop.wait(rng.uniform(0.05, 0.3))
            if rng.random() < 0.5:
                client.call(room, "Leave", chat_pb2.ChatRoom_LeaveRequest(), chat_pb2.ChatRoom_LeaveResponse)
            client.close()
            with lock:
                counts["sessions"] += 1
        except grpc.RpcError as error:
            with lock:
                counts["errors"] += 1
                counts.setdefault("first_error", f"{error.code().name}: {error.details()}")
        stop.wait(rng.uniform(0, 0.2))


members = [Member(room) for room in ROOMS]
for member in members:
    member.start()
stop = threading.Event()
lock = threading.Lock()
counts = {"sent": 0, "sessions": 0, "errors": 0}
threads = [threading.Thread(target=churner, args=(index, stop, counts, lock), daemon=True) for index in range(int(flags["churners"]))]
for thread in threads:
    thread.start()
seconds = float(flags["minutes"]) * 60
warmup = min(60.0, seconds / 5)
time.sleep(warmup)
start = resources()
print(f"soak: start (after {warmup:.0f} s): {start}", flush=True)
time.sleep(seconds - warmup)
stop.set()
for thread in threads:
    thread.join(timeout=30)
time.sleep(3)  # the last pushes
end = resources()
print(f"soak: end: {end}; {counts['sessions']} client sessions, {counts['sent']} messages sent", flush=True)
expected = counts["sent"]
shown = sum(member.shown for member in members)
checks.check("no send failed", counts["errors"] == 0, str(counts.get("first_error", "")))
checks.check("the members were shown every message once", shown == expected and all(m.repeats == 0 for m in members),
             f"shown {shown} of {expected}, repeats {[m.repeats for m in members]}, errors {[m.errors for m in members]}")
for key in ("rss_mib", "fds", "threads"):
    checks.check(f"{key} flat within 10%", end[key] <= start[key] * 1.1 + (2 if key != "rss_mib" else 0),
                 f"{start[key]:.1f} -> {end[key]:.1f}")
for member in members:
    member.client.close()
checks.finish()
