"""Two `chat` CLI processes driven through pseudo-terminals, as people would type,
against a running chat gate.  Usage: cli_e2e.py --chat=PATH --server_port=PORT"""
import os
import sys
import time
import unicodedata

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from pyinterop_common import Checks, parse_flags  # noqa: E402

flags = parse_flags(sys.argv[1:], {"chat": None, "server_port": None})
checks = Checks()
check = checks.check


def person(user, password="000000", columns=160):
    child = pexpect.spawn(flags["chat"], ["--server", f"127.0.0.1:{flags['server_port']}", "--user", user,
                                          "--password", password], encoding="utf-8", timeout=30,
                          dimensions=(40, columns))
    return child


expect = checks.screen


def type_line(child, text):
    child.send(text + "\r")


alice, bob = person("alice"), person("bob")
expect(alice, r"connected to .* as alice", "alice connects")
expect(bob, r"connected to .* as bob", "bob connects")

type_line(alice, "/list")
expect(alice, r"rooms: General, Technology, Crypto, Sports, Movies", "/list shows the five rooms")
type_line(alice, "/join general")
expect(alice, r"joined General", "alice joins general (any case)")
type_line(bob, "/join GENERAL")
expect(bob, r"joined General", "bob joins GENERAL (any case)")

stamp = str(int(time.time()))
type_line(bob, f"hello alice {stamp}")
expect(alice, rf"\[\d\d:\d\d:\d\d\] bob: hello alice {stamp}", "alice sees bob's message as [HH:MM:SS] user: text")
expect(bob, rf"\[\d\d:\d\d:\d\d\] bob: hello alice {stamp}", "bob sees his own message")

# A message arriving while alice is typing must not corrupt her line. (Each step waits
# for the screen to show the last one took effect: no sleeps, no guess at speed.)
alice.send("half a li")
alice.expect_exact("half a li")
type_line(bob, f"interrupting {stamp}")
expect(alice, rf"bob: interrupting {stamp}", "the push shows while alice types")
alice.send("ne\r")
expect(bob, r"alice: half a line", "alice's line arrives whole")

# A line wider than the terminal scrolls sideways: a push arriving mid-line redraws one
# row (prompt + the end of the line), not a wrapped copy of the whole line.
dave = person("dave", columns=40)
expect(dave, r"connected", "dave connects in a 40-column terminal")
type_line(dave, "/join general")
expect(dave, r"joined General", "dave joins General")


def typed_past_the_edge(text, what):
    """dave types `text` (wider than his 40 columns) without Enter, a push arrives, and
    the redrawn input row must fit, ending at the cursor; then the line goes out whole.
    Columns as terminals draw them: East Asian wide characters take two."""
    dave.send(text)
    dave.expect_exact(text[-6:])  # drawn: the editor has it
    type_line(bob, f"{what} {stamp}")
    expect(dave, rf"bob: {what} {stamp}", f"the push shows while dave types {what}")
    if expect(dave, r"\r\x1b\[2K\[General\]> ([^\r\x1b]*)", f"the {what} input line is redrawn after the push"):
        shown = dave.match.group(1)
        columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in shown)
        check(f"the redrawn {what} line fits one row and ends at the cursor",
              len("[General]> ") + columns < 40 and 0 < len(shown) and text.endswith(shown),
              f"redrawn: {shown!r} ({columns} columns)")
    dave.send("\r")
    expect(bob, rf"dave: {text}", f"dave's {what} line arrives whole")


typed_past_the_edge("w" * 30 + "0123456789" * 5 + "END", "ascii")
typed_past_the_edge("日本語のテキスト" * 4, "cjk")
dave.terminate(force=True)

carol = person("carol")
expect(carol, r"connected", "carol connects")
type_line(carol, "/join sports")
expect(carol, r"joined Sports", "carol joins Sports")
type_line(carol, f"sports only {stamp}")
expect(carol, rf"carol: sports only {stamp}", "carol sees her Sports message")
type_line(alice, "/messages")
expect(alice, r"alice: half a line", "/messages shows the room's history")
try:
    alice.expect(rf"sports only {stamp}", timeout=1)
    check("a Sports message does not reach General", False)
except pexpect.TIMEOUT:
    check("a Sports message does not reach General", True)

type_line(alice, "/join Narnia")
expect(alice, r'error: room "Narnia" does not exist \(try /list\)', "unknown room: one clear line")
type_line(alice, "/frobnicate")
expect(alice, r"error: unknown command /frobnicate \(try /help\)", "unknown command: one clear line")
type_line(alice, "x" * 5000)
expect(alice, r"error: the message is 5000 bytes; the limit is 4096", "overlong message: one clear line")
# A paste is taken in a read at a time and drawn once per read: the screen gets the line
# about once (echo, then the line as sent), not a redraw of the row per character (the
# editor used to draw ~85 characters per keystroke past the edge: 1.3 MB for this paste).
alice.send("y" * 16000 + "\r")
if expect(alice, r"error: the message is 16000 bytes; the limit is 4096", "a 16,000-character paste: one clear line"):
    drawn = len(alice.before)
    check("the paste is drawn once per read, not once per character", drawn < 100_000, f"{drawn} characters drawn")
# Two lines pasted at once are two messages, in order.
alice.send(f"first of two {stamp}\rsecond of two {stamp}\r")
expect(bob, rf"alice: first of two {stamp}", "a two-line paste: the first line is sent")
expect(bob, rf"alice: second of two {stamp}", "a two-line paste: then the second")
type_line(alice, "/help")
expect(alice, r"/messages", "/help lists the commands")
type_line(carol, "/leave")
expect(carol, r"left Sports", "/leave")
type_line(carol, "talking to nobody")
expect(carol, r"error: join a room first", "no room: one clear line")

wrong = person("mallory", password="guess")
expect(wrong, r"error: wrong password for mallory", "wrong password: one clear line")
wrong.expect(pexpect.EOF)

type_line(alice, "/quit")
alice.expect(pexpect.EOF)
alice.close()
check("/quit exits cleanly", alice.exitstatus == 0, f"exit status {alice.exitstatus}")
bob.sendcontrol("d")
bob.expect(pexpect.EOF)
bob.close()
check("Ctrl-D exits cleanly", bob.exitstatus == 0, f"exit status {bob.exitstatus}")
carol.terminate(force=True)
checks.finish()
