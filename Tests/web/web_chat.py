"""The web chat client in a real browser (Debian's headless Chromium through Selenium),
with CLI users beside it, and the gate's HTTP API from a plain HTTP client.

  --mode=embedded: starts `chat-server --embedded` itself (SQLite store) and runs
      everything: the protocol module, sign-in errors, three users, text not HTML,
      every bad HTTP input while a browser keeps chatting, an event stream that stops
      reading, a reload, the gate restarting.
  --mode=cluster: a running cluster's gates: browsers on --http_port, the CLI on
      --grpc_port (another gate): three users in one room.
  --mode=https: starts `chat-server --embedded --tls-cert` (certificates in --tls_dir):
      the HTTP port serves HTTPS (ALPN http/1.1) to a verifying client and to browsers.
Screenshots go to --screenshots."""
import base64
import http.client
import io
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

import pexpect
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
sys.path.insert(0, os.path.join(HERE, "..", "chat"))
from pyinterop_common import Checks, parse_flags  # noqa: E402
from chat_stubs import load_chat_stubs  # noqa: E402

_, _, chat_pb2 = load_chat_stubs()
from google.protobuf import any_pb2  # noqa: E402

flags = parse_flags(sys.argv[1:], {"mode": "embedded", "chat": None, "chat_server": "", "http_port": None, "grpc_port": None,
                                   "store": "", "screenshots": None, "log": "", "tls_dir": ""})
HTTP = int(flags["http_port"])
SCHEME = "https" if flags["mode"] == "https" else "http"


def tls_context(protocols=("http/1.1",)):
    context = ssl.create_default_context(cafile=os.path.join(flags["tls_dir"], "ca.pem"))
    context.set_alpn_protocols(list(protocols))
    return context
checks = Checks()
check = checks.check
os.makedirs(flags["screenshots"], exist_ok=True)


# --- the server (embedded mode) ---

def start_server():
    log = open(flags["log"], "a")
    tls = ["--tls-cert", os.path.join(flags["tls_dir"], "server.pem"),
           "--tls-key", os.path.join(flags["tls_dir"], "server.key")] if SCHEME == "https" else []
    server = subprocess.Popen([flags["chat_server"], "--embedded", "--listen", f"127.0.0.1:{flags['grpc_port']}",
                               "--http-listen", f"127.0.0.1:{HTTP}", "--store", flags["store"], *tls,
                               # small, so a client that stops reading is cut off soon
                               "--max-queued-push-bytes", "65536", "--log-level", "info"], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", HTTP), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.05)
    raise SystemExit("chat-server did not start serving HTTP within 60 s")


# --- browsers ---

def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,700"]:
        options.add_argument(argument)
    if SCHEME == "https":  # the test CA is not in Chromium's store; the Python client verifies it
        options.add_argument("--ignore-certificate-errors")
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, condition, timeout=30):
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))
        return True
    except TimeoutException:
        return False


def text_of(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def chat_lines(driver):
    """'user: text' for each message shown, in order."""
    return driver.execute_script("""return [...document.querySelectorAll('#messages li.message')].map(
        (li) => li.querySelector('.user').textContent + ': ' + li.querySelector('.text').textContent);""")


def sign_in(driver, user, password="000000", room="General"):
    driver.get(f"{SCHEME}://127.0.0.1:{HTTP}/")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "signin-button").click()
    if not wait(driver, lambda d: text_of(d, "connection") == "connected" and d.find_elements(By.CSS_SELECTOR, "#rooms button")):
        return False
    if room:
        driver.find_element(By.CSS_SELECTOR, f"#rooms button[data-room='{room}']").click()
        return wait(driver, lambda d: text_of(d, "room-title") == room and "joined " + room in text_of(d, "messages"))
    return True


def type_line(driver, line):
    field = driver.find_element(By.ID, "input")
    field.send_keys(line + "\n")


def shows(driver, lines, timeout=30):
    """The browser shows exactly `lines` at the end of its messages, in order."""
    return wait(driver, lambda d: chat_lines(d)[-len(lines):] == lines, timeout)


def screenshot(driver, name):
    path = os.path.join(flags["screenshots"], name + ".png")
    driver.save_screenshot(path)
    print(f"screenshot: {path}")


# --- the CLI ---

def cli(user, port):
    child = pexpect.spawn(flags["chat"], ["--server", f"127.0.0.1:{port}", "--user", user], encoding="utf-8",
                          timeout=30, dimensions=(40, 160))
    child.logfile_read = io.StringIO()
    return child


# --- the HTTP API, as a plain client ---

def pack(message):
    any_message = any_pb2.Any()
    any_message.Pack(message)
    return base64.b64encode(any_message.SerializeToString()).decode()


def http_connection():
    """A connection to the gate's HTTP port, verifying its certificate in HTTPS mode."""
    if SCHEME == "https":
        return http.client.HTTPSConnection("127.0.0.1", HTTP, timeout=30, context=tls_context())
    return http.client.HTTPConnection("127.0.0.1", HTTP, timeout=30)


def api(method, path, body=None, headers=None, raw=None):
    """(status, parsed JSON or None) of one request on a fresh connection."""
    connection = http_connection()
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    connection.request(method, path, body=data, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    try:
        return response.status, json.loads(payload) if payload else None, response
    except ValueError:
        return response.status, None, response


def auth(user, password="000000"):
    return {"X-Goverse-Auth": json.dumps({"x-username": user, "x-password": password})}


class EventStream:
    """GET /api/v1/events/stream on a raw socket: the client id from `register`; then
    it reads (and counts) events in a thread, or, with read=False, never reads again."""

    def __init__(self, read=True, receive_buffer=None):
        self.socket = socket.socket()
        if receive_buffer:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.socket.connect(("127.0.0.1", HTTP))
        if SCHEME == "https":
            self.socket = tls_context().wrap_socket(self.socket, server_hostname="localhost")
        self.socket.sendall(b"GET /api/v1/events/stream HTTP/1.1\r\nHost: gate\r\nAccept: text/event-stream\r\n\r\n")
        self.buffer = b""
        # The body is chunked (HTTP/1.1, no length); each event is one chunk.
        while b"\n\n" not in self.buffer.partition(b"event: register")[2]:
            chunk = self.socket.recv(4096)
            if not chunk:
                raise SystemExit(f"the event stream closed before its register event: {self.buffer!r}")
            self.buffer += chunk
        line = [l for l in self.buffer.split(b"\n") if l.startswith(b"data: ")][0]
        self.client_id = json.loads(line[6:])["clientId"]
        self.head = self.buffer.split(b"\r\n\r\n")[0].decode()
        self.messages = 0
        if read:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                chunk = self.socket.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            self.messages += chunk.count(b"event: message")

    def closed_by_gate(self, timeout):
        """Reads what is buffered; True once the gate has closed the stream."""
        self.socket.settimeout(timeout)
        try:
            while self.socket.recv(1 << 20):
                pass
            return True
        except (socket.timeout, OSError):
            return False


def call(room_method, request, stream=None, user=None, password="000000", room="General"):
    headers = dict(auth(user, password)) if user else {}
    if stream:
        headers["X-Client-ID"] = stream.client_id
    return api("POST", f"/api/v1/objects/call/ChatRoom/ChatRoom-{room}/{room_method}", {"request": pack(request)}, headers)


# --- scenarios ---

def three_users(alice, bob, cli_port, tag):
    carol = cli("carol", cli_port)
    checks.screen(carol, r"connected to .* as carol", f"{tag}: the CLI user connects")
    carol.send("/join General\r")
    checks.screen(carol, r"joined General", f"{tag}: the CLI user joins General")
    check(f"{tag}: two browser users sign in and join General", sign_in(alice, "alice") and sign_in(bob, "bob"))
    expected = []
    for who, text in [("alice", f"hello from alice ({tag})"), ("bob", f"hi alice, bob here ({tag})"),
                      ("carol", f"carol on the CLI ({tag})"), ("alice", f"all three of us ({tag})")]:
        if who == "carol":
            carol.send(text + "\r")
        else:
            type_line(alice if who == "alice" else bob, text)
        expected.append(f"{who}: {text}")
        checks.screen(carol, "carol: " if who == "carol" else f"{who}: {text}".replace("(", r"\(").replace(")", r"\)"),
                      f"{tag}: the CLI shows {who}'s message")
    check(f"{tag}: alice's browser shows the three users' messages in order", shows(alice, expected), str(chat_lines(alice)))
    check(f"{tag}: bob's browser shows them in order", shows(bob, expected), str(chat_lines(bob)))
    screen = carol.logfile_read.getvalue()
    check(f"{tag}: the CLI showed each once, in order",
          [screen.find(line) for line in expected] == sorted(screen.find(line) for line in expected)
          and all(screen.count(line) == 1 for line in expected), screen[-600:])
    carol.send("/quit\r")
    carol.expect(pexpect.EOF)
    return expected


def protocol_module(driver):
    """chatproto.js encodes as protobuf does and decodes what protobuf encodes."""
    driver.get(f"{SCHEME}://127.0.0.1:{HTTP}/")
    encoded = driver.execute_async_script("""const done = arguments[arguments.length - 1];
        import('/chatproto.js').then((chat) => done({
          list: chat.listRequest(), join: chat.joinRequest({ afterSeq: 300 }),
          send: chat.sendRequest({ text: 'héllo ✓ <b>', messageId: 'id-1' }),
          recent: chat.recentRequest({ afterSeq: 2 ** 40, limit: 1000 }), leave: chat.leaveRequest(),
        })).catch((error) => done({ error: String(error) }));""")
    check("chatproto.js loads", "error" not in encoded, encoded.get("error", ""))
    send = chat_pb2.ChatRoom_SendChatMessageRequest(message="héllo ✓ <b>", message_id="id-1")
    for name, message in [("list", chat_pb2.ChatRoom_ListRequest()), ("join", chat_pb2.ChatRoom_JoinRequest(after_seq=300)),
                          ("send", send), ("recent", chat_pb2.ChatRoom_GetRecentMessagesRequest(after_seq=1 << 40, limit=1000)),
                          ("leave", chat_pb2.ChatRoom_LeaveRequest())]:
        same = encoded.get(name) == pack(message)
        check(f"chatproto.js encodes {name} as protobuf does", same, "" if same else f"{encoded.get(name)} != {pack(message)}")
    joined = chat_pb2.ChatRoom_JoinResponse(room_name="General", recent_messages=[
        chat_pb2.ChatMessage(user_name="ünï", message="a\nb", timestamp=1796130000123456, seq=1),
        chat_pb2.ChatMessage(user_name="bob", message="", timestamp=0, seq=(1 << 50) + 1)])
    note = chat_pb2.Client_NewMessageNotification(message=chat_pb2.ChatMessage(user_name="x", message="y", seq=9))
    decoded = driver.execute_async_script("""const [join, note, list] = Array.from(arguments);
        const done = arguments[arguments.length - 1];
        import('/chatproto.js').then((chat) => done({ join: chat.decodeJoinResponse(join),
          note: chat.decodeNotification(note), list: chat.decodeListResponse(list),
          wrong: (() => { try { chat.decodeListResponse(join); return 'accepted'; } catch (e) { return 'refused'; } })() }));""",
                                          pack(joined), pack(note), pack(chat_pb2.ChatRoom_ListResponse(chat_rooms=["A", "B"])))
    check("chatproto.js decodes a JoinResponse", decoded["join"] == {"roomName": "General", "recentMessages": [
        {"userName": "ünï", "message": "a\nb", "timestamp": 1796130000123456, "seq": 1},
        {"userName": "bob", "message": "", "timestamp": 0, "seq": (1 << 50) + 1}]}, str(decoded["join"]))
    check("chatproto.js decodes a push", decoded["note"] == {"userName": "x", "message": "y", "timestamp": 0, "seq": 9})
    check("chatproto.js decodes a ListResponse", decoded["list"] == ["A", "B"])
    check("chatproto.js refuses an Any of another type", decoded["wrong"] == "refused")


def bad_http_inputs(alice, bob):
    """Every error status of the HTTP API, while alice and bob keep chatting."""
    join = chat_pb2.ChatRoom_JoinRequest()
    eve = EventStream()
    status, _, _ = call("Join", join, eve, "eve")
    check("an event stream's client id joins a room with credentials", status == 200, str(status))
    check("the event stream answers text/event-stream with CORS", "text/event-stream" in eve.head
          and "Access-Control-Allow-Origin: *" in eve.head, eve.head)
    cases = [
        ("malformed JSON", 400, "INVALID_JSON", lambda: api("POST", "/api/v1/objects/call/ChatRoom/ChatRoom-General/Join", raw=b"{nope")),
        ("bad base64", 400, "INVALID_BASE64", lambda: api("POST", "/api/v1/objects/call/ChatRoom/ChatRoom-General/Join", {"request": "!!"})),
        ("not a protobuf Any", 400, "INVALID_PROTOBUF",
         lambda: api("POST", "/api/v1/objects/call/ChatRoom/ChatRoom-General/Join", {"request": base64.b64encode(b"\xff").decode()})),
        ("a path with too few parts", 400, "INVALID_PATH", lambda: api("POST", "/api/v1/objects/call/ChatRoom/Join", {})),
        ("the wrong request type", 400, "INVALID_ARGUMENT",
         lambda: call("Join", chat_pb2.ChatRoom_LeaveRequest(), eve, "eve")),
        ("an empty message", 400, "INVALID_ARGUMENT", lambda: call("SendMessage", chat_pb2.ChatRoom_SendChatMessageRequest(message=" "), eve, "eve")),
        ("a wrong password", 401, "UNAUTHENTICATED", lambda: call("Join", join, eve, "eve", password="wrong")),
        ("credentials that are not JSON", 401, "UNAUTHENTICATED",
         lambda: api("POST", "/api/v1/objects/call/ChatRoom/ChatRoom-General/Join", {"request": pack(join)},
                     {"X-Client-ID": eve.client_id, "X-Goverse-Auth": "alice:000000"})),
        ("a call that needs a client, without one", 401, "UNAUTHENTICATED", lambda: call("Join", join)),
        ("another user's client id", 403, "PERMISSION_DENIED", lambda: call("Join", join, eve, "mallory")),
        ("an unknown method", 404, "UNIMPLEMENTED",
         lambda: api("POST", "/api/v1/objects/call/ChatRoomMgr/ChatRoomMgr0/Nope", {}, auth("eve"))),
        ("creating an object", 403, "PERMISSION_DENIED", lambda: api("POST", "/api/v1/objects/create/ChatRoom/ChatRoom-X", {}, {**auth("eve"), "X-Client-ID": eve.client_id})),
        ("an unknown client id", 404, "NOT_FOUND",
         lambda: call("Join", join, type("S", (), {"client_id": "127.0.0.1:1/e-0"}), "eve")),
        ("an unknown object type", 404, "NOT_FOUND", lambda: api("POST", "/api/v1/objects/call/Nope/n1/Get", {}, auth("eve"))),
        ("a room that does not exist", 404, "NOT_FOUND", lambda: call("Join", join, eve, "eve", room="Nowhere")),
        ("an unknown API path", 404, "NOT_FOUND", lambda: api("GET", "/api/v1/nothing")),
        ("GET on a call", 405, "METHOD_NOT_ALLOWED", lambda: api("GET", "/api/v1/objects/call/ChatRoom/ChatRoom-General/Join")),
        ("sending before joining", 409, "FAILED_PRECONDITION",
         lambda: call("SendMessage", chat_pb2.ChatRoom_SendChatMessageRequest(message="hi"), eve, "eve", room="Crypto")),
        ("a body over the limit", 413, "BODY_TOO_LARGE",
         lambda: api("POST", "/api/v1/objects/call/ChatRoom/ChatRoom-General/Join", raw=b"{" + b" " * (6 << 20) + b"}")),
    ]
    for index, (name, want_status, want_code, request) in enumerate(cases):
        status, body, _ = request()
        check(f"HTTP API: {name} is {want_status} {want_code}", status == want_status and (body or {}).get("code") == want_code
              and bool((body or {}).get("error")), f"{status} {body}")
        if index % 5 == 4:  # the browsers keep chatting throughout
            line = f"still here {index}"
            type_line(alice, line)
            check(f"HTTP API: bob still gets alice's messages ({index + 1} bad requests in)", shows(bob, [f"alice: {line}"]))
    status, _, response = api("OPTIONS", "/api/v1/objects/call/ChatRoom/ChatRoom-General/Join",
                              headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "x-goverse-auth, x-client-id"})
    allowed = (response.getheader("Access-Control-Allow-Headers") or "").lower()
    check("HTTP API: a CORS preflight is 204 and allows the credential and client headers",
          status == 204 and "x-goverse-auth" in allowed and "x-client-id" in allowed, f"{status} {allowed}")
    sent = len(cases) // 5
    check("eve's event stream got each of alice's messages meanwhile", wait(alice, lambda d: eve.messages == sent),
          f"{eve.messages} pushes of {sent}")


def flood(room, count, during=None):
    """`count` messages of 3.5 KB into `room` from a reading event stream (returned), on one
    keep-alive connection; `during()` runs halfway."""
    flooder = EventStream()
    call("Join", chat_pb2.ChatRoom_JoinRequest(), flooder, "flood", room=room)
    connection = http_connection()
    headers = {**auth("flood"), "X-Client-ID": flooder.client_id, "Content-Type": "application/json"}
    big = "x" * 3500
    for index in range(count):
        body = json.dumps({"request": pack(chat_pb2.ChatRoom_SendChatMessageRequest(message=f"{index} {big}"))})
        connection.request("POST", f"/api/v1/objects/call/ChatRoom/ChatRoom-{room}/SendMessage", body=body, headers=headers)
        connection.getresponse().read()
        if during and index == count // 2:
            during()
    connection.close()
    return flooder


def stalled_stream(alice, bob):
    """An event stream that stops reading is cut off; everyone else is served meanwhile."""
    stalled = EventStream(read=False, receive_buffer=4096)
    status, _, _ = call("Join", chat_pb2.ChatRoom_JoinRequest(), stalled, "sloth", room="Sports")
    check("a stream that will stop reading joins Sports", status == 200, str(status))
    flooder = flood("Sports", 1500, during=lambda: type_line(alice, "during the flood"))
    check("the gate cut off the stream that stopped reading", stalled.closed_by_gate(timeout=30))
    check("meanwhile bob got alice's message", shows(bob, ["alice: during the flood"]))
    check("and the reading stream got the flood", wait(alice, lambda d: flooder.messages >= 1500, 30), f"{flooder.messages}")
    with open(flags["log"]) as log:
        check("the gate logged the cut-off", "stopped reading its pushes" in log.read())


def wrong_password(driver):
    driver.get(f"{SCHEME}://127.0.0.1:{HTTP}/")
    driver.find_element(By.ID, "user").send_keys("mallory")
    driver.find_element(By.ID, "password").send_keys("not-the-password")
    driver.find_element(By.ID, "signin-button").click()
    check("a wrong password shows a clear error",
          wait(driver, lambda d: "wrong password" in text_of(d, "signin-error")), text_of(driver, "signin-error"))
    check("and leaves the user signed out", driver.find_element(By.ID, "chat").get_attribute("hidden") is not None)


def markup_is_text(alice, bob):
    attack = "<img src=x onerror=alert(1)>"
    type_line(bob, attack)
    check("a message of markup shows as text", shows(alice, ["bob: " + attack]), str(chat_lines(alice)[-2:]))
    check("and makes no element", not alice.find_elements(By.CSS_SELECTOR, "#messages img"))
    try:
        alice.switch_to.alert
        check("and runs no script", False, "an alert opened")
    except NoAlertPresentException:
        check("and runs no script", True)


def reload_rejoins(alice, bob):
    alice.refresh()
    check("a page reload signs in again and rejoins the room",
          wait(alice, lambda d: text_of(d, "connection") == "connected" and text_of(d, "room-title") == "General"))
    type_line(bob, "after your reload")
    check("messages flow after the reload", shows(alice, ["bob: after your reload"]))


def gate_restarts(server, alice, bob):
    server.terminate()
    server.wait()
    check("the gate going away shows reconnecting", wait(alice, lambda d: "reconnecting" in text_of(d, "connection")))
    screenshot(alice, "reconnecting")
    server = start_server()
    check("and the page recovers when it is back", wait(alice, lambda d: text_of(d, "connection") == "connected", 60)
          and wait(bob, lambda d: text_of(d, "connection") == "connected", 60))
    type_line(bob, "the gate came back")
    check("messages flow after the restart, once each", shows(alice, ["bob: the gate came back"], 60)
          and chat_lines(alice).count("bob: the gate came back") == 1, str(chat_lines(alice)[-3:]))
    return server


def h2_stalled_stream(bob):
    """An event stream on HTTP/2 whose client never opens its flow-control window again
    is reset (RST_STREAM) once its backlog passes the limit; others are served."""
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
    raw = socket.create_connection(("127.0.0.1", HTTP))
    secure = tls_context(("h2",)).wrap_socket(raw, server_hostname="localhost")
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    connection.initiate_connection()
    connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 4096})
    stream = connection.get_next_available_stream_id()
    connection.send_headers(stream, [(":method", "GET"), (":path", "/api/v1/events/stream"), (":scheme", "https"),
                                     (":authority", "localhost")], end_stream=True)
    secure.sendall(connection.data_to_send())
    received, status, reset = b"", None, None

    def pump(timeout):
        nonlocal received, status, reset
        secure.settimeout(timeout)
        try:
            data = secure.recv(65536)
        except (socket.timeout, ssl.SSLError, OSError):
            return False
        if not data:
            return False
        for event in connection.receive_data(data):  # never acknowledged: the window stays shut
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers).get(":status")
            elif isinstance(event, h2.events.DataReceived):
                received += event.data
            elif isinstance(event, h2.events.StreamReset):
                reset = event.error_code
        secure.sendall(connection.data_to_send())
        return True

    deadline = time.monotonic() + 30
    while b"event: register" not in received and time.monotonic() < deadline:
        pump(1)
    check("HTTP/2: an event stream opens with its register event", status == "200" and b"event: register" in received,
          f"{status} {received[:200]!r}")
    line = [l for l in received.split(b"\n") if l.startswith(b"data: ")][0]
    holder = type("Stream", (), {"client_id": json.loads(line[6:])["clientId"]})
    status, _, _ = call("Join", chat_pb2.ChatRoom_JoinRequest(), holder, "h2sloth", room="Movies")
    check("HTTP/2: its client id joins a room", status == 200, str(status))
    flood("Movies", 600, during=lambda: type_line(bob, "during the h2 flood"))
    deadline = time.monotonic() + 30
    while reset is None and time.monotonic() < deadline:
        pump(1)
    check("HTTP/2: the gate resets the stream whose reader stopped", reset is not None, f"reset={reset}")
    check("HTTP/2: meanwhile the browsers chat on", shows(bob, ["bob: during the h2 flood"]))
    secure.close()


def https(alice, bob, server):
    """The HTTP port with --tls-cert: HTTPS that a verifying client and browsers use."""
    try:
        for offered, wanted in [(("h2", "http/1.1"), "h2"), (("http/1.1",), "http/1.1")]:
            with socket.create_connection(("127.0.0.1", HTTP)) as raw:
                with tls_context(offered).wrap_socket(raw, server_hostname="localhost") as secure:
                    check(f"HTTPS: the certificate verifies and ALPN settles on {wanted} for a client offering {offered}",
                          secure.selected_alpn_protocol() == wanted, str(secure.selected_alpn_protocol()))
        status, body, _ = api("POST", "/api/v1/objects/call/ChatRoomMgr/ChatRoomMgr0/ListChatRooms", {"request": pack(chat_pb2.ChatRoom_ListRequest())})
        rooms = chat_pb2.ChatRoom_ListResponse()
        any_message = any_pb2.Any()
        any_message.ParseFromString(base64.b64decode((body or {}).get("response", "")))
        any_message.Unpack(rooms)
        check("HTTPS: an API call answers", status == 200 and len(rooms.chat_rooms) == 5, f"{status} {body}")
        try:
            with socket.create_connection(("127.0.0.1", HTTP)) as raw:
                tls_context(("spdy/3",)).wrap_socket(raw, server_hostname="localhost").close()
            check("HTTPS: a client offering neither h2 nor http/1.1 is refused", False, "the handshake succeeded")
        except ssl.SSLError as error:
            check("HTTPS: a client offering neither h2 nor http/1.1 is refused", "no application protocol" in str(error).lower(), str(error))
        check("HTTPS: two browsers sign in over TLS", sign_in(alice, "alice") and sign_in(bob, "bob"))
        protocol = alice.execute_script("return performance.getEntriesByType('navigation')[0].nextHopProtocol")
        check("HTTPS: the browsers speak HTTP/2 to the gate (through nghttp2)", protocol == "h2", str(protocol))
        type_line(alice, "over TLS")
        check("HTTPS: live messages reach the other browser (its event stream on HTTP/2)", shows(bob, ["alice: over TLS"]))
        type_line(bob, "<b>still text</b> over h2")
        check("HTTPS: and back", shows(alice, ["bob: <b>still text</b> over h2"]))
        h2_stalled_stream(bob)
        screenshot(bob, "https-bob")
    finally:
        server.terminate()
        server.wait()


def phone_sized(driver):
    """A phone-sized window: the rooms, the messages and the input all fit its width."""
    driver.set_window_size(390, 800)
    fits = driver.execute_script("""const width = document.documentElement.clientWidth;
        return ['rooms', 'messages', 'input', 'send'].every((id) => {
          const box = document.getElementById(id).getBoundingClientRect();
          return box.width > 0 && box.left >= 0 && box.right <= width + 1; })
          && document.documentElement.scrollWidth <= width + 1;""")
    check("a phone-sized window shows the rooms, messages and input within its width", fits)
    type_line(driver, "from a phone-sized window")
    check("and sending works there", shows(driver, ["bob: from a phone-sized window"]))
    screenshot(driver, "phone-bob")


def main():
    alice, bob = browser(), browser()
    server = start_server() if flags["mode"] != "cluster" else None
    try:
        if flags["mode"] == "cluster":
            three_users(alice, bob, flags["grpc_port"], "cluster")
            screenshot(alice, "cluster-alice")
        elif flags["mode"] == "https":
            https(alice, bob, server)
        else:
            embedded(alice, bob, server)
    finally:
        for driver in (alice, bob):
            driver.quit()
    checks.finish()


def embedded(alice, bob, server):
    try:
        protocol_module(alice)
        wrong_password(alice)
        three_users(alice, bob, flags["grpc_port"], "embedded")
        markup_is_text(alice, bob)
        bad_http_inputs(alice, bob)
        stalled_stream(alice, bob)
        reload_rejoins(alice, bob)
        server = gate_restarts(server, alice, bob)
        screenshot(alice, "embedded-alice")
        screenshot(bob, "embedded-bob")
        phone_sized(bob)
    finally:
        server.terminate()
        server.wait()


main()
