#!/usr/bin/env bash
# A real chat cluster on loopback, in the foreground: etcd, PostgreSQL (the rooms' store),
# 2 chat-server nodes and 1 gate on 127.0.0.1:48000 (or $GATE_PORT). Logs are prefixed by
# process; Ctrl-C stops all. PostgreSQL refuses to run as root: it runs as `postgres`.
# STORE=none runs the nodes without a store (rooms in memory) and starts no PostgreSQL.
# GATE_PORTS="P1 P2 ..." runs a gate on each port instead (logs [gate], [gate2], ...).
# PID_FILE=path: the PIDs of etcd, the nodes and the gates are written there, one a line,
# once all are started (what a benchmark measures).
#   tools/cluster.sh BIN_DIR
set -uo pipefail
# shellcheck source=tools/ports.sh
source "$(dirname "$0")/ports.sh"
bin=${1:?usage: cluster.sh BIN_DIR}
gate_port=${GATE_PORT:-48000}
gate_ports=(${GATE_PORTS:-$gate_port})
http_port=${HTTP_PORT:-8080}  # the gate's HTTP API and web client; HTTP_PORT=off for none
web_root=$(cd "$(dirname "$0")/../Sources/ChatService/Web" && pwd)
etcd_port=${ETCD_PORT:-23790}
etcd_peer_port=${ETCD_PEER_PORT:-$((etcd_port + 1))}
node_ports=(${NODE_PORTS:-47011 47012})
pg_port=${PG_PORT:-25432}
work=$(mktemp -d)
# Its own folder: the server's user must be able to enter it.
pg=$(mktemp -d /tmp/swiftverse-pg.XXXXXX)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_postgres() { if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$pg"; runuser -u postgres -- "$@"; else "$@"; fi; }
pids=()
# Nodes take NodeService calls only with this; every process of the cluster gets it.
export SWIFTVERSE_CLUSTER_SECRET=${SWIFTVERSE_CLUSTER_SECRET:-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')}
stop() {
  trap - INT TERM EXIT
  echo "stopping the cluster..."
  for (( i=${#pids[@]}-1; i>=0; i-- )); do kill -TERM "${pids[$i]}" 2>/dev/null; done
  wait 2>/dev/null
  as_postgres "$pg_bin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$work" "$pg"
}
trap stop INT TERM EXIT

prefixed() { # prefixed NAME CMD...: run in the background, each output line prefixed
  local name=$1; shift
  "$@" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
}

prefixed etcd etcd --name swiftverse --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "swiftverse=http://127.0.0.1:$etcd_peer_port" --log-level warn --logger zap
wait_port "$etcd_port" 50 || true
if [ "${STORE:-postgres}" = none ]; then
  store=none
else
  as_postgres "$pg_bin/initdb" -D "$pg/data" --auth=trust -U postgres >"$pg/initdb.log" 2>&1 || { cat "$pg/initdb.log"; exit 1; }
  as_postgres "$pg_bin/pg_ctl" -D "$pg/data" -l "$pg/log" -w \
    -o "-p $pg_port -k $pg -c listen_addresses=127.0.0.1" start >/dev/null || { cat "$pg/log"; exit 1; }
  psql -h 127.0.0.1 -p "$pg_port" -U postgres -q -c "CREATE DATABASE swiftverse"
  store="postgres://postgres@127.0.0.1:$pg_port/swiftverse"
  echo "PostgreSQL on 127.0.0.1:$pg_port (the rooms' store: $store)"
fi
for i in "${!node_ports[@]}"; do
  prefixed "node$((i + 1))" "$bin/chat-server" --etcd "127.0.0.1:$etcd_port" --listen "127.0.0.1:${node_ports[$i]}" --store "$store"
done
for i in "${!gate_ports[@]}"; do
  # The first gate serves the HTTP API and web client.
  http_listen=$([ "$http_port" = off ] || [ "$i" -gt 0 ] && echo off || echo "127.0.0.1:$http_port")
  prefixed "gate$([ "$i" -gt 0 ] && echo $((i + 1)))" "$bin/gate" --etcd "127.0.0.1:$etcd_port" --listen "127.0.0.1:${gate_ports[$i]}" \
    --auth password --http-listen "$http_listen" --web-root "$web_root" \
    --allow-public ChatRoomMgr/ListChatRooms --allow ChatRoom/Join --allow ChatRoom/SendMessage \
    --allow ChatRoom/GetRecentMessages --allow ChatRoom/Leave
done
[ -z "${PID_FILE:-}" ] || printf '%s\n' "${pids[@]}" >"$PID_FILE"
echo "cluster starting: gates on ${gate_ports[*]/#/127.0.0.1:}; try: $bin/chat --server 127.0.0.1:${gate_ports[0]} --user alice"
[ "$http_port" = off ] || echo "web chat: http://127.0.0.1:$http_port/"
wait -n "${pids[@]}"
echo "a cluster process exited"
