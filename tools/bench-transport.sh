#!/usr/bin/env bash
# Transport benchmark: SwiftVerse's gRPC server against nghttpd (nghttp2's own C server,
# a static 16-byte file) under the same h2load load, plus SwiftVerse's own client, plus
# callgrind instruction counts per request. Server on CPU 0, load on CPU 1.
#   tools/bench-transport.sh RELEASE_BIN_DIR
# Env: N (h2load requests, default 200000), CG_N (requests under callgrind, default 3000),
#      CG_ONLY=1 (instruction counts only: repeatable on a busy machine, unlike the rest).
set -euo pipefail
bin=${1:?usage: bench-transport.sh RELEASE_BIN_DIR}
N=${N:-200000}
CG_N=${CG_N:-3000}
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

printf '\x00\x00\x00\x00\x00' > "$work/empty.req"        # UnaryCall with an empty SimpleRequest
mkdir -p "$work/root"; head -c 16 /dev/zero > "$work/root/small"
grpc_h2load=(-d "$work/empty.req" -H 'content-type: application/grpc' -H 'te: trailers')

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# shellcheck source=tools/ports.sh
source "$(dirname "$0")/ports.sh"
# shellcheck source=tools/machine.sh
source "$(dirname "$0")/machine.sh"
warn_if_busy
pin_cpus

# run_h2load NAME PID URL ARGS... -> prints a result row
run_h2load() {
  local name=$1 pid=$2 url=$3; shift 3
  local before after out rps
  before=$(cpu_ticks "$pid")
  out=$($pin_load h2load -n "$N" -c 16 -m 16 "$@" "$url" 2>&1)
  after=$(cpu_ticks "$pid")
  echo "$out" | grep -q "$N succeeded" || { echo "$out" >&2; echo "h2load against $name failed" >&2; exit 1; }
  rps=$(echo "$out" | sed -n 's/.*finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p')
  awk -v n="$name" -v r="$rps" -v t=$((after - before)) -v hz="$hz" -v N="$N" \
    'BEGIN { printf "%-44s %12.0f %14.2f\n", n, r, t / hz * 1e6 / N }'
}

if [ -z "${CG_ONLY:-}" ]; then
port_swift=$(free_port); port_nghttpd=$(free_port)
$pin_server "$bin/interop-server" --port $port_swift --log_level warning & pids+=($!); pid_swift=$!
$pin_server nghttpd --no-tls -d "$work/root" $port_nghttpd >/dev/null 2>&1 & pids+=($!); pid_nghttpd=$!
wait_port $port_swift; wait_port $port_nghttpd

describe_machine
echo "load: h2load -n $N -c 16 -m 16 (256 streams in flight) on CPU 1; servers on CPU 0"
printf '%-44s %12s %14s\n' "server / workload" "requests/s" "server CPU us"
run_h2load "nghttpd: GET 16-byte file" $pid_nghttpd "http://127.0.0.1:$port_nghttpd/small" | tee "$work/nghttpd.row"
run_h2load "SwiftVerse: UnaryCall (empty messages)" $pid_swift "http://127.0.0.1:$port_swift/grpc.testing.TestService/UnaryCall" "${grpc_h2load[@]}" | tee "$work/swift.row"
awk 'NR==FNR { base = $NF; next } { printf "ratio: SwiftVerse server CPU per call / nghttpd per request = %.2fx (aim: <= 2x)\n", $NF / base }' \
  "$work/nghttpd.row" "$work/swift.row"

echo
echo "SwiftVerse's own client (grpc-bench on CPU 1):"
for args in "--mode unary --connections 4 --concurrency 32 --count $N" \
            "--mode streaming --connections 1 --concurrency 4 --count $((N * 5)) --messages-per-call 10000 --response-size 16"; do
  before=$(cpu_ticks $pid_swift)
  # shellcheck disable=SC2086
  line=$($pin_load "$bin/grpc-bench" --port $port_swift $args)
  after=$(cpu_ticks $pid_swift)
  count=$(echo "$line" | sed -n 's/.*: \([0-9]*\) \(calls\|messages\) in.*/\1/p')
  echo "$line; server CPU $(awk -v t=$((after - before)) -v hz="$hz" -v c="$count" 'BEGIN { printf "%.2f", t / hz * 1e6 / c }') us each"
done

fi

echo
echo "callgrind instructions per request (server side; difference of two runs cancels startup):"
callgrind_total() { # callgrind_total OUTFILE -> total Ir
  sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$1" | head -1
}
measure_cg() { # measure_cg NAME REQUESTS PORT URL SERVER-CMD... -> total instructions
  local name=$1 requests=$2 port=$3 url=$4; shift 4
  local out="$work/cg.$name.$requests"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>&1 &
  local vpid=$!
  wait_port "$port" 900 || { echo "callgrind server $name did not start" >&2; exit 1; }
  sleep 1
  if [ "$name" != nghttpd ]; then
    h2load -n "$requests" -c 4 -m 16 "${grpc_h2load[@]}" "$url" >/dev/null 2>&1
  else
    h2load -n "$requests" -c 4 -m 16 "$url" >/dev/null 2>&1
  fi
  kill -TERM $vpid; wait $vpid 2>/dev/null || true
  callgrind_total "$out"
}
# valgrind 3.19 cannot read the DWARF 5 that Swift emits; symbols suffice for counting.
cp "$bin/interop-server" "$work/interop-server"; strip --strip-debug "$work/interop-server"
# swift-metrics: the same server recording its metrics in a Prometheus registry, as the
# runtime's servers do (the difference is what the metrics cost per call).
for name in nghttpd swift swift-metrics; do
  cg_port=$(free_port)
  if [ $name != nghttpd ]; then
    cmd=("$work/interop-server" --port "$cg_port" --log_level warning); url="http://127.0.0.1:$cg_port/grpc.testing.TestService/UnaryCall"
    [ $name = swift-metrics ] && cmd+=(--metrics)
  else
    cmd=(nghttpd --no-tls -d "$work/root" "$cg_port"); url="http://127.0.0.1:$cg_port/small"
  fi
  low=$(measure_cg $name "$CG_N" "$cg_port" "$url" "${cmd[@]}")
  high=$(measure_cg $name $((CG_N * 2)) "$cg_port" "$url" "${cmd[@]}")
  per=$(( (high - low) / CG_N ))
  echo "$name: $per instructions per request"
  echo "$per" > "$work/cg.$name"
done
awk 'NR==FNR { base = $1; next } { printf "ratio: SwiftVerse / nghttpd instructions per request = %.2fx\n", $1 / base }' "$work/cg.nghttpd" "$work/cg.swift"
echo "metrics recorded in Prometheus: $(( $(cat "$work/cg.swift-metrics") - $(cat "$work/cg.swift") )) instructions per request"
