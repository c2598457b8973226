#!/usr/bin/env bash
# The gRPC interop cases between SwiftVerse and Python grpcio, both directions,
# cleartext and TLS:  run-interop.sh BIN_DIR PYTHON
#   our interop-server  <- grpcio client      (h2c, TLS)
#   grpcio server       <- our interop-client (h2c, TLS)
#   bad_input.py (h2 + raw sockets) -> our interop-server
# Each pair runs every case; the last line counts pairs passed and failed.
set -uo pipefail
bin=${1:?usage: run-interop.sh BIN_DIR PYTHON}
python=${2:?usage: run-interop.sh BIN_DIR PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$here/make-test-certs.sh" "$work/certs"
# Our binaries take --use_tls bare, as the reference interop binaries do; the Python
# peers take --use_tls=true.
tls_server=(--tls_cert_file="$work/certs/server.pem" --tls_key_file="$work/certs/server.key")
tls_client=(--ca_file="$work/certs/ca.pem" --server_host_override=foo.test.google.fr)

# Starts a server in the background (not in a subshell, so its PID is remembered for
# cleanup) and sets $port to the port it printed.
start() {
  local log=$1 pattern=$2; shift 2
  "$@" >"$log" 2>&1 &
  pids+=($!)
  port=
  for _ in $(seq 1 600); do # up to a minute
    port=$(sed -n "s/$pattern/\\1/p" "$log" | head -1)
    if [ -n "$port" ]; then return 0; fi
    sleep 0.1
  done
  echo "server did not start: $*" >&2; cat "$log" >&2
  exit 1
}

start "$work/swift.log" '.*listening on 127.0.0.1:\([0-9]*\).*' "$bin/interop-server" --port=0; swift_port=$port
start "$work/swift-tls.log" '.*listening on 127.0.0.1:\([0-9]*\).*' "$bin/interop-server" --port=0 --use_tls "${tls_server[@]}"; swift_tls_port=$port
start "$work/py.log" 'listening on \([0-9]*\)' "$python" "$here/py_interop_server.py" --port=0; py_port=$port
start "$work/py-tls.log" 'listening on \([0-9]*\)' "$python" "$here/py_interop_server.py" --port=0 --use_tls=true "${tls_server[@]}"; py_tls_port=$port

passed=0 failed=0
pair() {
  local name=$1; shift
  echo "== $name"
  if timeout 120 "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "!! $name failed"; fi
}
pair "grpcio client -> SwiftVerse server (h2c)" "$python" "$here/py_interop_client.py" --server_port="$swift_port" --test_case=all
pair "grpcio client -> SwiftVerse server (TLS)" "$python" "$here/py_interop_client.py" --server_port="$swift_tls_port" --test_case=all --use_tls=true "${tls_client[@]}"
# grpcio's Python server cannot tell a compressed request from another, so it cannot
# answer the client-compressed cases' probe: all_noprobe runs those without it.
pair "SwiftVerse client -> grpcio server (h2c)" "$bin/interop-client" --server_port="$py_port" --test_case=all_noprobe
pair "SwiftVerse client -> grpcio server (TLS)" "$bin/interop-client" --server_port="$py_tls_port" --test_case=all_noprobe --use_tls "${tls_client[@]}"
pair "SwiftVerse client -> SwiftVerse server (h2c)" "$bin/interop-client" --server_port="$swift_port" --test_case=all
pair "SwiftVerse client -> SwiftVerse server (TLS)" "$bin/interop-client" --server_port="$swift_tls_port" --test_case=all --use_tls "${tls_client[@]}"
pair "bad input -> SwiftVerse server, with a well-behaved client alongside" "$python" "$here/bad_input.py" --server_port="$swift_port"
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
