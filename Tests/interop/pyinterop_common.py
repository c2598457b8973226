"""Shared setup for the grpcio (Python) interop peers: builds Python stubs for
proto/grpc/testing/*.proto with grpc_tools at run time (into a temp dir) and imports them."""
import importlib
import os
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def load_stubs():
    """Returns (empty_pb2, messages_pb2, test_pb2_grpc) generated from proto/."""
    from grpc_tools import protoc
    import grpc
    import grpc_tools

    out = tempfile.mkdtemp(prefix="pyinterop-")
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    protos = ["grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto"]
    rc = protoc.main(["protoc", f"-I{os.path.join(ROOT, 'proto')}", f"-I{include}",
                      f"--python_out={out}", f"--grpc_python_out={out}", *protos])
    if rc != 0:
        raise SystemExit("grpc_tools.protoc failed")
    # The generated modules are in package grpc.testing; grpcio owns `grpc`, so extend
    # its search path rather than shadowing it.
    grpc.__path__.append(os.path.join(out, "grpc"))
    empty_pb2 = importlib.import_module("grpc.testing.empty_pb2")
    messages_pb2 = importlib.import_module("grpc.testing.messages_pb2")
    test_pb2_grpc = importlib.import_module("grpc.testing.test_pb2_grpc")
    return empty_pb2, messages_pb2, test_pb2_grpc


def parse_flags(argv, known):
    """--name=value or --name value, as the interop harness passes them."""
    values = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise SystemExit(f"unexpected argument {arg!r}")
        if "=" in arg:
            name, value = arg[2:].split("=", 1)
        else:
            name = arg[2:]
            i += 1
            value = argv[i] if i < len(argv) else "true"
        if name not in known:
            raise SystemExit(f"unknown flag --{name}; known: {', '.join(sorted(known))}")
        values[name] = value
        i += 1
    return {k: values.get(k, v) for k, v in known.items()}


class Checks:
    """PASS/FAIL lines as a script goes, and the closing 'N passed, N failed' line."""

    def __init__(self):
        self.results = []

    def check(self, name, condition, detail=""):
        self.results.append(bool(condition))
        print(f"{'PASS' if condition else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        return condition

    def screen(self, child, pattern, name):
        """A pexpect child shows `pattern` (within its timeout): PASS, else FAIL with
        the end of what the screen showed."""
        import pexpect
        try:
            child.expect(pattern)
            return self.check(name, True)
        except (pexpect.TIMEOUT, pexpect.EOF):
            return self.check(name, False, f"did not see {pattern!r}; screen so far: {str(child.before)[-400:]!r}")

    def finish(self):
        failed = self.results.count(False)
        print(f"{len(self.results) - failed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
