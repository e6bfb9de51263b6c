import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  createEnvBuilder,
  createEnvCache,
  createKernelPool,
  type EnvBuilderOptions,
  type EnvCache,
  ipykernelArgv,
  type KernelClient,
  launchKernel,
} from '@runyard/kernels';
import { buildTinyWheel } from '@runyard/testing';
import {
  expectTwo,
  FLOOR,
  JUPYTER_FIRST,
  JUPYTER_START,
  KERNEL_ENV,
  kernelStarts,
  STRICT_FLOOR,
} from '../baselines/kernel-start.js';
import { SYSTEM_PYTHON } from '../machine.js';
import { assertNoneLeft } from '../processes.js';
import { compare, type Figure, figure } from '../report.js';
import type { Suite, SuiteContext } from '../suite.js';

const SUITE = 'kernels';

async function warm(ctx: SuiteContext, runtimeDir: string): Promise<number[]> {
  const pool = createKernelPool({
    size: 1,
    launch: (signal) =>
      launchKernel({ argv: ipykernelArgv(SYSTEM_PYTHON), env: KERNEL_ENV, runtimeDir, signal }),
  });
  pool.start();
  const samples: number[] = [];
  const claimed: KernelClient[] = [];
  try {
    for (let i = -1; i < ctx.runs(15, 1); i++) {
      await pool.whenWarm();
      if (pool.ready < 1) throw new Error('the kernel pool could not warm a kernel');
      const start = performance.now();
      const client = await pool.claim();
      claimed.push(client);
      const result = await client.execute('1+1');
      const elapsed = performance.now() - start;
      expectTwo(result);
      if (i >= 0) samples.push(elapsed);
      // Its replacement is launching meanwhile: the next claim waits for it to be warm.
      await client.shutdown();
    }
  } finally {
    await pool.stop();
    await Promise.all(claimed.map((c) => c.shutdown().catch(() => undefined)));
  }
  return samples;
}

async function cacheMissesAndHits(
  ctx: SuiteContext,
  cache: EnvCache,
  label: string,
  dependencies: string[],
): Promise<{ miss: number[]; hit: number[] }> {
  const miss: number[] = [];
  const runs = ctx.runs(15, 1);
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const { hit } = await cache.get(`${label}-${i}`, { dependencies });
    miss.push(performance.now() - start);
    if (hit) throw new Error('a fresh env hash was a cache hit');
  }
  const hits: number[] = [];
  for (let i = -1; i < ctx.runs(50, 5); i++) {
    const start = performance.now();
    const { hit } = await cache.get(`${label}-0`, { dependencies });
    if (i >= 0) hits.push(performance.now() - start);
    if (!hit) throw new Error('a built env was a cache miss');
  }
  return { miss, hit: hits };
}

async function envCache(ctx: SuiteContext, root: string): Promise<Figure[]> {
  // Inheriting Debian's site-packages (ipykernel included) with --without-pip: the defaults
  // when the base interpreter has ipykernel, and the path that needs no package index.
  const base: EnvBuilderOptions = {
    kind: 'venv',
    basePython: SYSTEM_PYTHON,
    isolation: 'inherit',
    systemSitePackages: true,
    withoutPip: true,
    env: KERNEL_ENV,
  };
  const plain = createEnvCache({
    cacheDir: join(root, 'cache-plain'),
    builder: createEnvBuilder(base),
  });
  const wheelhouse = join(root, 'wheels');
  mkdirSync(wheelhouse);
  buildTinyWheel(wheelhouse);
  const offline = createEnvCache({
    cacheDir: join(root, 'cache-wheel'),
    builder: createEnvBuilder({
      ...base,
      wheelhouse: { findLinks: [wheelhouse] },
      // No index reachable: the install can only come from the wheelhouse.
      env: { ...KERNEL_ENV, PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_FIND_LINKS: '' },
    }),
  });

  const noDeps = await cacheMissesAndHits(ctx, plain, 'plain', []);
  const oneWheel = await cacheMissesAndHits(ctx, offline, 'wheel', ['tinypkg==0.1.0']);
  const python = offline.lookup('wheel-0')?.python;
  if (!python) throw new Error('the wheel env is not in the cache');
  const value = execFileSync(python, ['-c', 'import tinypkg; print(tinypkg.VALUE)'], {
    encoding: 'utf8',
  }).trim();
  if (value !== '42') throw new Error('the wheel env cannot import the installed wheel');

  const plainMiss = figure(SUITE, 'env cache miss: venv, no deps', 'ms', noDeps.miss, {
    note: 'venv --system-site-packages --without-pip + ipykernel import check + atomic rename',
  });
  const wheelMiss = figure(SUITE, 'env cache miss: venv + 1 wheel offline', 'ms', oneWheel.miss, {
    note: 'as above + pip install --no-index --find-links <wheelhouse built in the run>',
  });
  return [
    plainMiss,
    compare(
      figure(SUITE, 'env cache hit: venv, no deps', 'ms', noDeps.hit, {
        note: 'marker read + interpreter check + last-used touch',
      }),
      plainMiss,
    ),
    wheelMiss,
    compare(figure(SUITE, 'env cache hit: venv + 1 wheel offline', 'ms', oneWheel.hit), wheelMiss),
  ];
}

/** Issue 6 "Speed": cold start, warm-pool claim and env cache, against the shared baselines. */
export const kernelsSuite: Suite = {
  name: SUITE,
  async run(ctx) {
    const baselines = await kernelStarts(ctx);
    const root = ctx.tempDir('kernels');
    const runtimeDir = join(root, 'runtime');
    const figures: Figure[] = [...baselines.figures];
    try {
      const coldSamples = baselines.cold;
      const warmSamples = await warm(ctx, runtimeDir);
      const ready = (name: string, note: string) =>
        figure(SUITE, name, 'ms', coldSamples.ready, { note });
      const coldNote =
        'launchKernel on /usr/bin/python3: spawn → kernel_info_reply + iopub live; measured in rounds with the baselines';
      figures.push(
        compare(ready('cold → ready', coldNote), baselines.get(FLOOR), {
          of: 'ratio',
          op: '<=',
          value: 1.15,
        }),
        compare(ready('cold → ready (vs import alone)', coldNote), baselines.get(STRICT_FLOOR), {
          of: 'ratio',
          op: '<=',
          value: 1.15,
        }),
        compare(ready('cold → ready (vs jupyter)', coldNote), baselines.get(JUPYTER_START), {
          of: 'speedup',
          op: '>=',
          value: 1.5,
        }),
        compare(
          figure(SUITE, 'cold → first 1+1', 'ms', coldSamples.first, {
            note: 'launchKernel + execute("1+1")',
          }),
          baselines.get(JUPYTER_FIRST),
        ),
        compare(
          figure(SUITE, 'warm claim → first 1+1', 'ms', warmSamples, {
            note: 'kernel pool of 1: claim (kernel_info re-check) + execute("1+1"); the replacement launches meanwhile',
          }),
          baselines.get(JUPYTER_FIRST),
          { of: 'median', op: '<=', value: 20 },
        ),
      );
      figures.push(...(await envCache(ctx, root)));
    } finally {
      await assertNoneLeft(root, 'kernel');
    }
    return { figures, skipped: baselines.skipped };
  },
};
