"""The web chat client in Firefox (Debian's firefox-esr, headless, driven through its
own Marionette protocol with Mozilla's marionette_driver: no geckodriver needed), with
a CLI user beside it, against a running gate.
Usage: firefox_chat.py --chat=PATH --http_port=PORT --grpc_port=PORT --screenshots=DIR"""
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pexpect
from marionette_driver.by import By
from marionette_driver.keys import Keys
from marionette_driver.marionette import Marionette

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from pyinterop_common import Checks, parse_flags  # noqa: E402

flags = parse_flags(sys.argv[1:], {"chat": None, "http_port": None, "grpc_port": None, "screenshots": None})
checks = Checks()
check = checks.check


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except Exception:  # the page is still changing
            pass
        time.sleep(0.1)
    return False


def chat_lines(client):
    return client.execute_script("""return [...document.querySelectorAll('#messages li.message')].map(
        (li) => li.querySelector('.user').textContent + ': ' + li.querySelector('.text').textContent);""")


def text_of(client, element_id):
    return client.execute_script("return document.getElementById(arguments[0]).textContent", script_args=[element_id])


profile = tempfile.mkdtemp(prefix="swiftverse-firefox-")
marionette_port = free_port()
with open(os.path.join(profile, "user.js"), "w") as prefs:
    prefs.write(f'user_pref("marionette.port", {marionette_port});\n')
firefox = subprocess.Popen(["firefox-esr", "--headless", "--marionette", "--no-remote", "-profile", profile],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
cli = None
try:
    client = Marionette(host="127.0.0.1", port=marionette_port)
    client.start_session()
    client.set_window_rect(width=1000, height=700)
    client.navigate(f"http://127.0.0.1:{flags['http_port']}/")
    client.find_element(By.ID, "user").send_keys("fox")
    client.find_element(By.ID, "password").send_keys("000000")
    client.find_element(By.ID, "signin-button").click()
    check("Firefox: signs in", wait(lambda: text_of(client, "connection") == "connected"))
    check("Firefox: the room list shows", wait(lambda: client.find_element(By.CSS_SELECTOR, "#rooms button[data-room='General']")))
    client.find_element(By.CSS_SELECTOR, "#rooms button[data-room='General']").click()
    check("Firefox: joins General", wait(lambda: text_of(client, "room-title") == "General"))

    cli = pexpect.spawn(flags["chat"], ["--server", f"127.0.0.1:{flags['grpc_port']}", "--user", "owl"], encoding="utf-8",
                        timeout=30, dimensions=(40, 160))
    cli.logfile_read = io.StringIO()
    checks.screen(cli, r"connected to .* as owl", "the CLI user connects")
    cli.send("/join General\r")
    checks.screen(cli, r"joined General", "the CLI user joins General")

    client.find_element(By.ID, "input").send_keys("hello from Firefox <i>not italic</i>" + Keys.ENTER)
    checks.screen(cli, r"fox: hello from Firefox <i>not italic</i>", "the CLI shows Firefox's message")
    cli.send("hi fox, from the CLI\r")
    check("Firefox shows both messages in order, as text",
          wait(lambda: chat_lines(client)[-2:] == ["fox: hello from Firefox <i>not italic</i>", "owl: hi fox, from the CLI"]),
          str(chat_lines(client)))
    check("Firefox made no element of the markup", not client.find_elements(By.CSS_SELECTOR, "#messages i"))
    os.makedirs(flags["screenshots"], exist_ok=True)
    path = os.path.join(flags["screenshots"], "firefox-fox.png")
    with open(path, "wb") as shot:
        shot.write(client.screenshot(format="binary"))
    print(f"screenshot: {path}")
    cli.send("/quit\r")
    cli.expect(pexpect.EOF)
    client.delete_session()
finally:
    if cli and cli.isalive():
        cli.terminate(force=True)
    firefox.terminate()
    try:
        firefox.wait(timeout=10)
    except subprocess.TimeoutExpired:
        firefox.kill()
    shutil.rmtree(profile, ignore_errors=True)
checks.finish()
