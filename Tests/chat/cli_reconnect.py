"""The chat CLI when its gate goes away and comes back: it says so, reconnects with
backoff, re-registers, re-joins its room, and says when it is back; what was sent in
the room meanwhile is shown once each, and a line typed while disconnected is sent once
after the reconnect. Run with SWIFTVERSE_STORE set to a SQLite file, so that the room
outlives the server's restarts.
Usage: cli_reconnect.py --chat=PATH --chat_server=PATH --port=PORT"""
import io
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
                               "--http-listen", "off", "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    screen = io.StringIO()
    alice.logfile_read = screen
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

    # Away again; bob talks meanwhile (before or after alice is back: either way once each).
    server.terminate()
    server.wait()
    checks.screen(alice, r"connection to 127\.0\.0\.1:\d+ lost .*reconnecting", "the gate goes away again")
    server = start_server()
    bob = pexpect.spawn(flags["chat"], ["--server", f"127.0.0.1:{flags['port']}", "--user", "bob"],
                        encoding="utf-8", timeout=60)
    bob.expect("connected")
    bob.send("/join Movies\r")
    bob.expect("joined Movies")
    for text in ["while you were away 1", "while you were away 2"]:
        bob.send(text + "\r")
        bob.expect("bob: " + text)
    bob.send("/quit\r")
    bob.expect(pexpect.EOF)
    checks.screen(alice, r"bob: while you were away 2", "what was said while the client was away reaches it")
    alice.send("done\r")
    checks.screen(alice, r"alice: done", "and messages flow again")
    seen = screen.getvalue()
    counts = [seen.count("bob: while you were away 1"), seen.count("bob: while you were away 2")]
    checks.check("each missed message is shown once", counts == [1, 1], f"shown {counts} times")
    checks.check("the line typed while disconnected is sent once after the reconnect",
                 seen.count("alice: are you there?") == 1, f"shown {seen.count('alice: are you there?')} times")
    alice.send("/quit\r")
    alice.expect(pexpect.EOF)
finally:
    server.terminate()
    server.wait()
checks.finish()
