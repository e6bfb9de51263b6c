// Loaded by pnpm for every command run in this workspace (`pnpm install`, `pnpm add`, `pnpm rebuild`,
// from scripts/setup.sh or by hand).
//
// Native dependencies without a reachable prebuilt binary (better-sqlite3 on a machine that
// reaches only the npm registry) compile with node-gyp, and node-gyp downloads the Node headers
// from the internet unless it is told where they are. Node's own packages (nodesource's .deb, the
// official tarballs, nvm) install them under `<prefix>/include/node`, next to `<prefix>/bin/node`.
// This hook points node-gyp there when the headers are present and match the running Node, so
// the build works offline and with a new HOME (no header cache in ~/.cache/node-gyp needed).
// Otherwise, or when the user configured `nodedir` themselves (.npmrc, npm_config_nodedir),
// nothing changes and node-gyp does what it does by default.
//
// pnpm passes `rawConfig` to lifecycle scripts as `npm_config_*` variables; it drops any
// `npm_*` variable from its own environment, so setting process.env here would not reach them.
// pnpm records this file's checksum in pnpm-lock.yaml: after editing it, run `pnpm install` and
// commit the lockfile, or `--frozen-lockfile` refuses to install.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/** `<prefix>` when `<prefix>/include/node/node_version.h` is the running Node's version. */
function installedNodeHeaders(execPath = process.execPath, version = process.version) {
  const prefix = path.dirname(path.dirname(execPath));
  let header;
  try {
    header = fs.readFileSync(path.join(prefix, 'include', 'node', 'node_version.h'), 'utf8');
  } catch {
    return undefined;
  }
  const part = (name) => header.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`))?.[1];
  const found = `v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
  return found === version ? prefix : undefined;
}

function updateConfig(config) {
  if (config.rawConfig && !config.rawConfig.nodedir) {
    const prefix = installedNodeHeaders();
    if (prefix) config.rawConfig.nodedir = prefix;
  }
  return config;
}

module.exports = { hooks: { updateConfig }, installedNodeHeaders };
