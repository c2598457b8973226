"""Server reflection with grpcio-reflection's own client, against a `chat-server
--embedded` this script starts: list the services, resolve gate.GateService and its
messages from the server's descriptors alone (no .proto files, no generated code), and
chat through it with messages built from those descriptors; v1 and v1alpha both.
Usage: grpcio_reflection.py --chat_server=PATH --grpc_port=PORT"""
import os
import socket
import subprocess
import sys
import time

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from pyinterop_common import Checks, parse_flags  # noqa: E402

flags = parse_flags(sys.argv[1:], {"chat_server": None, "grpc_port": None})
checks = Checks()
check = checks.check
port = int(flags["grpc_port"])

server = subprocess.Popen([flags["chat_server"], "--embedded", "--listen", f"127.0.0.1:{port}", "--http-listen", "off",
                           "--store", "none", "--log-level", "warning"])
try:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    database = ProtoReflectionDescriptorDatabase(channel)  # speaks v1alpha
    services = database.get_services()
    check("v1alpha: the services are listed", {"gate.GateService", "verse.Admin", "grpc.health.v1.Health",
                                               "grpc.reflection.v1.ServerReflection",
                                               "grpc.reflection.v1alpha.ServerReflection"} <= set(services), str(services))
    pool = descriptor_pool.DescriptorPool(database)
    gate = pool.FindServiceByName("gate.GateService")
    check("gate.GateService resolves with its methods", {m.name for m in gate.methods} >= {"Register", "CallObject"},
          str([m.name for m in gate.methods]))
    call_object = gate.FindMethodByName("CallObject")
    request_class = message_factory.GetMessageClass(call_object.input_type)
    response_class = message_factory.GetMessageClass(call_object.output_type)
    list_request = message_factory.GetMessageClass(pool.FindMessageTypeByName("chat.ChatRoom_ListRequest"))
    list_response = message_factory.GetMessageClass(pool.FindMessageTypeByName("chat.ChatRoom_ListResponse"))
    request = request_class(type="ChatRoomMgr", id="ChatRoomMgr0", method="ListChatRooms")
    request.request.type_url = "type.googleapis.com/chat.ChatRoom_ListRequest"
    request.request.value = list_request().SerializeToString()
    deadline, answer = time.monotonic() + 60, None
    while time.monotonic() < deadline and answer is None:
        try:
            answer = channel.unary_unary("/gate.GateService/CallObject", request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=response_class.FromString)(request, timeout=5)
        except grpc.RpcError:
            time.sleep(0.2)  # the service is still starting
    rooms = list_response.FromString(answer.response.value).chat_rooms if answer else []
    check("a call built from the descriptors alone answers", list(rooms) == ["General", "Technology", "Crypto", "Sports", "Movies"],
          str(list(rooms)))

    # v1 under its own name (the same messages on the wire), and the error answers.
    v1 = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    answers = list(v1(iter([reflection_pb2.ServerReflectionRequest(list_services=""),
                            reflection_pb2.ServerReflectionRequest(file_containing_symbol="chat.ChatMessage"),
                            reflection_pb2.ServerReflectionRequest(file_by_filename="gate/gate.proto"),
                            reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.Such"),
                            reflection_pb2.ServerReflectionRequest(all_extension_numbers_of_type="chat.ChatMessage")]), timeout=10))
    check("v1: list_services", "gate.GateService" in [s.name for s in answers[0].list_services_response.service])
    check("v1: file_containing_symbol gives the defining file first",
          len(answers[1].file_descriptor_response.file_descriptor_proto) >= 1)
    from google.protobuf import descriptor_pb2
    first = descriptor_pb2.FileDescriptorProto.FromString(answers[1].file_descriptor_response.file_descriptor_proto[0])
    check("v1: ... which is chat/chat.proto", first.name == "chat/chat.proto", first.name)
    names = [descriptor_pb2.FileDescriptorProto.FromString(b).name for b in answers[2].file_descriptor_response.file_descriptor_proto]
    check("v1: file_by_filename brings the file's imports", names[0] == "gate/gate.proto" and "google/protobuf/any.proto" in names,
          str(names))
    check("v1: an unknown symbol is NOT_FOUND", answers[3].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0],
          str(answers[3].error_response))
    check("v1: extension numbers of a proto3 type: none", answers[4].all_extension_numbers_response.base_type_name == "chat.ChatMessage"
          and list(answers[4].all_extension_numbers_response.extension_number) == [])
finally:
    server.terminate()
    server.wait(timeout=30)
checks.finish()
