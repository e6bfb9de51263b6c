import { randomBytes } from 'node:crypto';
import { accessSync, constants, readdirSync, realpathSync, rmdirSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { LaunchKernelOptions } from '@runyard/kernels';
import { RuntimeError } from '@runyard/runtime-registry';
import {
  type BubblewrapDetection,
  buildBwrapArgv,
  detectBubblewrap,
  resolveSandboxMode,
  SandboxError,
  type SandboxMode,
  type SandboxMount,
} from '@runyard/sandbox';
import type { PreparedEnv } from './environments.js';

const probes = new Map<string, BubblewrapDetection>();

/**
 * Probes bubblewrap once per binary per process: the trial sandbox costs a couple of spawns and
 * its answer does not change while the process lives.
 */
export function probeBubblewrap(
  bwrapPath: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): BubblewrapDetection {
  const key = bwrapPath === undefined ? `PATH=${env.PATH ?? ''}` : `bin=${bwrapPath}`;
  let detection = probes.get(key);
  if (!detection) {
    detection = detectBubblewrap({ ...(bwrapPath === undefined ? {} : { bwrapPath }), env });
    probes.set(key, detection);
  }
  return detection;
}

export function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);
}

/** The file a command name runs, looked up on `path` like execvp does (relative to `cwd`). */
function onPath(program: string, path: string, cwd?: string): string | undefined {
  if (program.includes('/')) {
    const file = isAbsolute(program) ? program : cwd ? join(cwd, program) : undefined;
    if (!file) return undefined;
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile() ? file : undefined;
    } catch {
      return undefined;
    }
  }
  for (const dir of path.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, program);
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
 * Where a command worker's program comes from, which decides whether the sandbox may mount
 * anything to make it runnable:
 * - `host`: found through the host's `PATH` in a directory outside the workspace, or an absolute
 *   path the configuration names outside the workspace. Its installation prefix may be exposed
 *   read-only (pyenv's python, nvm's node under the hidden home).
 * - `workspace`: a path into the workspace (`./npc`, `bin/tool`, or a `PATH` hit in a workspace
 *   directory). Run from the workspace as it is; nothing is ever mounted for it. A symlink there
 *   whose target leaves the workspace is refused (`path_outside_workspace`).
 * - `missing`: nothing there (the command fails as `command_not_found`).
 *
 * Why mounts never depend on workspace content: the workspace is hostile, and a kernel or
 * another worker can re-point a link between this check and bwrap's `execvp`. Because a
 * `workspace` program gets no mounts, such a swap only reaches what the sandbox already shows
 * (a hidden directory stays an empty tmpfs inside); the refusal of a leaving link is a clear,
 * typed answer, not the defence.
 */
export type ProgramSource =
  | { kind: 'host'; file: string }
  | { kind: 'workspace' }
  | { kind: 'missing' };

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function realOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Classifies `program` (a worker's `argv[0]`) as the sandbox will run it from `cwd`.
 * `workspaceRoot` is a real path. Throws `path_outside_workspace` for a workspace program whose
 * path or link leaves the workspace.
 */
export function programSource(
  program: string,
  options: { cwd: string; workspaceRoot: string; hostPath: string },
): ProgramSource {
  const { workspaceRoot } = options;
  const inWorkspace = (file: string): ProgramSource => {
    const real = realOrUndefined(file);
    if (real === undefined || !isExecutableFile(real)) return { kind: 'missing' };
    if (!isInside(real, workspaceRoot)) {
      throw new RuntimeError(
        'path_outside_workspace',
        "The worker's program is a link that leaves the workspace; name it through PATH instead",
      );
    }
    return { kind: 'workspace' };
  };
  if (program.includes('/')) {
    const file = resolve(options.cwd, program);
    // The directory it is named through decides, lexically and after resolving its links.
    const dir = realOrUndefined(dirname(file)) ?? dirname(file);
    if (isInside(file, workspaceRoot) || isInside(dir, workspaceRoot)) return inWorkspace(file);
    if (!isAbsolute(program)) {
      // `../..` out of the workspace from a relative name: not configuration, not workspace.
      throw new RuntimeError(
        'path_outside_workspace',
        "The worker's program is a relative path that leaves the workspace",
      );
    }
    return isExecutableFile(file) ? { kind: 'host', file } : { kind: 'missing' };
  }
  for (const dir of options.hostPath.split(delimiter)) {
    // A relative PATH entry resolves against the cwd, i.e. the workspace: execvp inside would
    // find it there too, so it is a workspace program.
    const base = isAbsolute(dir) ? dir : resolve(options.cwd, dir || '.');
    const candidate = join(base, program);
    if (!isExecutableFile(candidate)) continue;
    const realDir = realOrUndefined(base) ?? base;
    if (!isAbsolute(dir) || isInside(base, workspaceRoot) || isInside(realDir, workspaceRoot))
      return inWorkspace(candidate);
    return { kind: 'host', file: candidate };
  }
  return { kind: 'missing' };
}

export interface RuntimeSandboxOptions {
  mode: SandboxMode;
  bwrapPath?: string;
  /** Real paths. */
  dataDir: string;
  configDir: string;
  cacheDir: string;
  workspaceRoot: string;
  /** Where sandboxed kernels get their own connection-file dirs (inside the data dir). */
  kernelsDir: string;
  /** Extra dirs or files no sandboxed process may see (the host's home is hidden by default). */
  hiddenPaths: readonly string[];
  /** PATH of the host, so programs are found the same way inside. */
  hostPath: string;
  /** Host environment: only locale and time zone are carried into kernels. */
  env: Readonly<Record<string, string | undefined>>;
}

/** What `describe()` reports: the mode asked for and what this runtime actually does. */
export interface SandboxStatus {
  mode: SandboxMode;
  effective: 'bwrap' | 'off';
  bwrapVersion?: string;
  /** Why `auto` runs unsandboxed. */
  notice?: string;
}

/**
 * The host's sandbox policy applied to everything the runtime starts. `required` without a
 * working bubblewrap throws `sandbox_unavailable` here, at startup, so it never downgrades.
 */
export class RuntimeSandbox {
  readonly status: SandboxStatus;
  readonly hidden: readonly string[];
  private readonly bwrapPath: string | undefined;

  constructor(private readonly options: RuntimeSandboxOptions) {
    const detection: BubblewrapDetection =
      options.mode === 'off'
        ? { available: false, reason: 'sandbox is off' }
        : probeBubblewrap(options.bwrapPath, options.env);
    const decision = resolveSandboxMode(options.mode, detection);
    this.bwrapPath = decision.bwrapPath;
    this.status = {
      mode: options.mode,
      effective: decision.sandboxed ? 'bwrap' : 'off',
      ...(decision.sandboxed && detection.version ? { bwrapVersion: detection.version } : {}),
      ...(decision.notice ? { notice: decision.notice } : {}),
    };
    // The trust key, API token, proxy CA key, connection files of other kernels, other envs,
    // and whatever credentials the host user keeps at home.
    // An extra hidden path that is the workspace itself (a workspace at $HOME) would hide the
    // workspace; one above it is fine (deeper mounts win).
    const extra = options.hiddenPaths.filter((path) => path !== options.workspaceRoot);
    this.hidden = [...new Set([options.dataDir, options.configDir, options.cacheDir, ...extra])];
  }

  get sandboxed(): boolean {
    return this.status.effective === 'bwrap';
  }

  /**
   * Read-only mounts that keep a program usable when it lives under a hidden dir (pyenv's
   * python or nvm's node under the hidden home): its installation prefix, never the hidden dir.
   */
  exposeProgram(file: string): SandboxMount[] {
    let real: string;
    try {
      real = realpathSync(file);
    } catch {
      return [];
    }
    if (!this.hidden.some((dir) => isInside(real, dir))) return [];
    let prefix = dirname(dirname(real));
    if (this.hidden.some((dir) => isInside(dir, prefix))) prefix = dirname(real);
    if (this.hidden.some((dir) => isInside(dir, prefix))) return [];
    return [{ path: prefix, readOnly: true }];
  }

  /**
   * Launch options for a Python kernel on `env`: unchanged when unsandboxed; else ipc transport
   * (a TCP kernel in its own network namespace cannot be reached) in a connection-file dir of
   * its own, `interrupt_request` messages (the spawned process is bwrap, not the kernel), and
   * the kernel command wrapped in bwrap with the workspace read-write, the env read-only, no
   * network, and the runtime's dirs and the home dir hidden.
   */
  kernelLaunch(env: PreparedEnv, cwd: string): Partial<LaunchKernelOptions> {
    if (!this.sandboxed) return {};
    const runtimeDir = join(this.options.kernelsDir, randomBytes(4).toString('hex'));
    const inner: Record<string, string> = {
      PATH: `${env.prefix}/bin:${this.options.hostPath}`,
      // The private /tmp: IPython's profile dir and caches need a writable home.
      HOME: '/tmp',
      LANG: this.options.env.LANG ?? 'C.UTF-8',
    };
    if (this.options.env.TZ) inner.TZ = this.options.env.TZ;
    const mounts = this.exposeProgram(env.python);
    return {
      transport: 'ipc',
      interruptMode: 'message',
      runtimeDir,
      env: { PATH: this.options.hostPath },
      wrapCommand: (argv) =>
        buildBwrapArgv({
          command: argv,
          workspace: this.options.workspaceRoot,
          envPrefix: env.prefix,
          runtimeDir,
          mounts,
          network: 'none',
          hiddenPaths: this.hidden,
          env: inner,
          cwd: isInside(cwd, this.options.workspaceRoot) ? cwd : this.options.workspaceRoot,
          ...(this.bwrapPath ? { bwrapPath: this.bwrapPath } : {}),
        }),
    };
  }

  /**
   * Whether `program` resolves to an executable the way the sandbox will look it up (same PATH,
   * same read-only system): inside, a missing one is only a bwrap exit status.
   */
  findsProgram(program: string, cwd: string): boolean {
    // One under a hidden dir still runs: commandArgv re-exposes its installation read-only.
    return onPath(program, this.options.hostPath, cwd) !== undefined;
  }

  /** Deno's kernel speaks tcp only, so it cannot be reached inside a network namespace. */
  assertDenoAllowed(): void {
    if (this.sandboxed) {
      throw new SandboxError(
        'sandbox_unsupported',
        'Deno kernels cannot run in the sandbox (deno jupyter has no ipc transport); the runtime host must set sandbox to off to run them',
      );
    }
  }

  /**
   * The argv that runs a command worker in bwrap. `mounts` are the profile's granted mounts
   * (host-resolved); without any the workspace is read-write, with some only they are (the
   * workspace stays readable). `egressDir` holds the proxy socket and the CA certificate.
   */
  commandArgv(spec: {
    command: readonly string[];
    cwd: string;
    mounts: readonly SandboxMount[] | undefined;
    egressDir?: string;
    proxySocket?: string;
    env: Readonly<Record<string, string>>;
  }): string[] {
    const mounts: SandboxMount[] = [];
    if (spec.mounts) {
      mounts.push({ path: this.options.workspaceRoot, readOnly: true }, ...spec.mounts);
    }
    if (spec.egressDir) mounts.push({ path: spec.egressDir, readOnly: true });
    // Only a program from the host (PATH, or an absolute path outside the workspace) may have its
    // installation exposed; one named through the workspace runs as it is (see ProgramSource).
    const source = spec.command[0]
      ? programSource(spec.command[0], {
          cwd: spec.cwd,
          workspaceRoot: this.options.workspaceRoot,
          hostPath: this.options.hostPath,
        })
      : ({ kind: 'missing' } as const);
    if (source.kind === 'host') mounts.push(...this.exposeProgram(source.file));
    if (spec.proxySocket) mounts.push(...this.exposeProgram(process.execPath));
    return buildBwrapArgv({
      command: spec.command,
      ...(spec.mounts ? {} : { workspace: this.options.workspaceRoot }),
      mounts,
      network: spec.proxySocket ? 'proxy' : 'none',
      ...(spec.proxySocket ? { proxySocket: spec.proxySocket } : {}),
      hiddenPaths: this.hidden,
      env: spec.env,
      cwd: spec.cwd,
      ...(this.bwrapPath ? { bwrapPath: this.bwrapPath } : {}),
    });
  }

  /** Removes the (empty) connection-file dirs sandboxed kernels left. */
  sweepKernelDirs(): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.options.kernelsDir);
    } catch {
      return;
    }
    for (const name of names) {
      try {
        rmdirSync(join(this.options.kernelsDir, name));
      } catch {
        // a file, or a dir still in use
      }
    }
  }
}
