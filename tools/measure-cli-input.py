"""How long the chat CLI takes to answer a line of N characters typed in one go (a
paste): pexpect sends the characters and Enter to a `chat` on a pseudo-terminal, joined
to General on a `chat-server --embedded` of its own, and the clock stops when the answer
shows (the room's push of the message, or the server's "limit is 4096" error).
Median of --repeat runs per size.
Usage: measure-cli-input.py --chat=PATH --chat_server=PATH [--sizes=1000,2000] [--repeat=3]"""
import os
import statistics
import subprocess
import sys
import time

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "interop"))
from pyinterop_common import parse_flags  # noqa: E402

flags = parse_flags(sys.argv[1:], {"chat": None, "chat_server": None,
                                   "sizes": "1000,2000,4000,5000,8000,16000", "repeat": "3"})
sizes = [int(size) for size in flags["sizes"].split(",")]

import socket  # noqa: E402
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
server = subprocess.Popen([flags["chat_server"], "--embedded", "--store", "none", "--listen", f"127.0.0.1:{port}", "--log-level", "warning"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    time.sleep(0.5)
    chat = None
    for _ in range(100):
        chat = pexpect.spawn(flags["chat"], ["--server", f"127.0.0.1:{port}", "--user", "measure"],
                             encoding="utf-8", timeout=120, dimensions=(40, 80))
        chat.delaybeforesend = None  # pexpect sleeps 50 ms before each send otherwise
        if chat.expect([r"connected to", pexpect.EOF]) == 0:
            break
        time.sleep(0.1)
    chat.send("/join general\r")
    chat.expect(r"joined General")
    print("| characters typed | answered in (median of %s) |" % flags["repeat"])
    print("|---|---|")
    for size in sizes:
        runs = []
        for attempt in range(int(flags["repeat"])):
            marker = f"END{attempt}{size % 1000:03d}"
            text = "x" * (size - len(marker)) + marker
            answer = r"the limit is 4096" if size > 4096 else rf"\] measure: x+{marker}"
            start = time.monotonic()
            chat.send(text + "\r")
            chat.expect(answer)
            runs.append(time.monotonic() - start)
            chat.expect(r"\[General\]> ")
        print(f"| {size:,} | {statistics.median(runs):.3f} s |", flush=True)
    chat.terminate(force=True)
finally:
    server.terminate()
    server.wait()
