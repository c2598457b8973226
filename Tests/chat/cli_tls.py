"""The chat CLI over TLS: --tls with --ca-file against a chat-server serving TLS, and
a clear error when the certificate is not trusted.
Usage: cli_tls.py --chat=PATH --server_port=PORT --ca_file=PEM"""
import os
import sys

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from pyinterop_common import Checks, parse_flags  # noqa: E402

flags = parse_flags(sys.argv[1:], {"chat": None, "server_port": None, "ca_file": None})
checks = Checks()
check = checks.check


server = f"localhost:{flags['server_port']}"
alice = pexpect.spawn(flags["chat"], ["--server", server, "--user", "alice", "--tls", "--ca-file", flags["ca_file"]],
                      encoding="utf-8", timeout=10)
try:
    alice.expect("connected")
    alice.send("/list\r")
    alice.expect("rooms: General, Technology, Crypto, Sports, Movies")
    check("chat over TLS with the CA file", True)
except (pexpect.TIMEOUT, pexpect.EOF):
    check("chat over TLS with the CA file", False, repr(alice.before[-300:]))
alice.send("/quit\r")
alice.expect(pexpect.EOF)

untrusted = pexpect.spawn(flags["chat"], ["--server", server, "--user", "bob", "--tls"], encoding="utf-8", timeout=10)
try:
    untrusted.expect(r"error: cannot reach .*certificate verify failed")
    check("an untrusted certificate: one clear line", True)
except (pexpect.TIMEOUT, pexpect.EOF):
    check("an untrusted certificate: one clear line", False, repr(untrusted.before[-300:]))
untrusted.expect(pexpect.EOF)
checks.finish()
