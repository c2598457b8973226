#!/usr/bin/env bash
# Abuse with a good client alongside, against `chat-server --embedded` (small budgets):
# HPACK bombs, PING floods, rapid reset, unread pushes (one connection, 40 connections),
# slowloris, too many connections, wrong passwords, oversized fields (abuse_probes.py); each
# must get its defined answer while the good client loses nothing.
#   run-hardening-tests.sh BIN_DIR PYTHON   (P99_MS: the good client's bound, default 250)
set -uo pipefail
bin=${1:?usage: run-hardening-tests.sh BIN_DIR PYTHON}
python=${2:?usage: run-hardening-tests.sh BIN_DIR PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
# shellcheck source=Tests/script-helpers.sh
source "$here/../script-helpers.sh"

log=$(mktemp)
port=$(free_port)
http_port=$(free_port)
# Small budgets, so the probes reach them quickly: 64 MiB of queued pushes for the whole
# process, 300 connections, 2 s for an HTTP head.
"$bin/chat-server" --embedded --listen "127.0.0.1:$port" --http-listen "127.0.0.1:$http_port" --store none \
  --max-queued-bytes $((64 << 20)) --max-connections 300 --http-idle-timeout 2 >"$log" 2>&1 & pids+=($!)
server_pid=$!
wait_for "$log" "chat service ready" || exit 1
run "abuse with a good client alongside, embedded" "$python" "$here/abuse_probes.py" --server_port="$port" --server_pid="$server_pid" \
  --http_port="$http_port" --max_connections=300 --process_budget_mib=64 --idle_timeout=2 --p99_ms="${P99_MS:-250}" ${REPORT:+--report="$REPORT"}
echo "hardening: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
