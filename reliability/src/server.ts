// The server under test: the real `runyard serve` CLI (apps/workspace-server/dist/cli.js) in its
// own process, on 127.0.0.1 port 0, with every directory inside one temp root. A separate
// process so it can be `kill -9`ed, and so its RSS and open fds are its own.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON } from '@runyard/testing';

export const CLI = fileURLToPath(
  new URL('../../apps/workspace-server/dist/cli.js', import.meta.url),
);

export interface Dirs {
  root: string;
  workspace: string;
  dataDir: string;
  cacheDir: string;
  configDir: string;
  home: string;
  skillsRoot: string;
  wheelhouse: string;
}

export function makeDirs(root: string, overrides: Partial<Dirs> = {}): Dirs {
  const dirs: Dirs = {
    root,
    workspace: join(root, 'workspace'),
    dataDir: join(root, 'data'),
    cacheDir: join(root, 'cache'),
    configDir: join(root, 'config'),
    home: join(root, 'home'),
    skillsRoot: join(root, 'home', '.claude', 'skills'),
    wheelhouse: join(root, 'wheels'),
    ...overrides,
  };
  for (const [key, dir] of Object.entries(dirs))
    if (key !== 'skillsRoot') mkdirSync(dir, { recursive: true });
  return dirs;
}

export interface Running {
  url: string;
  token: string;
  pid: number;
  child: ChildProcess;
  /** The last 16 KiB of stderr (pino logs at warn and above, crash traces). */
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  kill9(): Promise<void>;
  /** SIGTERM (graceful: kernels stop), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  sandbox?: 'off' | 'auto' | 'required';
  args?: string[];
  env?: Record<string, string>;
  logLevel?: string;
}

export class StartFailed extends Error {
  override readonly name = 'StartFailed';
  constructor(
    message: string,
    readonly code: number | null,
    readonly output: string,
  ) {
    super(message);
  }
}

export function newToken(): string {
  return `reliability-${randomBytes(16).toString('hex')}`;
}

export async function startServer(
  dirs: Dirs,
  token: string,
  options: StartOptions = {},
): Promise<Running> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`pnpm build\` first`);
  const args = [
    CLI,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--workspace',
    dirs.workspace,
    '--data-dir',
    dirs.dataDir,
    '--cache-dir',
    dirs.cacheDir,
    '--config-dir',
    dirs.configDir,
    '--skills-root',
    dirs.skillsRoot,
    '--python',
    SYSTEM_PYTHON,
    '--kernel-pool',
    '0',
    '--env-pool',
    '0',
    '--wheelhouse',
    dirs.wheelhouse,
    '--sandbox',
    options.sandbox ?? 'off',
    '--log-level',
    options.logLevel ?? 'warn',
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: dirs.root,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dirs.home,
      RUNYARD_TOKEN: token,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-16_384);
  });
  let stdout = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new StartFailed('the server did not listen within 60 s', null, stdout + stderr));
    }, 60_000);
    lines.on('line', (line) => {
      stdout += `${line}\n`;
      const match = /^Runyard listening on (http:\/\/\S+)/.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      // Let stderr drain before reporting it.
      setTimeout(
        () =>
          reject(
            new StartFailed(`the server exited ${code} before listening`, code, stdout + stderr),
          ),
        50,
      );
    });
  });
  lines.on('line', () => {});
  const pid = child.pid as number;
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    token,
    pid,
    child,
    stderr: () => stderr,
    exited,
    alive,
    async kill9() {
      if (!alive()) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 20_000) {
      if (!alive()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident set size of one process in MiB (VmRSS), undefined when it is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

export function openFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

export interface ProcessEntry {
  pid: number;
  ppid: number;
  cmdline: string;
}

/** Every process on the machine (pid, parent, command line). */
export function processes(): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // not ours to read
      }
      out.push({ pid: Number(entry), ppid, cmdline: `${cmdline} (cwd ${cwd})` });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Processes whose command line or cwd mentions `text` (a temp root), this process excluded. */
export function processesMentioning(text: string): ProcessEntry[] {
  return processes().filter((p) => p.pid !== process.pid && p.cmdline.includes(text));
}

/** `pid` and all its descendants. */
export function descendants(pid: number, all = processes()): ProcessEntry[] {
  const found: ProcessEntry[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.pop() as number;
    for (const p of all)
      if (p.ppid === next) {
        found.push(p);
        queue.push(p.pid);
      }
  }
  return found;
}

export function killAll(entries: ProcessEntry[]): void {
  for (const p of entries) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
