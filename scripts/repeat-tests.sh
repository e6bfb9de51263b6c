#!/usr/bin/env bash
# Runs the whole test suite N times back to back (default 5) and reports every failure, so a
# flaky test shows up before a new user meets it. Usage: bash scripts/repeat-tests.sh [N]
# Each run's full output is kept under the printed log directory; the exit code is 1 when any
# run failed. Run it on a machine the size of the smallest one you support (2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

runs=${1:-5}
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bash scripts/repeat-tests.sh [N]   (N >= 1, default 5)" >&2
  exit 2
fi
logs=$(mktemp -d "${TMPDIR:-/tmp}/runyard-repeat-XXXXXX")
failed=0
echo "running pnpm test $runs times; logs in $logs"
for i in $(seq 1 "$runs"); do
  start=$SECONDS
  if pnpm test >"$logs/run-$i.log" 2>&1; then
    echo "run $i/$runs: ok ($((SECONDS - start))s)"
  else
    failed=$((failed + 1))
    echo "run $i/$runs: FAILED ($((SECONDS - start))s) — $logs/run-$i.log"
    # Vitest marks each failing test with ×/FAIL; turbo names the failing package task.
    sed 's/\x1b\[[0-9;]*m//g' "$logs/run-$i.log" | grep -E '(FAIL|×) |ERR_PNPM|Failed:' |
      sort -u | head -40 | sed 's/^/    /'
  fi
done
if [ "$failed" -eq 0 ]; then
  echo "all $runs runs passed"
else
  echo "$failed of $runs runs failed"
  exit 1
fi
