#!/usr/bin/env bash
# A real chat cluster on loopback, in the foreground: etcd + 2 chat-server nodes + 1 gate
# on 127.0.0.1:48000 (or $GATE_PORT). Logs are prefixed by process; Ctrl-C stops all.
#   tools/cluster.sh BIN_DIR
set -uo pipefail
# shellcheck source=tools/ports.sh
source "$(dirname "$0")/ports.sh"
bin=${1:?usage: cluster.sh BIN_DIR}
gate_port=${GATE_PORT:-48000}
etcd_port=${ETCD_PORT:-23790}
node_ports=(${NODE_PORTS:-47011 47012})
work=$(mktemp -d)
pids=()
# Nodes take NodeService calls only with this; every process of the cluster gets it.
export SWIFTVERSE_CLUSTER_SECRET=${SWIFTVERSE_CLUSTER_SECRET:-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')}
stop() {
  trap - INT TERM EXIT
  echo "stopping the cluster..."
  for (( i=${#pids[@]}-1; i>=0; i-- )); do kill -TERM "${pids[$i]}" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap stop INT TERM EXIT

prefixed() { # prefixed NAME CMD...: run in the background, each output line prefixed
  local name=$1; shift
  "$@" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
}

prefixed etcd etcd --name swiftverse --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
  --initial-cluster "swiftverse=http://127.0.0.1:$((etcd_port + 1))" --log-level warn --logger zap
wait_port "$etcd_port" 50 || true
for i in "${!node_ports[@]}"; do
  prefixed "node$((i + 1))" "$bin/chat-server" --etcd "127.0.0.1:$etcd_port" --listen "127.0.0.1:${node_ports[$i]}"
done
prefixed gate "$bin/gate" --etcd "127.0.0.1:$etcd_port" --listen "127.0.0.1:$gate_port" --auth password \
  --allow-public ChatRoomMgr/ListChatRooms --allow ChatRoom/Join --allow ChatRoom/SendMessage \
  --allow ChatRoom/GetRecentMessages --allow ChatRoom/Leave
echo "cluster starting: gate on 127.0.0.1:$gate_port; try: $bin/chat --server 127.0.0.1:$gate_port --user alice"
wait -n "${pids[@]}"
echo "a cluster process exited"
