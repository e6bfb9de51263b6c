#!/usr/bin/env bash
# The README's test command: sets everything up, then lint, typecheck, tests, build, the
# benchmark smoke run and the reliability smoke run. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

bash scripts/setup.sh

step() {
  local name=$1
  shift
  local start=$SECONDS
  printf '\n\033[1m== %s\033[0m\n' "$name"
  "$@"
  printf '\033[1m== %s done in %ss\033[0m\n' "$name" $((SECONDS - start))
}

step lint pnpm lint
step typecheck pnpm typecheck
step test pnpm test
step build pnpm build
step "consumer check" bash scripts/consumer-check.sh
step "bench smoke" pnpm bench --smoke
# CI-sized reliability run (RELIABILITY.md): fuzzing, the kill -9 crash matrix, a soak, disk
# full; fails on a crash, a 5xx, a leak, lost or corrupt data.
step "reliability smoke" pnpm reliability --smoke
