#!/usr/bin/env bash
# Instructions per push delivery (callgrind): chat-server --embedded under the fan-out
# workload, once for CG_SECONDS and once for twice as long; the difference of the
# server's instruction totals over the difference of deliveries cancels startup and
# registration. Repeatable on a busy machine, unlike CPU time.
#   tools/bench-delivery-cg.sh RELEASE_BIN_DIR [LABEL=FLAGS...]
# Each LABEL=FLAGS is a server variant ("metrics=" and "no-metrics=--no-metrics" when
# none are given). Each variant runs REPEAT pairs (default 3), one after the other, and
# reports each and their median: time-driven work (timers, a stall) lands in a pair now
# and then, and shows as an outlier. Env: CG_CLIENTS (200 in one room), CG_SENDERS (2),
# CG_RATE (2 per second per sender), CG_SECONDS (10).
set -uo pipefail
bin=${1:?usage: bench-delivery-cg.sh RELEASE_BIN_DIR [LABEL=FLAGS...]}; shift
variants=("$@"); [ ${#variants[@]} -gt 0 ] || variants=("metrics=" "no-metrics=--no-metrics")
repeat=${REPEAT:-3} clients=${CG_CLIENTS:-200} senders=${CG_SENDERS:-2} rate=${CG_RATE:-2} seconds=${CG_SECONDS:-10}
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=tools/ports.sh
source "$(dirname "$0")/ports.sh"
command -v valgrind >/dev/null || { echo "valgrind is not installed (make deps)" >&2; exit 1; }

# valgrind 3.19 cannot read the DWARF 5 that Swift emits; symbols suffice for counting.
cp "$bin/chat-server" "$work/chat-server"; strip --strip-debug "$work/chat-server"

# run FLAGS SECONDS -> "instructions deliveries"
run() {
  local flags=$1 duration=$2 port out json
  port=$(free_port); out="$work/cg.$port"
  # shellcheck disable=SC2086
  valgrind --tool=callgrind --callgrind-out-file="$out" "$work/chat-server" --embedded --listen "127.0.0.1:$port" \
    --http-listen off --store none --log-level warning $flags >"$work/server.log" 2>&1 &
  local vpid=$!; pids+=($vpid)
  wait_port "$port" 900 || { echo "chat-server under callgrind did not start" >&2; tail "$work/server.log" >&2; exit 1; }
  sleep 2
  json=$("$bin/chat-bench" --json --target "127.0.0.1:$port" --clients "$clients" --rooms 1 --senders "$senders" \
    --rate "$rate" --duration "$duration" --warmup 2 --drain 20 2>"$work/bench.log") ||
    { echo "chat-bench failed:" >&2; tail -5 "$work/bench.log" >&2; exit 1; }
  kill -TERM $vpid; wait $vpid 2>/dev/null
  local total; total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out" | head -1)
  echo "$total $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["delivered"], r["lost"])' "$json")"
}

echo "callgrind instructions per delivery (chat-server --embedded, $clients clients in one room, $senders senders at $rate/s):"
for variant in "${variants[@]}"; do
  label=${variant%%=*} flags=${variant#*=}
  figures=()
  for _ in $(seq 1 "$repeat"); do
    read -r low_ir low_delivered low_lost < <(run "$flags" "$seconds")
    read -r high_ir high_delivered high_lost < <(run "$flags" $((seconds * 2)))
    [ "$low_lost" = 0 ] && [ "$high_lost" = 0 ] || { echo "$label: deliveries lost ($low_lost, $high_lost)" >&2; exit 1; }
    figures+=($(( (high_ir - low_ir) / (high_delivered - low_delivered) )))
  done
  median=$(printf '%s\n' "${figures[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  echo "$label: $median instructions per delivery (median of ${figures[*]})"
done
