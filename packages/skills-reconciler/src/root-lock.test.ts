import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSkillsError } from './errors.js';
import { createFileInventory } from './inventory.js';
import { acquireRootLock, LOCK_FILE, processStart } from './root-lock.js';
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

/**
 * Publishes a manifest of tarball skills and starts a holder parked at 'staged' with the lock
 * held and one staging folder written.
 */
async function stagedHolder(...names: string[]): Promise<{ manifest: string; first: Child }> {
  h.manifest(
    '/manifest.yaml',
    names.map((n) => ({
      source: { type: 'tarball', url: h.archive(`/${n}.tgz`, skillArchive(n)) },
    })),
  );
  const manifest = `${h.server.url}/manifest.yaml`;
  const first = start([h.userRoot, manifest, 'staged']);
  expect(await first.next('AT ', 'DONE')).toBe('AT staged');
  return { manifest, first };
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
    const { manifest, first } = await stagedHolder('a', 'b');
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

  it('gives up with skills_root_locked after lockWaitMs; the holder finishes untouched', async () => {
    const { manifest, first } = await stagedHolder('a');

    // The holder is parked on stdin: however long the bound, it is still holding when it ends.
    const second = start([h.userRoot, manifest, '-', '100']);
    expect(await second.next('DONE')).toBe('DONE ["skills_root_locked"]');
    expect(staging()).toHaveLength(1);
    expect(existsSync(join(h.userRoot, LOCK_FILE))).toBe(true);

    first.process.stdin?.write('go\n');
    expect(await first.next('DONE')).toBe('DONE []');
    expect(readdirSync(h.userRoot).sort()).toEqual(['.runyard-inventory.json', 'a']);
  });

  it('recovers the lock and staging of a process killed with SIGKILL mid-pass', async () => {
    const { manifest, first } = await stagedHolder('a', 'b');
    const lock = JSON.parse(readFileSync(join(h.userRoot, LOCK_FILE), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(first.process.pid);
    const exited = new Promise((resolve) => first.process.once('exit', resolve));
    first.process.kill('SIGKILL');
    await exited;
    // The dead process's lock and staging folder are left behind.
    expect(existsSync(join(h.userRoot, LOCK_FILE))).toBe(true);
    expect(staging()).toHaveLength(1);

    const second = start([h.userRoot, manifest]);
    expect(await second.next('DONE')).toBe('DONE []');
    expect(readdirSync(h.userRoot).sort()).toEqual(['.runyard-inventory.json', 'a', 'b']);
    expect(
      createFileInventory()
        .list(h.userRoot)
        .map((r) => r.name),
    ).toEqual(['a', 'b']);
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
    // A dead breaker, and lock temp files of a dead and of a live process.
    const deadLock = JSON.stringify({ pid: dead.pid, start: dead.start, token: 'gone' });
    writeFileSync(join(h.userRoot, `${LOCK_FILE}.break`), deadLock);
    const liveTemp = `${LOCK_FILE}.${livePid}-${processStart(livePid) ?? 'x'}-0a1b.new`;
    const deadTemps = [
      `${LOCK_FILE}.${dead.pid}-${dead.start}-2c3d.stale`,
      `${LOCK_FILE}.break.${dead.pid}-${dead.start}-4e5f.new`,
    ];
    for (const name of [liveTemp, ...deadTemps]) writeFileSync(join(h.userRoot, name), deadLock);

    const result = await h.reconciler().reconcile();
    expect(result.errors).toEqual([]);
    expect(existsSync(join(h.userRoot, 'a', 'SKILL.md'))).toBe(true);
    expect(staging()).toEqual([liveStaging]);
    expect(readdirSync(h.userRoot).sort()).toEqual(
      ['.runyard-inventory.json', liveStaging, liveTemp, 'a'].sort(),
    );
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

describe('skills_root_locked in status', () => {
  it('a pass that gives up is a failed pass: errors and lastPass say why, nothing applied', async () => {
    h.manifest('/manifest.yaml', [
      { source: { type: 'tarball', url: h.archive('/a.tgz', skillArchive('a')) } },
    ]);
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    children.push(live);
    const pid = live.pid ?? 0;
    mkdirSync(h.userRoot, { recursive: true });
    const lock = JSON.stringify({ pid, start: processStart(pid), token: 'theirs' });
    writeFileSync(join(h.userRoot, LOCK_FILE), lock);
    const reconciler = h.reconciler({ limits: { lockWaitMs: 20 } });
    const report = await reconciler.reconcile();
    expect(report.errors.map((e) => e.code)).toEqual(['skills_root_locked']);
    expect(report.install).toEqual([]);
    expect(reconciler.status().lastPass?.errors.map((e) => e.code)).toEqual(['skills_root_locked']);
    expect(readdirSync(h.userRoot)).toEqual([LOCK_FILE]);
    expect(readFileSync(join(h.userRoot, LOCK_FILE), 'utf8')).toBe(lock);
  });
});

describe('acquireRootLock in one process', () => {
  it('is exclusive and not re-entrant: a second acquisition waits for release', async () => {
    const first = await acquireRootLock(h.userRoot);
    let waited = false;
    const second = acquireRootLock(h.userRoot, {
      onWait: () => {
        waited = true;
        first.release();
      },
    });
    const lock = await second;
    expect(waited).toBe(true);
    lock.release();
    expect(existsSync(join(h.userRoot, LOCK_FILE))).toBe(false);
  });

  it('fails with skills_root_locked past waitMs, naming the root by label only', async () => {
    const held = await acquireRootLock(h.userRoot);
    const error = await acquireRootLock(h.userRoot, { waitMs: 20, label: 'the user skills root' })
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(isSkillsError(error) && error.code).toBe('skills_root_locked');
    expect((error as Error).message).toMatch(/^the user skills root is locked/);
    expect((error as Error).message).not.toContain(h.userRoot);
    held.release();
    // Releasing twice, or after the root is gone, is harmless.
    held.release();
  });

  it('waits while a live process is breaking a stale lock', async () => {
    const dead = await deadProcess();
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    children.push(live);
    const pid = live.pid ?? 0;
    mkdirSync(h.userRoot, { recursive: true });
    const stale = JSON.stringify({ pid: dead.pid, start: dead.start, token: 'gone' });
    writeFileSync(join(h.userRoot, LOCK_FILE), stale);
    const breaker = JSON.stringify({ pid, start: processStart(pid), token: 'breaking' });
    writeFileSync(join(h.userRoot, `${LOCK_FILE}.break`), breaker);
    const error = await acquireRootLock(h.userRoot, { waitMs: 20 })
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(isSkillsError(error) && error.code).toBe('skills_root_locked');
    // Only the breaker's holder may delete the stale lock: both are left as they were.
    expect(readFileSync(join(h.userRoot, LOCK_FILE), 'utf8')).toBe(stale);
    expect(readFileSync(join(h.userRoot, `${LOCK_FILE}.break`), 'utf8')).toBe(breaker);
  });

  it('takes over a lock file that is empty or garbage (a crash while it was written)', async () => {
    mkdirSync(h.userRoot, { recursive: true });
    writeFileSync(join(h.userRoot, LOCK_FILE), '');
    const lock = await acquireRootLock(h.userRoot, { waitMs: 0 });
    lock.release();
    writeFileSync(join(h.userRoot, LOCK_FILE), '{"__proto__": {"pid": 1}}');
    (await acquireRootLock(h.userRoot, { waitMs: 0 })).release();
    expect(existsSync(join(h.userRoot, LOCK_FILE))).toBe(false);
  });
});
