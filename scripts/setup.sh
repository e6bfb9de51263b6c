#!/usr/bin/env bash
# Installs everything Runyard needs on a fresh Debian machine that has only Node 20 and npm:
# the pinned pnpm (through npm: corepack's signature check fails against some registries),
# the Debian packages the runtime drives (ipykernel, venv, bubblewrap, git), and the
# workspace's dependencies. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

pnpm_version=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]; then
  log "installing pnpm@$pnpm_version with npm"
  npm install --global --no-fund --no-audit "pnpm@$pnpm_version" >/dev/null
fi

# Debian packages: each is checked by what it provides, not by dpkg name.
missing=()
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ipykernel' 2>/dev/null || missing+=(python3-ipykernel)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import jupyter_client' 2>/dev/null || missing+=(python3-jupyter-client)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
# nbformat's own validator checks the notebooks @runyard/notebook saves (its tests).
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import nbformat' 2>/dev/null || missing+=(python3-nbformat)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# A C++ toolchain for native dependencies that have no prebuilt binary for this platform
# (better-sqlite3 on a machine that cannot reach GitHub compiles with node-gyp).
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "missing Debian packages (run as root or install them): ${missing[*]}" >&2
  fi
fi

# node-gyp compiles against the headers Node's own package installed under <prefix>/include/node;
# .pnpmfile.cjs points it there (also for a `pnpm install` run by hand). Without them node-gyp
# downloads the headers from the internet, which a machine reaching only the registries cannot.
headers=$(node -e "process.stdout.write(require('./.pnpmfile.cjs').installedNodeHeaders() ?? '')")
if [ -n "$headers" ]; then
  log "native builds use the Node headers under $headers/include/node"
else
  log "no Node $(node --version) headers next to $(command -v node); node-gyp will download them if a native build is needed"
fi

log "installing workspace dependencies"
if [ "${CI:-}" = "true" ]; then
  pnpm install --frozen-lockfile --reporter=append-only
else
  pnpm install --reporter=append-only
fi
