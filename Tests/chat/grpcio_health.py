"""grpc.health.v1 with grpcio-health-checking's own client, and the HTTP probes, against a
`chat-server --embedded` this script starts: SERVING once ready, every hosted service by
name, unknown ones NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch); GET /healthz and
/ready; and on SIGTERM, Watch turns NOT_SERVING before the server goes away.
Usage: grpcio_health.py --chat_server=PATH --grpc_port=PORT --http_port=PORT"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from pyinterop_common import Checks, parse_flags  # noqa: E402

flags = parse_flags(sys.argv[1:], {"chat_server": None, "grpc_port": None, "http_port": None})
checks = Checks()
check = checks.check
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def http_get(path):
    connection = http.client.HTTPConnection("127.0.0.1", int(flags["http_port"]), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, json.loads(body)


server = subprocess.Popen([flags["chat_server"], "--embedded", "--listen", f"127.0.0.1:{flags['grpc_port']}",
                           "--http-listen", f"127.0.0.1:{flags['http_port']}", "--store", "none", "--log-level", "warning"])
try:
    channel = grpc.insecure_channel(f"127.0.0.1:{flags['grpc_port']}")
    stub = health_pb2_grpc.HealthStub(channel)
    deadline, status = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        try:
            status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
            if status == SERVING:
                break
        except grpc.RpcError:
            pass
        time.sleep(0.1)
    check("Check(\"\") is SERVING once the process is ready", status == SERVING, str(status))
    for name in ["gate.GateService", "verse.Admin", "grpc.health.v1.Health"]:  # what an embedded process hosts
        check(f"Check({name}) is SERVING", stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status == SERVING)
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=5)
        check("Check of an unknown service is NOT_FOUND", False, "it answered")
    except grpc.RpcError as error:
        check("Check of an unknown service is NOT_FOUND", error.code() == grpc.StatusCode.NOT_FOUND, str(error.code()))
    unknown = stub.Watch(health_pb2.HealthCheckRequest(service="no.Such"), timeout=5)
    check("Watch of an unknown service says SERVICE_UNKNOWN", next(unknown).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
    unknown.cancel()

    status_code, body = http_get("/healthz")
    check("GET /healthz is 200", status_code == 200 and body == {"status": "ok"}, f"{status_code} {body}")
    status_code, body = http_get("/ready")
    check("GET /ready is 200 while ready", status_code == 200 and body == {"status": "ready"}, f"{status_code} {body}")

    # Watch through a SIGTERM: NOT_SERVING arrives before the stream ends.
    seen = []
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))

    def follow():
        try:
            for response in watch:
                seen.append(response.status)
        except grpc.RpcError:
            pass

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:  # the stream's first answer, before the signal
        time.sleep(0.05)
    server.send_signal(signal.SIGTERM)
    follower.join(timeout=30)
    check("Watch: SERVING, then NOT_SERVING when the process begins to shut down", seen[:1] == [SERVING] and NOT_SERVING in seen,
          str(seen))
    server.wait(timeout=30)
finally:
    if server.poll() is None:
        server.kill()
checks.finish()
