#!/usr/bin/env bash
# Abuse with a good client alongside, against `chat-server --embedded`: HPACK bombs,
# PING floods, rapid reset, wrong passwords, oversized fields (abuse_probes.py); each
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
"$bin/chat-server" --embedded --listen "127.0.0.1:$port" --http-listen off --store none >"$log" 2>&1 & pids+=($!)
server_pid=$!
wait_for "$log" "chat service ready" || exit 1
run "abuse with a good client alongside, embedded" "$python" "$here/abuse_probes.py" --server_port="$port" --server_pid="$server_pid" \
  --p99_ms="${P99_MS:-250}" ${REPORT:+--report="$REPORT"}
echo "hardening: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
