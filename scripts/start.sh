#!/usr/bin/env bash
# The README's main command: sets everything up, builds, and starts the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

bash scripts/setup.sh
pnpm build --output-logs=errors-only

# The workspace server with an embedded runtime and SQLite; extra arguments go to `runyard serve`
# (e.g. `bash scripts/start.sh --port 0 --workspace ~/notebooks`).
exec node apps/workspace-server/dist/cli.js serve "$@"
