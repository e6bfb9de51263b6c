#!/usr/bin/env bash
# Proves other teams can consume Runyard's packages: packs every public package (after
# `pnpm build`), installs the tarballs with npm (not the workspace's pnpm) into a project outside
# the workspace, type-checks scripts/consumer/consumer.ts against them with a strict tsconfig and
# skipLibCheck off (a declaration that needs types the packages do not bring fails here), then
# runs it. Finally `pnpm publish --dry-run` for every public package.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/runyard-consumer.XXXXXX")
[ -n "${KEEP_CONSUMER:-}" ] && echo "work dir: $work" || trap 'rm -rf "$work"' EXIT
# npm compiles better-sqlite3 here; point node-gyp at the running node's installed headers so it
# never downloads them (only package registries are reachable).
prefix=$(dirname "$(dirname "$(node -p process.execPath)")")
[ -f "$prefix/include/node/node_version.h" ] && export npm_config_nodedir="$prefix"

mkdir -p "$work/tarballs" "$work/app"
deps=()
for dir in packages/* apps/*; do
  [ -f "$dir/package.json" ] || continue
  node -e 'process.exit(require(process.argv[1]).private ? 1 : 0)' "$root/$dir/package.json" || continue
  name=$(node -p 'require(process.argv[1]).name' "$root/$dir/package.json")
  tarball=$(cd "$dir" && pnpm pack --pack-destination "$work/tarballs" | tail -n 1)
  deps+=("\"$name\": \"file:$tarball\"")
done

typescript=$(node -p 'require("./node_modules/typescript/package.json").version')
types_node=$(node -p 'require("./node_modules/@types/node/package.json").version')
{
  printf '{\n  "name": "runyard-consumer",\n  "private": true,\n  "type": "module",\n'
  printf '  "dependencies": {\n    %s\n  },\n' "$(IFS=,; echo "${deps[*]}" | sed 's/,/,\n    /g')"
  printf '  "devDependencies": { "typescript": "%s", "@types/node": "%s" }\n}\n' "$typescript" "$types_node"
} >"$work/app/package.json"
cp scripts/consumer/consumer.ts scripts/consumer/tsconfig.json "$work/app/"

cd "$work/app"
npm install --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null
# skipLibCheck is off so the compiler reads every declaration file; third-party declarations have
# errors of their own (drizzle-orm's optional drivers), so only errors in Runyard's declarations or
# in the consumer fail the check.
npx --no-install tsc -p tsconfig.json >"$work/tsc.log" 2>&1 || true
if grep -E '^(node_modules/@runyard/|consumer\.ts)' "$work/tsc.log"; then
  echo "consumer check: Runyard's declarations or the consumer do not type-check (above)" >&2
  exit 1
fi
# What a consumer with the usual skipLibCheck builds and runs.
npx --no-install tsc -p tsconfig.json --skipLibCheck true
node dist/consumer.js

cd "$root"
pnpm -r --filter './packages/*' --filter './apps/*' publish --dry-run --no-git-checks >"$work/publish.log" 2>&1 ||
  { cat "$work/publish.log"; exit 1; }
echo "publish --dry-run: $(grep -c 'Tarball Details' "$work/publish.log" || true) packages"
