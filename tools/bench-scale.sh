#!/usr/bin/env bash
# make bench-scale: many connected clients on one gate, each on its own TCP connection,
# a few of them chatting. Reports the gate's memory per connected client, CPU per
# delivery (user / system) and latency, with zero loss.
#   tools/bench-scale.sh RELEASE_BIN_DIR
# Env: CLIENTS (default 100000), ROOM_CLIENTS (default 1% of CLIENTS), SOURCES (local
# addresses the connections come from; default 127.0.0.2-127.0.0.9: one address has
# about 28,000 ephemeral ports towards the gate's port), DURATION (default 15),
# SERVER_FLAGS (more chat-server flags, e.g. "--hpack-table-size 0").
# Needs root or a hard open-file limit above 2 x CLIENTS (both ends of every
# connection are in this machine's processes).
set -uo pipefail
bin=${1:?usage: bench-scale.sh RELEASE_BIN_DIR}
clients=${CLIENTS:-100000}
room_clients=${ROOM_CLIENTS:-$((clients / 100))}
sources=${SOURCES:-"127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9"}
duration=${DURATION:-15}
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=tools/ports.sh
source "$(dirname "$0")/ports.sh"
# shellcheck source=tools/machine.sh
source "$(dirname "$0")/machine.sh"

# Each process holds one end of every connection (plus its own files). Past the hard
# open-file limit, and unable to raise it (that needs CAP_SYS_RESOURCE), measure as many
# clients as fit and say so: memory and CPU per client are what the run is for.
files=$((clients + 1000))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$files" ] && ! ulimit -Hn "$files" 2>/dev/null; then
  clients=$((hard - 1000)); files=$hard
  echo "note: the open-file hard limit is $hard and cannot be raised here (no CAP_SYS_RESOURCE): measuring $clients clients" >&2
  [ -n "${ROOM_CLIENTS:-}" ] || room_clients=$((clients / 100))
fi
ulimit -n "$files"
per_source=$(( (clients + $(wc -w <<<"$sources") - 1) / $(wc -w <<<"$sources") ))
ports=$(awk '{ print $2 - $1 + 1 }' /proc/sys/net/ipv4/ip_local_port_range)
[ "$per_source" -lt "$ports" ] || { echo "$per_source connections per source address, but only $ports ephemeral ports: add SOURCES" >&2; exit 1; }

pin_cpus
port=$(free_port)
$pin_server "$bin/chat-server" --embedded --listen "127.0.0.1:$port" --http-listen off --store none --log-level notice \
  --max-connections $((clients + 1000)) ${SERVER_FLAGS:-} >"$work/server.log" 2>&1 &
server_pid=$!
wait_port "$port" 300 || { echo "chat-server did not start:" >&2; tail -3 "$work/server.log" >&2; exit 1; }
sleep 1

source_flags=()
for source in $sources; do source_flags+=(--source "$source"); done
describe_machine
echo "scale: $clients clients on one gate, one connection each from ${sources// /, }; $room_clients of them in 5 rooms, 10 sending 10 msg/s${SERVER_FLAGS:+; chat-server $SERVER_FLAGS}"
$pin_load "$bin/chat-bench" --target "127.0.0.1:$port" --clients "$clients" --room-clients "$room_clients" --rooms 5 \
  --senders 10 --rate 10 --warmup 3 --duration "$duration" --drain 10 --server-pid "$server_pid" "${source_flags[@]}" \
  >"$work/report.txt" 2>"$work/bench.log"
rc=$?
grep "registered" "$work/bench.log"
cat "$work/report.txt"
[ $rc = 0 ] || { echo "chat-bench failed (exit $rc):" >&2; tail -5 "$work/bench.log" >&2; }
exit $rc
