# Helpers for the end-to-end test scripts (sourced; they set $python first).
# RUN_TIMEOUT: seconds one `run` may take.
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for LOG PATTERN, for up to two minutes (a loaded machine starts a cluster in seconds)
  for _ in $(seq 1 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1:" >&2; tail -20 "$1" >&2; return 1
}
passed=0 failed=0
run() { # run NAME CMD...: counts it passed or failed
  local name=$1; shift
  echo "== $name"
  if timeout "${RUN_TIMEOUT:-180}" "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "!! $name failed"; fi
}
