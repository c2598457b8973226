# Sourced by the benchmark scripts: is the machine quiet enough to measure on?

# busy_percent [SECONDS]: share of all CPUs busy over SECONDS (default 1), from /proc/stat.
busy_percent() {
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep "${1:-1}"
  read -r -a b < <(grep '^cpu ' /proc/stat)
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# warn_if_busy: prints a warning when foreign load would skew the figures.
warn_if_busy() {
  local busy
  busy=$(busy_percent 1)
  if [ "$busy" -gt 10 ]; then
    echo "warning: ${busy}% of the CPUs were busy before this run (foreign load): the figures below are not comparable" >&2
  else
    echo "background load before the run: ${busy}% of the CPUs"
  fi
}

# pin_cpus: sets pin_server and pin_load, the taskset prefixes that keep the server on
# CPU 0 and the load on CPU 1 so neither steals the other's time (empty on one CPU).
pin_cpus() {
  if [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0" pin_load="taskset -c 1"; else pin_server="" pin_load=""; fi
}

# describe_machine: the line every report starts with.
describe_machine() { echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"; }
