#!/usr/bin/env bash
# The chat service end to end: grpcio client, two CLI processes on pseudo-terminals, and
# CLI reconnection, against `chat-server --embedded` and against a real cluster (etcd +
# 2 chat-server nodes + 1 gate, via tools/cluster.sh).  run-chat-tests.sh BIN_DIR PYTHON
set -uo pipefail
bin=${1:?usage: run-chat-tests.sh BIN_DIR PYTHON}
python=${2:?usage: run-chat-tests.sh BIN_DIR PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${stores:-}" ] && rm -rf "$stores"
}
trap cleanup EXIT
# shellcheck source=Tests/script-helpers.sh
source "$here/../script-helpers.sh"

# The embedded servers keep their rooms in SQLite files of their own (the default store).
stores=$(mktemp -d)
log=$(mktemp)
port=$(free_port)
"$bin/chat-server" --embedded --listen "127.0.0.1:$port" --http-listen off --store "sqlite:$stores/embedded.sqlite" >"$log" 2>&1 & pids+=($!)
wait_for "$log" "chat service ready" || exit 1
run "grpcio client, embedded" "$python" "$here/grpcio_chat.py" --server_port="$port"
run "two CLI users, embedded" "$python" "$here/cli_e2e.py" --chat="$bin/chat" --server_port="$port"
run "grpc.health.v1 and HTTP probes, embedded" "$python" "$here/grpcio_health.py" --chat_server="$bin/chat-server" \
  --grpc_port="$(free_port)" --http_port="$(free_port)"
run "server reflection (grpcio-reflection), embedded" "$python" "$here/grpcio_reflection.py" --chat_server="$bin/chat-server" \
  --grpc_port="$(free_port)"
SWIFTVERSE_STORE="sqlite:$stores/reconnect.sqlite" run "CLI reconnects, embedded" "$python" "$here/cli_reconnect.py" --chat="$bin/chat" --chat_server="$bin/chat-server" --port="$(free_port)"

certs=$(mktemp -d)
"$root/Tests/interop/make-test-certs.sh" "$certs"
tls_log=$(mktemp)
tls_port=$(free_port)
"$bin/chat-server" --embedded --listen "127.0.0.1:$tls_port" --http-listen off --store "sqlite:$stores/tls.sqlite" --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" \
  >"$tls_log" 2>&1 & pids+=($!)
wait_for "$tls_log" "chat service ready" || exit 1
run "CLI over TLS, embedded" "$python" "$here/cli_tls.py" --chat="$bin/chat" --server_port="$tls_port" --ca_file="$certs/ca.pem"

clog=$(mktemp)
gate_port=$(free_port) etcd_port=$(free_port)
HTTP_PORT=off GATE_PORT=$gate_port ETCD_PORT=$etcd_port ETCD_PEER_PORT=$(free_port) NODE_PORTS="$(free_port) $(free_port)" PG_PORT=$(free_port) \
  setsid "$root/tools/cluster.sh" "$bin" >"$clog" 2>&1 & pids+=($!)
wait_for "$clog" "\[gate\].*cluster ready" || exit 1
wait_for "$clog" "chat service ready" || exit 1
run "grpcio client, etcd cluster" "$python" "$here/grpcio_chat.py" --server_port="$gate_port"
run "two CLI users, etcd cluster" "$python" "$here/cli_e2e.py" --chat="$bin/chat" --server_port="$gate_port"
echo "chat: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
