#!/usr/bin/env bash
# make fuzz: libFuzzer on each fuzz target for FUZZ_SECONDS, starting from the committed
# seeds (Tests/Fuzz/corpus/<target>); what it learns goes to .build-fuzz/corpus/<target>.
# An input that crashes, leaks or hangs is saved under Tests/Fuzz/crashes/<target>/ (commit
# it: make test replays every one) and the run exits non-zero.
#   tools/fuzz.sh FUZZER_BINARY [SECONDS] [TARGET...]
set -uo pipefail
fuzzer=${1:?usage: fuzz.sh FUZZER_BINARY [SECONDS] [TARGET...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http2-server grpc-deframer client-messages)
root=$(cd "$(dirname "$0")/.." && pwd)
failed=()
for target in "${targets[@]}"; do
  work="$root/.build-fuzz/corpus/$target"
  crashes="$root/Tests/Fuzz/crashes/$target"
  mkdir -p "$work" "$crashes"
  log="$root/.build-fuzz/fuzz-$target.log"
  echo "== $target: ${seconds}s (log: $log)"
  VERSE_FUZZ_TARGET=$target "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$work" "$root/Tests/Fuzz/corpus/$target" >"$log" 2>&1
  status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" "$log" | sed 's/^/   /'
  if [ $status -ne 0 ]; then
    failed+=("$target")
    grep -E "ERROR|SUMMARY|Test unit written|==[0-9]+==" "$log" | head -5 | sed 's/^/   /'
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}: inputs under Tests/Fuzz/crashes/ (commit them; make test replays them)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no findings"
