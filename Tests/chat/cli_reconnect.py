"""The chat CLI when its gate goes away and comes back: it says so, reconnects with
backoff, re-registers, re-joins its room, and says when it is back.
Usage: cli_reconnect.py --chat=PATH --chat_server=PATH --port=PORT"""
import os
import socket
import subprocess
import sys
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from pyinterop_common import Checks, parse_flags  # noqa: E402

flags = parse_flags(sys.argv[1:], {"chat": None, "chat_server": None, "port": None})
checks = Checks()


def start_server():
    """Starts the server and returns once it accepts connections (up to a minute)."""
    server = subprocess.Popen([flags["chat_server"], "--embedded", "--listen", f"127.0.0.1:{flags['port']}",
                               "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(flags["port"])), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.05)
    raise SystemExit("chat-server did not start listening within 60 s")


server = start_server()
try:
    alice = pexpect.spawn(flags["chat"], ["--server", f"127.0.0.1:{flags['port']}", "--user", "alice"],
                          encoding="utf-8", timeout=60)  # a reconnect attempt is at most 5 s away
    alice.expect("connected")
    alice.send("/join Movies\r")
    alice.expect("joined Movies")
    server.terminate()
    server.wait()
    checks.screen(alice, r"connection to 127\.0\.0\.1:\d+ lost .*reconnecting", "the client says the gate went away")
    alice.send("are you there?\r")
    checks.screen(alice, r"error: not connected", "sending while disconnected: one clear line")
    server = start_server()
    checks.screen(alice, r"reconnected to 127\.0\.0\.1:\d+ as alice \(back in Movies\)", "the client reconnects and re-joins its room")
    alice.send("back again\r")
    checks.screen(alice, r"alice: back again", "messages flow after reconnecting")
    alice.send("/quit\r")
    alice.expect(pexpect.EOF)
finally:
    server.terminate()
    server.wait()
checks.finish()
