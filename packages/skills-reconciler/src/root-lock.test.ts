import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileInventory } from './inventory.js';
import { LOCK_FILE, processStart } from './root-lock.js';
import { createHarness, type Harness } from './test-support/harness.js';
import { skillArchive } from './test-support/tar-builder.js';

const CHILD = fileURLToPath(new URL('./test-support/lock-child.ts', import.meta.url));

let h: Harness;
const children: ChildProcess[] = [];
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await h.close();
});

interface Child {
  process: ChildProcess;
  /** Resolves with the first stdout line starting with one of `prefixes`. */
  next(...prefixes: string[]): Promise<string>;
}

function start(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  let buffer = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of waiters) wake();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    process: child,
    next: (...prefixes) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const index = lines.findIndex((l) => prefixes.some((p) => l.startsWith(p)));
          if (index >= 0) {
            waiters.delete(check);
            resolve(lines.splice(index, 1)[0] ?? '');
          }
        };
        waiters.add(check);
        child.once('exit', (code) => {
          check();
          if (waiters.has(check)) reject(new Error(`child exited (${code}): ${stderr}`));
        });
        check();
      }),
  };
}

function staging(): string[] {
  return readdirSync(h.userRoot).filter((name) => name.startsWith('.runyard-staging-'));
}

/** The pid and start time of a process that has exited. */
async function deadProcess(): Promise<{ pid: number; start: string }> {
  const child = spawn(process.execPath, ['-e', '']);
  const pid = child.pid ?? 0;
  const started = processStart(pid) ?? '1';
  await new Promise((resolve) => child.once('exit', resolve));
  return { pid, start: started };
}

describe('the per-root lock across processes', () => {
  it('a second process waits for the first and never deletes its in-flight staging', async () => {
    h.manifest('/manifest.yaml', [
      { source: { type: 'tarball', url: h.archive('/a.tgz', skillArchive('a')) } },
      { source: { type: 'tarball', url: h.archive('/b.tgz', skillArchive('b')) } },
    ]);
    const manifest = `${h.server.url}/manifest.yaml`;
    const first = start([h.userRoot, manifest, 'staged']);
    expect(await first.next('AT ', 'DONE')).toBe('AT staged');
    expect(staging()).toHaveLength(1);

    const second = start([h.userRoot, manifest]);
    // Without the lock the second pass would recover the root (deleting the first one's
    // staging folder) and finish on its own; with it, it waits.
    expect(await second.next('WAITING', 'DONE')).toBe('WAITING');
    expect(staging()).toHaveLength(1);

    first.process.stdin?.write('go\n');
    expect(await first.next('DONE')).toBe('DONE []');
    expect(await second.next('DONE')).toBe('DONE []');
    expect(
      createFileInventory()
        .list(h.userRoot)
        .map((r) => r.name),
    ).toEqual(['a', 'b']);
    expect(readdirSync(h.userRoot).sort()).toEqual(['.runyard-inventory.json', 'a', 'b']);
  });

  it('takes over a lock whose owner is dead; cleans only staging folders of dead owners', async () => {
    h.manifest('/manifest.yaml', [
      { source: { type: 'tarball', url: h.archive('/a.tgz', skillArchive('a')) } },
    ]);
    const dead = await deadProcess();
    mkdirSync(h.userRoot, { recursive: true });
    writeFileSync(
      join(h.userRoot, LOCK_FILE),
      JSON.stringify({ pid: dead.pid, start: dead.start, token: 'gone' }),
    );
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    children.push(live);
    const livePid = live.pid ?? 0;
    const liveStaging = `.runyard-staging-${livePid}-${processStart(livePid) ?? 'x'}-abc123`;
    const deadStaging = `.runyard-staging-${dead.pid}-${dead.start}-def456`;
    for (const name of [liveStaging, deadStaging])
      mkdirSync(join(h.userRoot, name, 'new'), { recursive: true });

    const result = await h.reconciler().reconcile();
    expect(result.errors).toEqual([]);
    expect(existsSync(join(h.userRoot, 'a', 'SKILL.md'))).toBe(true);
    expect(staging()).toEqual([liveStaging]);
    expect(existsSync(join(h.userRoot, LOCK_FILE))).toBe(false);
  });

  it('waits while a live process holds the lock; stop() aborts the wait', async () => {
    h.manifest('/manifest.yaml', []);
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    children.push(live);
    const pid = live.pid ?? 0;
    mkdirSync(h.userRoot, { recursive: true });
    const lock = JSON.stringify({ pid, start: processStart(pid), token: 'theirs' });
    writeFileSync(join(h.userRoot, LOCK_FILE), lock);
    const reconciler = h.reconciler();
    const waiting = new Promise<void>((resolve) =>
      reconciler.on((event) => {
        if (event.type === 'pass_waiting' && event.reason === 'root_locked') resolve();
      }),
    );
    const pass = reconciler.reconcile();
    await waiting;
    await reconciler.stop();
    const report = await pass;
    expect(report.aborted).toBe(true);
    // Their lock is untouched.
    expect(existsSync(join(h.userRoot, LOCK_FILE))).toBe(true);
  });
});
