"""The chat CLI when its gate goes away and comes back: it says so, reconnects with
backoff, re-registers, re-joins its room, and says when it is back.
Usage: cli_reconnect.py --chat=PATH --chat_server=PATH --port=PORT"""
import os
import subprocess
import sys
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from pyinterop_common import Checks, parse_flags  # noqa: E402

flags = parse_flags(sys.argv[1:], {"chat": None, "chat_server": None, "port": None})
checks = Checks()


def start_server():
    server = subprocess.Popen([flags["chat_server"], "--embedded", "--listen", f"127.0.0.1:{flags['port']}",
                               "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    return server


server = start_server()
try:
    alice = pexpect.spawn(flags["chat"], ["--server", f"127.0.0.1:{flags['port']}", "--user", "alice"],
                          encoding="utf-8", timeout=15)
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
