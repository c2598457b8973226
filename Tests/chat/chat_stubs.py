"""Python stubs for proto/gate and proto/chat, generated with grpc_tools at run time."""
import importlib
import os
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def load_chat_stubs():
    """Returns (gate_pb2, gate_pb2_grpc, chat_pb2)."""
    from grpc_tools import protoc
    import grpc_tools
    out = tempfile.mkdtemp(prefix="pychat-")
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{include}", f"--python_out={out}",
                      f"--grpc_python_out={out}", "gate/gate.proto", "chat/chat.proto"])
    if rc != 0:
        raise SystemExit("grpc_tools.protoc failed")
    sys.path.insert(0, out)
    return (importlib.import_module("gate.gate_pb2"), importlib.import_module("gate.gate_pb2_grpc"),
            importlib.import_module("chat.chat_pb2"))
