#!/usr/bin/env bash
# make soak: SOAK_MINUTES (default 30) of mixed chat load with churn against
# chat-server --embedded (release build, rooms in SQLite), then the server's RSS, open
# descriptors and threads against the start.   tools/soak.sh RELEASE_BIN_DIR PYTHON
set -uo pipefail
bin=${1:?usage: soak.sh RELEASE_BIN_DIR PYTHON}
python=${2:?usage: soak.sh RELEASE_BIN_DIR PYTHON}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=Tests/script-helpers.sh
source "$root/Tests/script-helpers.sh"
port=$(free_port)
"$bin/chat-server" --embedded --listen "127.0.0.1:$port" --http-listen off --store "sqlite:$work/soak.sqlite" \
  --log-level notice >"$work/server.log" 2>&1 & pids+=($!)
server_pid=$!
wait_for "$work/server.log" "chat service ready" || exit 1
"$python" "$root/Tests/soak/soak.py" --server_port="$port" --server_pid="$server_pid" --minutes="${SOAK_MINUTES:-30}" \
  --churners="${SOAK_CHURNERS:-20}"
