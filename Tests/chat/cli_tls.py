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


server = f"localhost:{flags['server_port']}"
alice = pexpect.spawn(flags["chat"], ["--server", server, "--user", "alice", "--tls", "--ca-file", flags["ca_file"]],
                      encoding="utf-8", timeout=30)
checks.screen(alice, "connected", "connects over TLS with the CA file")
alice.send("/list\r")
checks.screen(alice, "rooms: General, Technology, Crypto, Sports, Movies", "chat over TLS with the CA file")
alice.send("/quit\r")
alice.expect(pexpect.EOF)

untrusted = pexpect.spawn(flags["chat"], ["--server", server, "--user", "bob", "--tls"], encoding="utf-8", timeout=30)
checks.screen(untrusted, r"error: cannot reach .*certificate verify failed", "an untrusted certificate: one clear line")
untrusted.expect(pexpect.EOF)
checks.finish()
