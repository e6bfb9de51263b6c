import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Keeps the last `limit` lines of a stream without holding the whole stream in memory. */
export class LineTail {
  private readonly lines: string[] = [];
  private partial = '';
  constructor(private readonly limit = 50) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.add(line);
    // A runaway line without newlines must not grow without bound.
    if (this.partial.length > 8192) {
      this.add(this.partial.slice(0, 8192));
      this.partial = '';
    }
  }

  private add(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.limit) this.lines.shift();
  }

  snapshot(): string[] {
    const all = this.partial ? [...this.lines, this.partial] : [...this.lines];
    return all.slice(-this.limit);
  }
}

/**
 * The environment a kernel gets when the caller passes none: this process's environment minus
 * every `RUNYARD_*` variable (`RUNYARD_SECRET_*`, `RUNYARD_TOKEN`, `RUNYARD_DATA_DIR`, ...).
 * Notebook code runs in the kernel and can read its whole environment, so host secrets and
 * control settings stay out; PATH, HOME, LANG and everything else pass through.
 */
export function kernelEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.toUpperCase().startsWith('RUNYARD_')) continue;
    out[key] = value;
  }
  return out;
}

/**
 * A spawned kernel process: exit is observable as a promise and stderr's tail is kept. It leads
 * its own process group; terminating or killing it signals the whole group, so processes that
 * notebook code started die with the kernel, and when the kernel exits any it left behind are
 * killed.
 */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly stderr = new LineTail(50);
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private spawnError: Error | undefined;

  constructor(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string }) {
    const [command, ...args] = argv;
    if (!command) throw new Error('empty argv');
    this.child = spawn(command, args, {
      env: options.env ?? kernelEnvironment(),
      cwd: options.cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
      // Own process group: a Ctrl-C in the host terminal must not interrupt every kernel.
      detached: true,
    });
    this.child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk));
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('error', (error) => {
        this.spawnError = error;
        // 'exit' does not follow a failed spawn.
        if (this.child.pid === undefined) {
          this.exitInfo = { code: null, signal: null };
          resolve(this.exitInfo);
        }
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        // Whatever notebook code started outlives a graceful exit unless reaped here. The group
        // id cannot be reused while any member is alive, so this reaches only the kernel's own.
        this.signalGroup('SIGKILL');
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  get error(): Error | undefined {
    return this.spawnError;
  }

  /**
   * Sends `signal` to the kernel. SIGINT (an interrupt) goes to the kernel process alone, as
   * Jupyter expects; every other signal goes to its whole process group.
   */
  signal(signal: NodeJS.Signals): boolean {
    if (this.hasExited) return false;
    if (signal !== 'SIGINT' && this.signalGroup(signal)) return true;
    try {
      return this.child.kill(signal);
    } catch {
      return false;
    }
  }

  private signalGroup(signal: NodeJS.Signals): boolean {
    const pid = this.child.pid;
    if (pid === undefined) return false;
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      // ESRCH: the group is already empty.
      return false;
    }
  }

  /** Resolves with the exit info, or undefined when `ms` elapsed first. */
  async waitExit(ms: number): Promise<ExitInfo | undefined> {
    if (this.exitInfo) return this.exitInfo;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Always resolves once the process is gone. */
  async terminate(graceMs = 2000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.signal('SIGTERM');
    const exited = await this.waitExit(graceMs);
    if (exited) return exited;
    this.signal('SIGKILL');
    return this.exited;
  }
}

/** PATH lookup without a shell. */
export function which(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (isAbsolute(command)) return isExecutable(command) ? command : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let setpriv: string | null | undefined;

/**
 * The prefix that makes a command die with the runtime: util-linux's `setpriv --pdeathsig KILL`
 * (essential on Debian) sets PR_SET_PDEATHSIG and execs the command, so a `pip install` whose
 * runtime was `kill -9`ed is killed by the kernel instead of running on with parent 1. Empty
 * where there is no setpriv (non-Linux): an aborted build still kills its process group.
 */
export function dieWithParentPrefix(): string[] {
  if (setpriv === undefined) {
    setpriv = null;
    if (process.platform === 'linux') {
      for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
        try {
          accessSync(candidate, constants.X_OK);
          setpriv = candidate;
          break;
        } catch {
          // not here
        }
      }
    }
  }
  return setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : [];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderrTail: string[];
}

/**
 * Runs a command to completion, streaming output lines to `onLine`; an aborted signal kills the
 * whole process group so installers' children die too, and the command dies with this process
 * (`dieWithParentPrefix`) rather than outliving a `kill -9` of the runtime.
 */
export function runCommand(
  argv: readonly string[],
  options: {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    signal?: AbortSignal;
    onLine?: (line: string) => void;
  } = {},
): Promise<RunResult> {
  if (!argv[0]) return Promise.reject(new Error('empty argv'));
  const prefix = dieWithParentPrefix();
  const [command, ...args] = [...prefix, ...argv] as [string, ...string[]];
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason ?? new Error('aborted'));
      return;
    }
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const tail = new LineTail(50);
    let stdout = '';
    let pending = '';
    const emit = (chunk: Buffer) => {
      const text = pending + chunk.toString();
      const lines = text.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) options.onLine?.(line);
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      if (stdout.length < 1_000_000) stdout += chunk.toString();
      emit(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      tail.push(chunk);
      emit(chunk);
    });
    const onAbort = () => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (options.signal?.aborted) {
        reject(options.signal.reason ?? new Error('aborted'));
        return;
      }
      const stderrTail = tail.snapshot();
      // setpriv could not exec the command: the same failure a direct spawn reports.
      if (
        prefix.length > 0 &&
        code === 127 &&
        stderrTail.some((l) => l.startsWith('setpriv: failed to execute'))
      ) {
        reject(Object.assign(new Error(`spawn ${argv[0]} failed`), { code: 'ENOENT' }));
        return;
      }
      resolve({ code, signal, stdout, stderrTail });
    });
  });
}

/**
 * Live (non-zombie) processes of this user whose command line mentions `text` (Linux `/proc`;
 * elsewhere none). A runtime finds the kernels of a crashed predecessor by their connection-file
 * dir; test suites find every process they started by their temp root.
 */
export function processesMentioning(text: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes(text)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && state !== 'X') found.push(Number(entry));
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return found;
}
