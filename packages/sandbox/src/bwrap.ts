import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, normalize } from 'node:path';
import { SandboxError } from './errors.js';

export type SandboxMode = 'off' | 'auto' | 'required';

export interface BubblewrapDetection {
  /** True when `bwrap` exists and a trial sandbox with every namespace actually ran. */
  available: boolean;
  /** Absolute path of the `bwrap` found, if any. */
  path?: string;
  version?: string;
  /** Why it is unavailable: safe to log (no host paths). */
  reason?: string;
}

export interface DetectOptions {
  /** Use this binary instead of searching PATH. */
  bwrapPath?: string;
  /** Defaults to `process.env`; only PATH is read. */
  env?: Record<string, string | undefined>;
}

/**
 * The flags every sandbox uses; the trial run uses the same ones so detection is honest.
 * `--cap-drop ALL` matters when the runtime runs as root: bwrap then keeps every capability by
 * default, and a worker with CAP_SYS_ADMIN could simply unmount the tmpfs hiding the trust key.
 */
/** The read-only host root with fresh /proc, /dev and /tmp that every sandbox starts from. */
const ROOT_MOUNTS = ['--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp'];
const BASE_FLAGS = ['--unshare-all', '--die-with-parent', '--new-session', '--cap-drop', 'ALL'];

function findOnPath(name: string, pathVar: string | undefined): string | undefined {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Finds `bwrap` and proves it works here: in containers user or network namespaces are often
 * unavailable, in which case `bwrap` exists but every sandbox would fail to start.
 */
export function detectBubblewrap(options: DetectOptions = {}): BubblewrapDetection {
  const env = options.env ?? process.env;
  const path = options.bwrapPath ?? findOnPath('bwrap', env.PATH);
  if (!path) return { available: false, reason: 'bwrap not found on PATH' };
  const version = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (version.error || version.status !== 0) {
    return { available: false, path, reason: 'bwrap --version failed' };
  }
  const trial = spawnSync(path, [...ROOT_MOUNTS, ...BASE_FLAGS, '--', 'true'], {
    encoding: 'utf8',
    timeout: 10_000,
    env: { PATH: env.PATH ?? '/usr/bin:/bin' },
  });
  const versionText = version.stdout.trim().replace(/^bubblewrap\s+/, '');
  if (trial.error || trial.status !== 0) {
    const firstLine = (trial.stderr ?? '').split('\n')[0]?.replace(/^bwrap:\s*/, '') ?? '';
    // bwrap's own messages name syscalls (e.g. "No permissions to creating new namespace"),
    // not paths, but cut them short anyway.
    return {
      available: false,
      path,
      version: versionText,
      reason: `bwrap cannot create a sandbox here: ${firstLine.slice(0, 160) || `exit status ${String(trial.status)}`}`,
    };
  }
  return { available: true, path, version: versionText };
}

export interface SandboxDecision {
  sandboxed: boolean;
  bwrapPath?: string;
  /** Set when `auto` ran unsandboxed, for the runtime to log at startup. */
  notice?: string;
}

/**
 * The host's policy: `required` never silently downgrades; `auto` sandboxes when it can and
 * says so when it cannot.
 */
export function resolveSandboxMode(
  mode: SandboxMode,
  detection: BubblewrapDetection,
): SandboxDecision {
  if (mode === 'off') return { sandboxed: false };
  if (detection.available && detection.path) return { sandboxed: true, bwrapPath: detection.path };
  if (mode === 'required') {
    throw new SandboxError(
      'sandbox_unavailable',
      `sandbox is required but unavailable: ${detection.reason ?? 'bwrap does not work here'}`,
    );
  }
  return {
    sandboxed: false,
    notice: `running unsandboxed: ${detection.reason ?? 'bwrap unavailable'}`,
  };
}

export interface SandboxMount {
  /** Host-resolved real path; mounted at the same path inside. */
  path: string;
  readOnly?: boolean;
}

export type PathKind = 'dir' | 'file' | 'missing';

export interface BwrapSpec {
  /** `[file, ...args]` to run inside. */
  command: readonly string[];
  /** Read-write workspace (host-resolved real path). Alternative or addition to `mounts`. */
  workspace?: string;
  /** Granted mounts (`mount_grant`), read-write unless `readOnly`. */
  mounts?: readonly SandboxMount[];
  /** The environment in use (read-only), re-exposed even if it lives in a hidden cache dir. */
  envPrefix?: string;
  /** Read-write dir for ipc sockets and kernel connection files. */
  runtimeDir?: string;
  /** `none`: loopback only. `proxy`: loopback plus the egress proxy at 127.0.0.1:proxyPort. */
  network: 'none' | 'proxy';
  /** Unix socket of the egress proxy on the host (required with `network: 'proxy'`). */
  proxySocket?: string;
  /** Port of the in-sandbox forwarder to the proxy socket (default 3128). */
  proxyPort?: number;
  /** Dirs (covered by an empty tmpfs) or files (covered by /dev/null) the worker must not see. */
  hiddenPaths?: readonly string[];
  /** The only environment inside (`--clearenv` first). */
  env: Readonly<Record<string, string>>;
  /** Working directory inside (default: workspace, else first mount, else `/`). */
  cwd?: string;
  /** bwrap binary (default `bwrap`). */
  bwrapPath?: string;
  /** Node binary that runs the in-sandbox forwarder (default `process.execPath`). */
  nodePath?: string;
  /** Leave the host's /run visible (default: covered by an empty tmpfs). */
  keepRun?: boolean;
  /** How hidden paths are told apart; defaults to the real filesystem. */
  pathKind?: (path: string) => PathKind;
}

export const DEFAULT_PROXY_PORT = 3128;

/**
 * Runs inside the sandbox's own network namespace, where only loopback exists: listens on
 * 127.0.0.1:<port>, pipes each connection to the proxy's Unix socket (bound in from the host),
 * and only then starts the command, so the first request never races the listener.
 */
export const FORWARDER_SOURCE = `
const net = require('node:net');
const { spawn } = require('node:child_process');
const { constants } = require('node:os');
const [socketPath, port, file, ...args] = process.argv.slice(1);
const server = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.on('error', () => process.exit(125));
server.listen(Number(port), '127.0.0.1', () => {
  const child = spawn(file, args, { stdio: 'inherit' });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', () => process.exit(127));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] || 0)));
});
`;

/** `HTTP(S)_PROXY` in both spellings: curl reads only lowercase `http_proxy`. */
export function proxyEnvironment(proxyUrl: string): Record<string, string> {
  return {
    HTTP_PROXY: proxyUrl,
    HTTPS_PROXY: proxyUrl,
    http_proxy: proxyUrl,
    https_proxy: proxyUrl,
    NO_PROXY: '',
    no_proxy: '',
  };
}

function checkPath(path: string, what: string): string {
  if (
    typeof path !== 'string' ||
    !isAbsolute(path) ||
    path.includes('\0') ||
    normalize(path) !== path ||
    path.split('/').includes('..')
  ) {
    throw new SandboxError('invalid_sandbox_spec', `${what} must be a normalized absolute path`);
  }
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  if (trimmed === '/') throw new SandboxError('invalid_sandbox_spec', `${what} cannot be the root`);
  return trimmed;
}

function defaultPathKind(path: string): PathKind {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

function existsRun(spec: BwrapSpec): boolean {
  if (spec.keepRun) return false;
  return (spec.pathKind ?? defaultPathKind)('/run') === 'dir';
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface MountOp {
  path: string;
  /** Same-path ties: hidden goes last so hiding wins. */
  rank: number;
  args: string[];
}

/**
 * The full argv (`[bwrap, ...flags, '--', ...command]`) for one confined worker. Mounts are
 * applied shallow-to-deep, so the most specific rule wins: the env prefix inside a hidden cache
 * dir stays visible, a hidden dir inside the workspace stays hidden.
 */
export function buildBwrapArgv(spec: BwrapSpec): string[] {
  if (!Array.isArray(spec.command) || spec.command.length === 0 || !spec.command[0]) {
    throw new SandboxError('invalid_sandbox_spec', 'command must not be empty');
  }
  if (spec.command.some((part) => typeof part !== 'string' || part.includes('\0'))) {
    throw new SandboxError('invalid_sandbox_spec', 'command parts must be strings without NUL');
  }
  const pathKind = spec.pathKind ?? defaultPathKind;
  const ops: MountOp[] = [];
  const depth = (p: string) => p.split('/').length;

  for (const hidden of spec.hiddenPaths ?? []) {
    const path = checkPath(hidden, 'hidden path');
    const kind = pathKind(path);
    // Nothing to hide, and the read-only root stops the worker from creating it.
    if (kind === 'missing') continue;
    ops.push({
      path,
      rank: 2,
      args: kind === 'dir' ? ['--tmpfs', path] : ['--ro-bind', '/dev/null', path],
    });
  }
  if (spec.envPrefix) {
    const path = checkPath(spec.envPrefix, 'envPrefix');
    ops.push({ path, rank: 0, args: ['--ro-bind', path, path] });
  }
  const writable: SandboxMount[] = [];
  if (spec.workspace) writable.push({ path: spec.workspace });
  for (const mount of spec.mounts ?? []) writable.push(mount);
  if (spec.runtimeDir) writable.push({ path: spec.runtimeDir });
  for (const mount of writable) {
    const path = checkPath(mount.path, 'mount');
    ops.push({ path, rank: 1, args: [mount.readOnly ? '--ro-bind' : '--bind', path, path] });
  }
  const network = spec.network;
  if (network !== 'none' && network !== 'proxy') {
    throw new SandboxError('invalid_sandbox_spec', 'network must be none or proxy');
  }
  let proxySocket: string | undefined;
  if (network === 'proxy') {
    if (!spec.proxySocket) {
      throw new SandboxError('invalid_sandbox_spec', 'network proxy needs the proxy socket');
    }
    proxySocket = checkPath(spec.proxySocket, 'proxySocket');
    // Read-only is enough: connect(2) on a socket is not a write to the filesystem.
    ops.push({ path: proxySocket, rank: 3, args: ['--ro-bind', proxySocket, proxySocket] });
  }
  ops.sort((a, b) => depth(a.path) - depth(b.path) || a.rank - b.rank);

  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(name) || typeof value !== 'string' || value.includes('\0')) {
      throw new SandboxError('invalid_sandbox_spec', 'environment names must be identifiers');
    }
    env[name] = value;
  }
  const proxyPort = spec.proxyPort ?? DEFAULT_PROXY_PORT;
  if (!Number.isInteger(proxyPort) || proxyPort < 1 || proxyPort > 65_535) {
    throw new SandboxError('invalid_sandbox_spec', 'proxyPort must be a TCP port');
  }
  if (network === 'proxy') Object.assign(env, proxyEnvironment(`http://127.0.0.1:${proxyPort}`));

  const cwd =
    spec.cwd !== undefined
      ? checkPath(spec.cwd, 'cwd')
      : spec.workspace
        ? checkPath(spec.workspace, 'workspace')
        : spec.mounts?.[0]
          ? checkPath(spec.mounts[0].path, 'mount')
          : '/';

  const argv = [
    spec.bwrapPath ?? 'bwrap',
    ...ROOT_MOUNTS,
    // Host Unix sockets (docker, dbus, systemd) live under /run; connect(2) works even on a
    // read-only mount, so a read-only /run would still let a worker drive the host's daemons.
    ...(existsRun(spec) ? ['--tmpfs', '/run'] : []),
    ...ops.flatMap((op) => op.args),
    ...BASE_FLAGS,
    '--clearenv',
    ...Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value]),
    '--chdir',
    cwd,
    '--',
  ];
  if (network === 'proxy' && proxySocket) {
    argv.push(
      spec.nodePath ?? process.execPath,
      '-e',
      FORWARDER_SOURCE,
      '--',
      proxySocket,
      String(proxyPort),
      ...spec.command,
    );
  } else {
    argv.push(...spec.command);
  }
  return argv;
}
