#!/usr/bin/env bash
# The web chat client in headless Chromium (and Firefox), beside CLI users, and the HTTP API's bad
# inputs: against `chat-server --embedded` (which web_chat.py starts and restarts
# itself), then against a real cluster (etcd + 2 nodes + 2 gates: browsers on one gate's
# HTTP port, the CLI on the other gate).  run-web-tests.sh BIN_DIR PYTHON
set -uo pipefail
bin=${1:?usage: run-web-tests.sh BIN_DIR PYTHON}
python=${2:?usage: run-web-tests.sh BIN_DIR PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${WEB_TEST_OUTPUT:-$root/.build/test-output/web}
mkdir -p "$out"
pids=()
work=$(mktemp -d)
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=Tests/script-helpers.sh
source "$here/../script-helpers.sh"
RUN_TIMEOUT=600

run "web client and HTTP API, embedded" "$python" "$here/web_chat.py" --mode=embedded --chat="$bin/chat" \
  --chat_server="$bin/chat-server" --http_port="$(free_port)" --grpc_port="$(free_port)" \
  --store="sqlite:$work/web.sqlite" --screenshots="$out" --log="$out/embedded-server.log"

# Firefox (Marionette) beside a CLI user, on a server of its own.
ff_http=$(free_port) ff_grpc=$(free_port)
"$bin/chat-server" --embedded --listen "127.0.0.1:$ff_grpc" --http-listen "127.0.0.1:$ff_http" --store none \
  >"$out/firefox-server.log" 2>&1 & pids+=($!)
if wait_for "$out/firefox-server.log" "chat service ready"; then
  run "web client in Firefox, embedded" "$python" "$here/firefox_chat.py" --chat="$bin/chat" --http_port="$ff_http" \
    --grpc_port="$ff_grpc" --screenshots="$out"
else
  failed=$((failed + 1))
fi

"$root/Tests/interop/make-test-certs.sh" "$work/certs"
run "web client and HTTP API over HTTPS, embedded" "$python" "$here/web_chat.py" --mode=https --chat="$bin/chat" \
  --chat_server="$bin/chat-server" --http_port="$(free_port)" --grpc_port="$(free_port)" \
  --store="sqlite:$work/https.sqlite" --tls_dir="$work/certs" --screenshots="$out" --log="$out/https-server.log"

# A cluster; a second gate for the CLI users (the same cluster secret and allow-list).
export SWIFTVERSE_CLUSTER_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
clog="$out/cluster.log"
gate_port=$(free_port) etcd_port=$(free_port) http_port=$(free_port) cli_gate=$(free_port)
STORE=none HTTP_PORT=$http_port GATE_PORT=$gate_port ETCD_PORT=$etcd_port ETCD_PEER_PORT=$(free_port) NODE_PORTS="$(free_port) $(free_port)" \
  setsid "$root/tools/cluster.sh" "$bin" >"$clog" 2>&1 & pids+=($!)
if wait_for "$clog" "\[gate\].*cluster ready" && wait_for "$clog" "chat service ready"; then
  "$bin/gate" --etcd "127.0.0.1:$etcd_port" --listen "127.0.0.1:$cli_gate" --auth password --http-listen off \
    --allow-public ChatRoomMgr/ListChatRooms --allow ChatRoom/Join --allow ChatRoom/SendMessage \
    --allow ChatRoom/GetRecentMessages --allow ChatRoom/Leave >"$out/cli-gate.log" 2>&1 & pids+=($!)
  wait_for "$out/cli-gate.log" "cluster ready" &&
    run "web client beside the CLI, etcd cluster" "$python" "$here/web_chat.py" --mode=cluster --chat="$bin/chat" \
      --http_port="$http_port" --grpc_port="$cli_gate" --screenshots="$out"
  # A third node, killed by the cluster page's test.
  node3=$(free_port)
  "$bin/chat-server" --etcd "127.0.0.1:$etcd_port" --listen "127.0.0.1:$node3" --store none --lease-ttl 2 \
    >"$out/node3.log" 2>&1 & node3_pid=$!; pids+=($node3_pid)
  run "the cluster page, a node killed" "$python" "$here/cluster_page.py" --http_port="$http_port" --victim_pid="$node3_pid" \
    --victim="127.0.0.1:$node3" --screenshots="$out"
else
  failed=$((failed + 1))
fi
echo "screenshots and logs: $out"
echo "web: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
