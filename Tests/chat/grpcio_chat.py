"""A plain grpcio client with only proto/gate/gate.proto and proto/chat/chat.proto:
proves an existing gRPC client can chat through a SwiftVerse gate, and checks the
answer to every kind of bad input.  Usage: grpcio_chat.py --server_port=PORT"""
import os
import queue
import sys
import threading

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from pyinterop_common import Checks, parse_flags  # noqa: E402
sys.path.insert(0, os.path.dirname(__file__))
from chat_stubs import load_chat_stubs  # noqa: E402


gate_pb2, gate_grpc, chat_pb2 = load_chat_stubs()
from google.protobuf import any_pb2  # noqa: E402

flags = parse_flags(sys.argv[1:], {"server_port": None, "password": "000000"})
TARGET = f"127.0.0.1:{flags['server_port']}"
checks = Checks()
check = checks.check


class Client:
    def __init__(self, user, password=flags["password"], channel=None):
        # Its own connection, as a separate client program would have (grpcio would
        # otherwise share one connection between channels to the same target).
        self.channel = channel or grpc.insecure_channel(TARGET, options=[("grpc.use_local_subchannel_pool", 1)])
        self.stub = gate_grpc.GateServiceStub(self.channel)
        metadata = []
        if user is not None:
            metadata.append(("x-username", user))
        if password is not None:
            metadata.append(("x-password", password))
        self.stream = self.stub.Register(gate_pb2.Empty(), metadata=metadata)
        first = next(self.stream)
        registered = gate_pb2.RegisterResponse()
        first.Unpack(registered)
        self.client_id = registered.client_id
        self.pushes = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for push in self.stream:
                note = chat_pb2.Client_NewMessageNotification()
                if push.Unpack(note):
                    self.pushes.put(note.message)
        except grpc.RpcError:
            pass

    def call(self, type_, id_, method, request, response_type, client_id=None):
        payload = any_pb2.Any()
        payload.Pack(request)
        reply = self.stub.CallObject(gate_pb2.CallObjectRequest(
            client_id=self.client_id if client_id is None else client_id, type=type_, id=id_, method=method, request=payload), timeout=10)
        out = response_type()
        reply.response.Unpack(out)
        return out

    def join(self, room):
        return self.call("ChatRoom", f"ChatRoom-{room}", "Join",
                         chat_pb2.ChatRoom_JoinRequest(user_name="ignored", client_id=self.client_id),
                         chat_pb2.ChatRoom_JoinResponse)

    def send(self, room, text, user_name="ignored"):
        return self.call("ChatRoom", f"ChatRoom-{room}", "SendMessage",
                         chat_pb2.ChatRoom_SendChatMessageRequest(user_name=user_name, message=text),
                         chat_pb2.Client_SendChatMessageResponse)

    def next_messages(self, count, timeout=30):
        got = []
        for _ in range(count):
            got.append(self.pushes.get(timeout=timeout))
        return got

    def close(self):
        self.stream.cancel()
        self.channel.close()


def expect_status(name, code, fn, contains=None):
    try:
        fn()
    except grpc.RpcError as error:
        ok = error.code() == code and (contains is None or contains in (error.details() or ""))
        check(name, ok, f"{error.code().name}: {error.details()}")
        return
    check(name, False, f"succeeded, expected {code.name}")


alice = Client("alice")
bob = Client("bob")
rooms = alice.call("ChatRoomMgr", "ChatRoomMgr0", "ListChatRooms", chat_pb2.ChatRoom_ListRequest(),
                   chat_pb2.ChatRoom_ListResponse)
check("ListChatRooms answers the five rooms in order",
      list(rooms.chat_rooms) == ["General", "Technology", "Crypto", "Sports", "Movies"], str(list(rooms.chat_rooms)))
joined = alice.join("General")
check("Join answers the bare room name", joined.room_name == "General", joined.room_name)
bob.join("General")
sports = Client("carol")
sports.join("Sports")

bob.send("General", "hi alice", user_name="mallory")
for who in (alice, bob):
    messages = who.next_messages(1)
    check(f"{who.client_id[-6:]} gets the push, user from the identity not the request",
          messages[0].message == "hi alice" and messages[0].user_name == "bob",
          f"{messages[0].user_name}: {messages[0].message}")
sports.send("Sports", "goal!")
check("a Sports message reaches Sports", sports.next_messages(1)[0].message == "goal!")
try:
    alice.pushes.get(timeout=0.5)
    check("a Sports message does not reach General", False)
except queue.Empty:
    check("a Sports message does not reach General", True)

history = alice.call("ChatRoom", "ChatRoom-General", "GetRecentMessages", chat_pb2.ChatRoom_GetRecentMessagesRequest(),
                     chat_pb2.ChatRoom_GetRecentMessagesResponse)
check("GetRecentMessages has the history", [m.message for m in history.messages][-1:] == ["hi alice"])

# Bad input, each with its exact answer; the service keeps serving everyone.
expect_status("wrong password -> UNAUTHENTICATED", grpc.StatusCode.UNAUTHENTICATED, lambda: Client("eve", password="nope"))
expect_status("no username -> UNAUTHENTICATED", grpc.StatusCode.UNAUTHENTICATED, lambda: Client(None))
expect_status("no password -> UNAUTHENTICATED", grpc.StatusCode.UNAUTHENTICATED, lambda: Client("eve", password=None))
expect_status("username with a space -> UNAUTHENTICATED", grpc.StatusCode.UNAUTHENTICATED, lambda: Client("two words"))
expect_status("overlong message -> INVALID_ARGUMENT", grpc.StatusCode.INVALID_ARGUMENT,
              lambda: alice.send("General", "x" * 4097), "limit is 4096")
expect_status("empty message -> INVALID_ARGUMENT", grpc.StatusCode.INVALID_ARGUMENT,
              lambda: alice.send("General", "   "), "empty")
expect_status("unknown room -> NOT_FOUND", grpc.StatusCode.NOT_FOUND, lambda: alice.join("Nowhere"))
expect_status("another manager id -> NOT_FOUND", grpc.StatusCode.NOT_FOUND,
              lambda: alice.call("ChatRoomMgr", "ChatRoomMgr1", "ListChatRooms", chat_pb2.ChatRoom_ListRequest(),
                                 chat_pb2.ChatRoom_ListResponse))
expect_status("someone else's client id -> PERMISSION_DENIED", grpc.StatusCode.PERMISSION_DENIED,
              lambda: alice.call("ChatRoom", "ChatRoom-General", "SendMessage",
                                 chat_pb2.ChatRoom_SendChatMessageRequest(message="spoof"),
                                 chat_pb2.Client_SendChatMessageResponse, client_id=bob.client_id))
expect_status("an unregistered client id -> NOT_FOUND", grpc.StatusCode.NOT_FOUND,
              lambda: alice.call("ChatRoom", "ChatRoom-General", "Join", chat_pb2.ChatRoom_JoinRequest(),
                                 chat_pb2.ChatRoom_JoinResponse, client_id="127.0.0.1:1/nobody"))
expect_status("an unknown method -> UNIMPLEMENTED", grpc.StatusCode.UNIMPLEMENTED,
              lambda: alice.call("ChatRoom", "ChatRoom-General", "onCreated", chat_pb2.ChatRoom_ListRequest(),
                                 chat_pb2.ChatRoom_ListResponse))
expect_status("an unknown object type -> NOT_FOUND", grpc.StatusCode.NOT_FOUND,
              lambda: alice.call("Bank", "vault", "Open", chat_pb2.ChatRoom_ListRequest(), chat_pb2.ChatRoom_ListResponse))
expect_status("no client id on a call that needs one -> UNAUTHENTICATED", grpc.StatusCode.UNAUTHENTICATED,
              lambda: alice.call("ChatRoom", "ChatRoom-General", "Join", chat_pb2.ChatRoom_JoinRequest(),
                                 chat_pb2.ChatRoom_JoinResponse, client_id=""))
expect_status("sending without joining -> FAILED_PRECONDITION", grpc.StatusCode.FAILED_PRECONDITION,
              lambda: sports.send("General", "drive-by"))

bob.send("General", "still here")
check("the service still serves after all that",
      alice.next_messages(1)[0].message == "still here" and bob.next_messages(1)[0].message == "still here")
for c in (alice, bob, sports):
    c.close()
checks.finish()
