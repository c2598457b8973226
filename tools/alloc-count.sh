#!/usr/bin/env bash
# Heap allocations per unary call and per push delivery, counted by valgrind's DHAT (every
# malloc, mimalloc's included): the server runs a small workload and one twice its size,
# and the difference of the two totals over the difference of the work cancels startup.
# Counts are the same run after run on any machine (unlike time), so a limit can hold.
#   tools/alloc-count.sh BIN_DIR                 prints "unary_call N" and "push_delivery N"
#   tools/alloc-count.sh BIN_DIR --check LIMITS  fails if a count is over its limit in
#                                                LIMITS (lines "name limit"; # comments)
# Unary: interop-server, UnaryCall with empty messages from h2load, one at a time (no
# batching). Delivery: chat-server --embedded (64 shards and a long lease: valgrind is slow),
# 40 clients in one room, 2 senders for 10 s
# at 1/s and at 2/s (the same time, so what timers allocate cancels; a push is out before
# the next, so each reaches its clients in flushes of its own)
# (each figure includes its share of the SendMessage call that caused the push).
set -uo pipefail
bin=${1:?usage: alloc-count.sh BIN_DIR [--check LIMITS]}
limits=""; [ "${2:-}" = "--check" ] && limits=${3:?--check needs a limits file}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tools/ports.sh
source "$(dirname "$0")/ports.sh"
command -v valgrind >/dev/null || { echo "valgrind is not installed (make deps)" >&2; exit 1; }
command -v h2load >/dev/null || { echo "h2load is not installed (make deps: nghttp2-client)" >&2; exit 1; }

# valgrind 3.19 cannot read the DWARF 5 that Swift emits; symbols suffice for counting.
for program in interop-server chat-server; do cp "$bin/$program" "$work/$program"; strip --strip-debug "$work/$program"; done
dhat=(valgrind --tool=dhat "--soname-synonyms=somalloc=*mimalloc*")
blocks() { sed -n 's/.*Total: .* in \([0-9,]*\) blocks.*/\1/p' "$1" | tr -d , | head -1; }

unary_blocks() { # REQUESTS -> total blocks allocated by the server
  local port log; port=$(free_port); log="$work/unary.$1.log"
  "${dhat[@]}" --dhat-out-file=/dev/null "$work/interop-server" --port "$port" --log_level warning >"$log" 2>&1 &
  # Each measurement runs in a subshell ($(...)): it ends its own server, on every exit.
  local vpid=$!; trap "kill -TERM $vpid 2>/dev/null" EXIT
  wait_port "$port" 900 || { echo "interop-server under DHAT did not start" >&2; exit 1; }
  sleep 1
  printf '\x00\x00\x00\x00\x00' >"$work/empty.req"
  h2load -n "$1" -c 1 -m 1 -d "$work/empty.req" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/grpc.testing.TestService/UnaryCall" | grep -q "$1 succeeded" || { echo "h2load failed" >&2; exit 1; }
  kill -TERM $vpid; wait $vpid 2>/dev/null
  blocks "$log"
}

delivery_run() { # RATE -> "blocks deliveries", or fails (the server too slow under valgrind)
  local port log json; port=$(free_port); log="$work/delivery.$1.log"
  "${dhat[@]}" --dhat-out-file=/dev/null "$work/chat-server" --embedded --listen "127.0.0.1:$port" --http-listen off \
    --store none --log-level info --lease-ttl 10 --shards 64 >"$log" 2>&1 &
  # Each measurement runs in a subshell ($(...)): it ends its own server, on every exit.
  local vpid=$!; trap "kill -TERM $vpid 2>/dev/null" EXIT
  for _ in $(seq 1 3000); do grep -q "chat service ready" "$log" && break; sleep 0.1; done
  grep -q "chat service ready" "$log" || { echo "chat-server under DHAT did not get ready:" >&2; grep -v "^==" "$log" | tail -3 >&2; kill -TERM $vpid; wait $vpid; return 1; }
  json=$("$bin/chat-bench" --json --target "127.0.0.1:$port" --clients 40 --rooms 1 --senders 2 --rate "$1" \
    --duration 10 --warmup 0 --drain 30 2>"$work/bench.log") || { echo "chat-bench failed:" >&2; tail -3 "$work/bench.log" >&2; }
  kill -TERM $vpid; wait $vpid 2>/dev/null
  [ -n "$json" ] || return 1
  # A lease that ran out under valgrind re-registers the node: work that is not the workload's.
  if grep -q "lease expired" "$log"; then echo "the server's lease ran out under valgrind" >&2; return 1; fi
  echo "$(blocks "$log") $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["delivered"], r["lost"])' "$json")"
}

delivery_blocks() { # RATE -> "blocks deliveries lost"; a run valgrind made too slow is run again (3 tries)
  for _ in 1 2 3; do delivery_run "$1" && return 0; echo "(trying again)" >&2; done
  echo "0 0 failed"
}

unary_figure() {
  local low high; low=$(unary_blocks 1000); high=$(unary_blocks 2000)
  awk -v l="$low" -v h="$high" 'BEGIN { printf "%.1f", (h - l) / 1000 }'
}

delivery_figure() {
  local low_blocks low_delivered low_lost high_blocks high_delivered high_lost
  read -r low_blocks low_delivered low_lost < <(delivery_blocks 1)
  read -r high_blocks high_delivered high_lost < <(delivery_blocks 2)
  [ "$low_lost" = 0 ] && [ "$high_lost" = 0 ] || { echo "deliveries lost under DHAT ($low_lost, $high_lost)" >&2; exit 1; }
  echo "(delivery runs: $low_blocks blocks for $low_delivered deliveries, $high_blocks for $high_delivered)" >&2
  awk -v l="$low_blocks" -v h="$high_blocks" -v a="$low_delivered" -v b="$high_delivered" 'BEGIN { printf "%.1f", (h - l) / (b - a) }'
}

unary=$(unary_figure)
delivery=$(delivery_figure)
echo "unary_call $unary"
echo "push_delivery $delivery"

[ -n "$limits" ] || exit 0
status=0
for measured in "unary_call $unary" "push_delivery $delivery"; do
  read -r name value <<<"$measured"
  limit=$(awk -v n="$name" '$1 == n { print $2 }' "$limits")
  [ -n "$limit" ] || { echo "no limit for $name in $limits" >&2; status=1; continue; }
  # Other work only adds (a timer, a re-registration under valgrind's slowness): a count
  # over the limit is measured again, and fails only if that one is over too.
  if awk -v v="$value" -v l="$limit" 'BEGIN { exit !(v > l) }'; then
    again=$([ "$name" = unary_call ] && unary_figure || delivery_figure)
    echo "($name: $value over $limit; measured again: $again)"
    value=$(awk -v a="$value" -v b="$again" 'BEGIN { print (a < b ? a : b) }')
  fi
  if awk -v v="$value" -v l="$limit" 'BEGIN { exit !(v > l) }'; then
    echo "FAIL $name: $value allocations, over the limit of $limit ($limits): find the new allocation, or raise the limit with a reason"
    status=1
  elif awk -v v="$value" -v l="$limit" 'BEGIN { exit !(v < l - 2) }'; then
    echo "ok   $name: $value allocations, well under the limit of $limit: lower the limit in $limits to keep the gain"
  else
    echo "ok   $name: $value allocations (limit $limit)"
  fi
done
exit $status
