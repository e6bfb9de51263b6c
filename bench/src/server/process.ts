import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ChildOptions, ChildReady } from './child.js';

/** A server under test running in its own process (see child.ts). */
export interface ServerProcess extends ChildReady {
  pid: number;
  /** Graceful close (stdin end), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Thrown when the server could not start for a reason the suite reports as a skip. */
export class ServerUnavailable extends Error {
  override readonly name = 'ServerUnavailable';
}

export async function startServerProcess(
  options: ChildOptions,
  env: NodeJS.ProcessEnv,
): Promise<ServerProcess> {
  const script = fileURLToPath(new URL('./child.ts', import.meta.url));
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', script, JSON.stringify(options)],
    { env, stdio: 'pipe' },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const lines = createInterface({ input: child.stdout });
  const first = new Promise<string>((resolve) => lines.once('line', resolve));
  const line = await Promise.race([
    first,
    exited.then((code) => {
      throw new Error(`the ${options.mode} server exited ${code} before listening: ${stderr}`);
    }),
  ]);
  const message = JSON.parse(line) as Partial<ChildReady> & { error?: string };
  if (message.error !== undefined || !message.url || !message.token) {
    await exited;
    throw new ServerUnavailable(message.error ?? `unexpected line from the server: ${line}`);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('the server process has no pid');
  return {
    url: message.url,
    token: message.token,
    pid,
    async stop(graceMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      lines.close();
    },
  };
}

function statOf(pid: number): { ppid: number; rssPages: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces), from field 3 (state) on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), rssPages: Number(fields[21]) };
  } catch {
    return undefined;
  }
}

const PAGE_BYTES = 4096;

/** RSS in MiB of `pid` alone, and of `pid` with every descendant (its kernels). */
export function rssMiB(pid: number): { self: number; tree: number; processes: number } {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = statOf(Number(entry));
    if (!stat) continue;
    rss.set(Number(entry), stat.rssPages);
    const siblings = children.get(stat.ppid) ?? [];
    siblings.push(Number(entry));
    children.set(stat.ppid, siblings);
  }
  let tree = 0;
  let processes = 0;
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.pop() as number;
    tree += rss.get(next) ?? 0;
    processes++;
    queue.push(...(children.get(next) ?? []));
  }
  const toMiB = (pages: number) => (pages * PAGE_BYTES) / 1024 ** 2;
  return { self: toMiB(rss.get(pid) ?? 0), tree: toMiB(tree), processes };
}
