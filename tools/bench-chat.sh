#!/usr/bin/env bash
# make bench: the chat service's standard scenarios with chat-bench, one table.
#   tools/bench-chat.sh RELEASE_BIN_DIR
# Server processes on CPU 0, chat-bench on CPU 1 (when there are two). Each scenario
# is a fresh server. Env: QUICK=1 shortens every run (for a smoke test).
set -uo pipefail
bin=${1:?usage: bench-chat.sh RELEASE_BIN_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

if [ "${QUICK:-0}" = 1 ]; then duration=3 warmup=1 idle_clients=1000; else duration=15 warmup=3 idle_clients=10000; fi
# shellcheck source=tools/ports.sh
source "$(dirname "$0")/ports.sh"
# shellcheck source=tools/machine.sh
source "$(dirname "$0")/machine.sh"
warn_if_busy
pin_cpus
wait_for() { for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timeout: $2" >&2; tail "$1" >&2; return 1; }

# start_embedded [EXTRA FLAGS] -> sets $port and $server_pid
start_embedded() {
  port=$(free_port)
  $pin_server "$bin/chat-server" --embedded --listen "127.0.0.1:$port" --http-listen off --store none --log-level notice "$@" >"$work/server.log" 2>&1 &
  server_pid=$!; pids+=($server_pid)
  wait_port "$port" || true
  sleep 0.5
}
stop_pid() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
# commits LOG: the group-commit batch size, from the "object store: N writes carried M
# journal entries" lines the nodes log when they stop (summed over the nodes)
commits() {
  grep -o 'object store: [0-9]* writes carried [0-9]* journal entries' "$1" |
    awk '{ w += $3; e += $6 } END { if (w > 0) printf "  (store: %d messages and joins in %d commits: %.1f per commit)\n", e, w, e / w }'
}

# bench NAME ARGS... -> one table row from chat-bench --json
row() {
  local name=$1; shift
  local json
  json=$($pin_load "$bin/chat-bench" --json "$@" 2>"$work/$name.log")
  local rc=$?
  python3 - "$name" "$rc" "$json" <<'EOF'
import json, sys
name, rc, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    r = json.loads(text)
except Exception:
    print(f"{name:<22} failed (exit {rc})"); sys.exit(0)
lat, call = r.get("latency_ms", {}), r.get("call_latency_ms", {})
unit = r.get("server_cpu_us_per_unit")
rate = r["deliveries_per_second"] if r["workload"] == "chat" else r["calls_per_second"]
gaps = f" (seq gaps {r['seq_gaps']}: {r['seq_recovered']}/{r['seq_missing']} fetched back)" if r.get("seq_gaps") else ""
print(f"{name:<27} {r['clients']:>6} {r['calls_per_second']:>9.0f} {rate:>11.0f} {r['lost']:>5} "
      f"{call.get('p50', 0):>8.2f} {call.get('p99', 0):>8.2f} "
      f"{lat.get('p50', call.get('p50', 0)):>8.2f} {lat.get('p99', call.get('p99', 0)):>8.2f} "
      f"{(unit if unit is not None else float('nan')):>9.2f} {'ok' if rc == 0 else 'FAIL'}{gaps}")
EOF
}

describe_machine
printf '%-27s %6s %9s %11s %5s %8s %8s %8s %8s %9s %s\n' scenario clients calls/s deliv/s lost call_p50 call_p99 e2e_p50 e2e_p99 cpu_us/u ok

start_embedded
row "fanout (embedded)" --target "127.0.0.1:$port" --clients 1000 --rooms 5 --senders 10 --rate 10 \
  --warmup $warmup --duration $duration --drain 10 --server-pid $server_pid
stop_pid $server_pid

start_embedded
row "saturate (embedded)" --target "127.0.0.1:$port" --clients 100 --rooms 5 --senders 25 --closed-loop \
  --warmup $warmup --duration $duration --drain 10 --server-pid $server_pid
stop_pid $server_pid

# The same with the rooms in SQLite (every message written before it is acknowledged).
start_embedded --store "sqlite:$work/bench.sqlite"
row "fanout (emb., SQLite)" --target "127.0.0.1:$port" --clients 1000 --rooms 5 --senders 10 --rate 10 \
  --warmup $warmup --duration $duration --drain 10 --server-pid $server_pid
stop_pid $server_pid
commits "$work/server.log"
rm -f "$work"/bench.sqlite*

start_embedded --store "sqlite:$work/bench.sqlite"
row "saturate (emb., SQLite)" --target "127.0.0.1:$port" --clients 100 --rooms 5 --senders 25 --closed-loop \
  --warmup $warmup --duration $duration --drain 10 --server-pid $server_pid
stop_pid $server_pid
commits "$work/server.log"

start_embedded
row "unary calls (embedded)" --target "127.0.0.1:$port" --clients 64 --senders 64 --closed-loop --workload list \
  --warmup $warmup --duration $duration --drain 2 --server-pid $server_pid
stop_pid $server_pid

start_embedded --max-queued-push-bytes 1048576
row "slow consumers (emb.)" --target "127.0.0.1:$port" --clients 500 --rooms 5 --senders 5 --rate 100 --stall-clients 20 \
  --message-size 4000 --warmup $warmup --duration $duration --drain 10 --server-pid $server_pid
echo "  (gate: $(grep -c 'stopped reading its pushes' "$work/server.log") of 20 clients that stopped reading were disconnected)"
stop_pid $server_pid

# Idle memory twice: clients sharing connections (100 each), and one connection per
# client, where every connection's own state (nghttp2 session, buffers) counts too.
for per_connection in 100 1; do
  start_embedded
  echo
  echo "idle: $idle_clients registered clients ($per_connection per connection), server RSS:"
  $pin_load "$bin/chat-bench" --target "127.0.0.1:$port" --clients $idle_clients \
    --connections $((idle_clients / per_connection)) --senders 0 --idle --duration 3 --server-pid $server_pid 2>/dev/null
  stop_pid $server_pid
done

# A real cluster, all on the server CPU: etcd + 2 nodes + 2 gates with the users spread
# over both gates, the rooms in memory (server CPU summed over the 5 processes: against
# the embedded rows above, the cost of the extra hops); then etcd + 2 nodes + 1 gate with
# the rooms in PostgreSQL (its backends are not measured: no CPU figure). Fan-out, then
# saturation, on each.
echo
for store in none postgres; do
  label=$([ $store = none ] && echo "cluster, 2 gates" || echo "cluster, PG")
  gate_ports=$([ $store = none ] && echo "$(free_port) $(free_port)" || free_port)
  targets=(); for gate_port in $gate_ports; do targets+=(--target "127.0.0.1:$gate_port"); done
  STORE=$store HTTP_PORT=off GATE_PORTS="$gate_ports" PID_FILE="$work/cluster.pids" ETCD_PORT=$(free_port) ETCD_PEER_PORT=$(free_port) \
    NODE_PORTS="$(free_port) $(free_port)" PG_PORT=$(free_port) \
    setsid $pin_server "$root/tools/cluster.sh" "$bin" >"$work/cluster-$store.log" 2>&1 &
  cluster_pid=$!; pids+=($cluster_pid)
  ready=1
  for gate in $([ $store = none ] && echo "gate gate2" || echo gate); do
    wait_for "$work/cluster-$store.log" "\[$gate\].*cluster ready" || ready=0
  done
  if [ $ready = 1 ] && wait_for "$work/cluster-$store.log" "chat service ready"; then
    measured=()
    [ $store = none ] && for pid in $(cat "$work/cluster.pids"); do measured+=(--server-pid "$pid"); done
    row "fanout ($label)" "${targets[@]}" --clients 1000 --rooms 5 --senders 10 --rate 10 \
      --warmup $warmup --duration $duration --drain 10 "${measured[@]}"
    row "saturate ($label)" "${targets[@]}" --clients 100 --rooms 5 --senders 25 --closed-loop \
      --warmup $warmup --duration $duration --drain 10 "${measured[@]}"
  fi
  # cluster.sh stops its processes in order (their last log lines, the store's commit
  # counts, still pass through its log prefixers); the group goes only if it hangs.
  stop_pid $cluster_pid
  for _ in $(seq 1 100); do pgrep -g "$cluster_pid" >/dev/null || break; sleep 0.1; done
  kill -TERM -- -"$cluster_pid" 2>/dev/null
  commits "$work/cluster-$store.log"
done
echo
echo "call_*: SendMessage (or ListChatRooms) answered; e2e_*: send to push received, per receiver."
echo "cpu_us/u: server CPU microseconds per delivery (chat) or per call (unary); the 2-gate cluster's is summed over etcd, the nodes and the gates."
