#!/usr/bin/env bash
# The README's main command: sets everything up, builds, and starts the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

bash scripts/setup.sh
pnpm build --output-logs=errors-only

# The workspace server does not exist yet: list what was built.
printf '\nRunyard packages built:\n'
pnpm -r --silent exec node -e "const p=require('./package.json');console.log('  '+p.name.padEnd(32)+(p.description||''))"
