import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KernelClient } from './client.js';
import { createEnvBuilder } from './env-builder.js';
import { createEnvPool, poolPackageHash } from './env-pool.js';
import { KernelError } from './errors.js';
import { createKernelPool } from './kernel-pool.js';
import { ipykernelArgv, launchKernel } from './launch.js';
import { runCommand } from './process.js';
import {
  buildTinyWheel,
  processesMentioning,
  removeRoot,
  SYSTEM_PYTHON,
  tempRoot,
} from './test-support/helpers.js';

const root = tempRoot('pool');
const claimed: KernelClient[] = [];

afterAll(async () => {
  await Promise.all(claimed.map((client) => client.shutdown()));
  expect(processesMentioning(root)).toEqual([]);
  removeRoot(root);
});

describe('kernel pool', () => {
  it('a claim after the pooled kernel died still gets a live kernel; claimed kernels never return', async () => {
    const events: string[] = [];
    const pool = createKernelPool({
      size: 1,
      launch: (signal) =>
        launchKernel({ argv: ipykernelArgv(SYSTEM_PYTHON), runtimeDir: join(root, 'rt'), signal }),
      onEvent: (event) => events.push(event.type),
    });
    pool.start();
    try {
      await pool.whenWarm();
      expect(pool.ready).toBe(1);
      const first = await pool.claim();
      claimed.push(first);
      const result = await first.execute('1 + 1');
      expect(result.outputs).toEqual([expect.objectContaining({ data: { 'text/plain': '2' } })]);
      // The pool's silent warm-up execute left no trace in the user's numbering or history.
      expect(result.executionCount).toBe(1);
      expect((await first.execute('len(In)')).outputs).toEqual([
        expect.objectContaining({ data: { 'text/plain': '3' } }),
      ]);

      // The replacement warms in the background; kill it without waiting for the exit event.
      await pool.whenWarm();
      const pooledPids = processesMentioning(join(root, 'rt')).filter((pid) => pid !== first.pid);
      expect(pooledPids).toHaveLength(1);
      process.kill(pooledPids[0] as number, 'SIGKILL');
      const second = await pool.claim();
      claimed.push(second);
      expect(second.pid).not.toBe(pooledPids[0]);
      expect(second).not.toBe(first);
      expect((await second.execute('3 * 3')).outputs).toEqual([
        expect.objectContaining({ data: { 'text/plain': '9' } }),
      ]);
      expect(events).toContain('claimed');
    } finally {
      await pool.stop();
    }
    // stop() shut the pooled kernels down; the claimed ones are the caller's and still run.
    expect(claimed.every((client) => client.alive)).toBe(true);
  });

  it('discards a kernel whose warm-up fails, like a failed launch, and leaves no process', async () => {
    const events: string[] = [];
    const runtimeDir = join(root, 'rt-warmup');
    const pool = createKernelPool({
      size: 1,
      launch: (signal) => launchKernel({ argv: ipykernelArgv(SYSTEM_PYTHON), runtimeDir, signal }),
      warmup: async () => {
        throw new Error('warm-up failed');
      },
      backoff: { initialMs: 60_000 },
      onEvent: (event) => events.push(event.type),
    });
    pool.start();
    try {
      await pool.whenWarm();
      expect(pool.ready).toBe(0);
      expect(events).toContain('launch_failed');
    } finally {
      await pool.stop();
    }
    expect(processesMentioning(runtimeDir)).toEqual([]);
  });
});

describe('kernel pool lifecycle', () => {
  it('whenWarm before start rejects at once; claim after stop rejects without launching', async () => {
    let launches = 0;
    const pool = createKernelPool({
      size: 1,
      launch: () => {
        launches += 1;
        return Promise.reject(new Error('no kernels in this test'));
      },
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    await expect(pool.whenWarm()).rejects.toMatchObject({ code: 'kernel_pool_not_started' });
    pool.start();
    // The first launch fails; with backoff the pool counts as settled rather than hanging.
    await pool.whenWarm();
    await pool.stop();
    const before = launches;
    await expect(pool.claim()).rejects.toBeInstanceOf(KernelError);
    await expect(pool.claim()).rejects.toMatchObject({ code: 'kernel_pool_stopped' });
    await expect(pool.whenWarm()).rejects.toMatchObject({ code: 'kernel_pool_stopped' });
    expect(launches).toBe(before);
  });
});

describe('env pool', () => {
  it('warms envs, never serves stale ones, and retires them only after replacements are warm', async () => {
    const wheelhouse = join(root, 'wheels');
    mkdirSync(wheelhouse, { recursive: true });
    buildTinyWheel(wheelhouse);
    const builder = createEnvBuilder({
      kind: 'venv',
      basePython: SYSTEM_PYTHON,
      isolation: 'inherit',
      wheelhouse: { findLinks: [wheelhouse] },
    });
    const events: string[] = [];
    const pool = createEnvPool({
      poolDir: join(root, 'envpool'),
      builders: [builder],
      size: 1,
      onEvent: (event) =>
        events.push(`${event.type}${'reason' in event ? `:${event.reason}` : ''}`),
    });
    // A warm build interrupted by a crash: built in place, its completion marker never written.
    const interrupted = join(root, 'envpool', 'venv', 'deadbeef0001');
    mkdirSync(join(interrupted, 'bin'), { recursive: true });
    pool.start();
    try {
      await pool.whenSettled();
      expect(existsSync(interrupted)).toBe(false);
      expect(pool.status().venv).toMatchObject({ ready: 1, stale: 0 });
      const oldHash = pool.status().venv?.poolHash;
      expect(oldHash).toBe(
        poolPackageHash({
          packages: [],
          manager: 'venv',
          platform: process.platform,
          arch: process.arch,
        }),
      );

      pool.setPackages(['tinypkg']);
      // The old env is kept (stale) until its replacement is warm, and is never handed out.
      expect(pool.status().venv).toMatchObject({ ready: 0, stale: 1 });
      expect(pool.claim()).toBeUndefined();
      await pool.whenSettled();
      expect(pool.status().venv).toMatchObject({ ready: 1, stale: 0 });
      expect(events).toContain('retired:stale_packages');

      const env = pool.claim({ into: join(root, 'mine') });
      expect(env?.prefix).toBe(join(root, 'mine'));
      const probe = await runCommand([
        env?.python as string,
        '-c',
        'import tinypkg, ipykernel; print(tinypkg.VALUE)',
      ]);
      expect(probe.stdout.trim()).toBe('42');
      const kernel = await runCommand([env?.python as string, '-m', 'ipykernel', '--version']);
      expect(kernel.code).toBe(0);
    } finally {
      await pool.stop();
    }
  });
});
