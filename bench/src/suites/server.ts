import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { JUPYTER_FIRST, JupyterStarter, KERNEL_ENV } from '../baselines/kernel-start.js';
import { ensureJupyterClient, SYSTEM_PYTHON } from '../machine.js';
import { assertNoneLeft } from '../processes.js';
import { compare, type Figure, figure, type Skipped } from '../report.js';
import type { ChildOptions } from '../server/child.js';
import { api, apiOk, load } from '../server/http.js';
import {
  rssMiB,
  type ServerProcess,
  ServerUnavailable,
  startServerProcess,
} from '../server/process.js';
import { summarize } from '../stats.js';
import type { Suite, SuiteContext } from '../suite.js';

const SUITE = 'server';

/** The slice of the runtime info shape (issue 8 / @runyard/runtime-registry) the suite reads. */
interface RuntimeInfo {
  notebookId: string;
  lifecycle: string;
  error?: { reason: string; details: string };
}

interface PoolSide {
  size: number;
  ready: number;
  warming: number;
  failures: number;
}

interface ExecuteResult {
  status: string;
  outputs: { output_type: string; data?: Record<string, unknown> }[];
}

/** A route the suite needs is missing: the server on this branch predates issue 8's API. */
class ApiMissing extends Error {
  override readonly name = 'ApiMissing';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function expectTwo(result: ExecuteResult): void {
  const output = result.outputs.find((o) => o.output_type === 'execute_result');
  if (result.status !== 'ok' || output?.data?.['text/plain'] !== '2') {
    throw new Error(`1+1 over REST did not give 2: ${JSON.stringify(result)}`);
  }
}

async function startWorkspace(
  root: string,
  label: string,
  pools: { kernelPool: number; envPool: number },
): Promise<ServerProcess> {
  const dir = join(root, label);
  const dirs = {
    workspace: join(dir, 'workspace'),
    dataDir: join(dir, 'data'),
    cacheDir: join(dir, 'cache'),
    configDir: join(dir, 'config'),
    home: join(dir, 'home'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const options: ChildOptions = { mode: 'workspace', python: SYSTEM_PYTHON, ...dirs, ...pools };
  const server = await startServerProcess(options, KERNEL_ENV);
  const probe = await api(server, 'GET', '/api/pool');
  if (probe.status === 404) {
    await server.stop();
    throw new ApiMissing(
      'the workspace server on this branch has no /api/pool or /api/notebooks routes yet (issue 8 not merged)',
    );
  }
  return server;
}

/** Waits until both pools are full and nothing is warming, so a measurement runs on a quiet server. */
async function poolQuiet(server: ServerProcess, timeoutMs = 180_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const pool = await apiOk<{ envPool: PoolSide; kernelPool: PoolSide }>(
      server,
      'GET',
      '/api/pool',
    );
    const full = (side: PoolSide) => side.ready >= side.size && side.warming === 0;
    if (full(pool.envPool) && full(pool.kernelPool)) return;
    if (performance.now() > deadline)
      throw new Error(`the server's pools did not warm up: ${JSON.stringify(pool)}`);
    await sleep(50);
  }
}

async function openNotebook(server: ServerProcess): Promise<RuntimeInfo> {
  const response = await api(server, 'POST', '/api/notebooks', {});
  if (response.status === 404) throw new ApiMissing('POST /api/notebooks is not routed');
  if (response.status !== 201)
    throw new Error(`POST /api/notebooks → ${response.status}: ${JSON.stringify(response.body)}`);
  const info = response.body as RuntimeInfo;
  if (info.lifecycle !== 'idle')
    throw new Error(`a new notebook came back ${info.lifecycle}: ${JSON.stringify(info)}`);
  return info;
}

async function execute(server: ServerProcess, id: string): Promise<void> {
  expectTwo(
    await apiOk<ExecuteResult>(server, 'POST', `/api/notebooks/${id}/execute`, { code: '1+1' }),
  );
}

/** POST /api/notebooks then POST /api/notebooks/:id/execute `1+1`, end to end over HTTP. */
async function firstResult(server: ServerProcess): Promise<number> {
  const start = performance.now();
  const info = await openNotebook(server);
  await execute(server, info.notebookId);
  const elapsed = performance.now() - start;
  await apiOk(server, 'DELETE', `/api/notebooks/${info.notebookId}`);
  return elapsed;
}

async function timeToFirstResult(
  ctx: SuiteContext,
  root: string,
  warm: ServerProcess,
  cold: ServerProcess,
): Promise<{ figures: Figure[]; skipped: Skipped[] }> {
  const skipped: Skipped[] = [];
  const jupyterAvailable = ensureJupyterClient();
  if (!jupyterAvailable.available)
    skipped.push({ suite: SUITE, reason: jupyterAvailable.note ?? 'jupyter_client missing' });
  const jupyter = jupyterAvailable.available
    ? new JupyterStarter(join(root, 'jupyter-runtime'))
    : undefined;
  const warmSamples: number[] = [];
  const coldSamples: number[] = [];
  const jupyterSamples: number[] = [];
  const quiet = () => Promise.all([poolQuiet(warm), poolQuiet(cold)]);
  try {
    // Interleaved rounds (round -1 warms up), each on quiet servers: see kernel-start.ts.
    for (let round = ctx.smoke ? 0 : -1; round < ctx.runs(15, 1); round++) {
      await quiet();
      const w = await firstResult(warm);
      await quiet();
      const c = await firstResult(cold);
      await quiet();
      const j = await jupyter?.start();
      if (round < 0) continue;
      warmSamples.push(w);
      coldSamples.push(c);
      if (j) jupyterSamples.push(j.first_result_ms);
    }
  } finally {
    await jupyter?.close();
  }
  const baseline = jupyter
    ? figure(SUITE, `${JUPYTER_FIRST} (server rounds)`, 'ms', jupyterSamples, {
        note: 'start_new_kernel + wait_for_ready + execute_interactive("1+1") in a warm Python process, in the same rounds',
      })
    : undefined;
  const warmNote =
    'POST /api/notebooks + POST /api/notebooks/:id/execute 1+1 over loopback HTTP; kernel pool 1, env pool 2 (defaults)';
  const warmFigure = (name: string) => figure(SUITE, name, 'ms', warmSamples, { note: warmNote });
  return {
    figures: [
      ...(baseline ? [baseline] : []),
      compare(warmFigure('REST first 1+1, warm pool'), baseline, {
        of: 'median',
        op: '<=',
        value: 30,
      }),
      compare(warmFigure('REST first 1+1, warm pool (vs jupyter)'), baseline, {
        of: 'speedup',
        op: '>=',
        value: 20,
      }),
      compare(
        figure(SUITE, 'REST first 1+1, cold (env cached)', 'ms', coldSamples, {
          note: 'same requests; kernel pool 0, env pool 2: a prewarmed env, a cold kernel launch',
        }),
        baseline,
      ),
    ],
    skipped,
  };
}

async function throughput(
  ctx: SuiteContext,
  root: string,
  server: ServerProcess,
): Promise<Figure[]> {
  const info = await openNotebook(server);
  const path = `/api/notebooks/${info.notebookId}/runtime`;
  // The baseline returns the very object the real route returns, so both put the same bytes
  // on the wire and the ratio is the cost of everything else (auth, routing, schemas, runtime).
  const body = await apiOk<unknown>(server, 'GET', path);
  const bare = await startServerProcess(
    {
      body,
      mode: 'bare',
      workspace: root,
      dataDir: root,
      cacheDir: root,
      configDir: root,
      home: root,
      python: SYSTEM_PYTHON,
      kernelPool: 0,
      envPool: 0,
    },
    KERNEL_ENV,
  );
  const connections = 50;
  const durationMs = ctx.smoke ? 1000 : 10_000;
  const rates = { bare: [] as number[], runyard: [] as number[] };
  const p99 = { bare: [] as number[], runyard: [] as number[] };
  try {
    await poolQuiet(server);
    const run = async (target: ServerProcess, record?: 'bare' | 'runyard') => {
      const result = await load({
        url: target.url,
        token: target.token,
        path,
        connections,
        durationMs: record ? durationMs : 1000,
      });
      if (result.errors > 0 || result.requests === 0)
        throw new Error(`${result.errors} of ${result.requests} requests failed on ${target.url}`);
      if (!record) return;
      rates[record].push(...result.perSecond);
      p99[record].push(summarize(result.latencies).p99);
    };
    // A second of each first, unrecorded (JIT), then alternating rounds: see kernel-start.ts.
    if (!ctx.smoke) {
      await run(bare);
      await run(server);
    }
    for (let round = 0; round < ctx.runs(3, 1); round++) {
      await run(bare, 'bare');
      await run(server, 'runyard');
    }
  } finally {
    await bare.stop();
  }
  const note = `${connections} keep-alive connections, ${durationMs / 1000} s per round, raw-socket closed-loop generator in the bench process; samples are per-second rates`;
  const bareRate = figure(SUITE, 'bare Fastify constant JSON', 'req/s', rates.bare, {
    note: `fastify (the version @runyard/http uses), one GET route returning a constant object: the runtime info the real route returned, same bytes; ${note}`,
  });
  const bareP99 = figure(SUITE, 'bare Fastify p99 latency', 'ms', p99.bare, {
    note: 'p99 of every request in a round; one sample per round',
  });
  return [
    bareRate,
    // A throughput ratio is inverted: more is better, so the target is on the speedup.
    compare(
      figure(SUITE, 'GET /api/notebooks/:id/runtime', 'req/s', rates.runyard, {
        note: `workspace server, bearer auth, zod response schema; ${note}`,
      }),
      bareRate,
      { of: 'ratio', op: '>=', value: 0.5 },
    ),
    bareP99,
    compare(
      figure(SUITE, 'GET /api/notebooks/:id/runtime p99 latency', 'ms', p99.runyard, {
        note: 'p99 of every request in a round; one sample per round',
      }),
      bareP99,
    ),
  ];
}

/** Five RSS readings 100 ms apart: median with min/max like every other figure. */
async function rssSamples(
  pid: number,
): Promise<{ self: number[]; tree: number[]; processes: number }> {
  const self: number[] = [];
  const tree: number[] = [];
  let processes = 0;
  for (let i = 0; i < 5; i++) {
    const rss = rssMiB(pid);
    self.push(rss.self);
    tree.push(rss.tree);
    processes = rss.processes;
    await sleep(100);
  }
  return { self, tree, processes };
}

async function memory(ctx: SuiteContext, root: string): Promise<Figure[]> {
  const server = await startWorkspace(root, 'memory', { kernelPool: 1, envPool: 2 });
  try {
    await poolQuiet(server);
    // A few requests first so the idle figure includes the route compilation a live server has.
    await apiOk(server, 'GET', '/api/notebooks');
    const idle = await rssSamples(server.pid);
    const count = ctx.smoke ? 2 : 10;
    for (let i = 0; i < count; i++) {
      const info = await openNotebook(server);
      await execute(server, info.notebookId);
    }
    await poolQuiet(server);
    const open = await rssSamples(server.pid);
    const name = (what: string) => `server RSS ${what}`;
    return [
      figure(SUITE, name('idle, kernels excluded'), 'MiB', idle.self, {
        note: 'the server process alone (Node + Fastify + SQLite + runtime), pools warm, no notebook',
      }),
      figure(SUITE, name('idle, kernels included'), 'MiB', idle.tree, {
        note: `with every descendant: the pooled kernel (${idle.processes} processes)`,
      }),
      figure(SUITE, name(`${count} notebooks open, kernels excluded`), 'MiB', open.self, {
        note: `${count} notebooks created over REST, 1+1 run in each`,
      }),
      figure(SUITE, name(`${count} notebooks open, kernels included`), 'MiB', open.tree, {
        note: `with every descendant: ${count} notebook kernels + the refilled pool kernel (${open.processes} processes)`,
      }),
    ];
  } finally {
    await server.stop();
  }
}

async function scale(ctx: SuiteContext, root: string): Promise<Figure[]> {
  const count = ctx.smoke ? 3 : 50;
  const server = await startWorkspace(root, 'scale', { kernelPool: 2, envPool: 2 });
  let peakTree = 0;
  let peakSelf = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const rss = rssMiB(server.pid);
      peakTree = Math.max(peakTree, rss.tree);
      peakSelf = Math.max(peakSelf, rss.self);
      await sleep(100);
    }
  })();
  try {
    await poolQuiet(server);
    const start = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: count }, async () => {
        const response = await api(server, 'POST', '/api/notebooks', {});
        if (response.status !== 201)
          throw new Error(`${response.status}: ${JSON.stringify(response.body)}`);
        let info = response.body as RuntimeInfo;
        // Anything not yet idle is polled until it settles (the create normally waits for idle).
        while (!['idle', 'error', 'shutdown'].includes(info.lifecycle)) {
          await sleep(100);
          info = await apiOk<RuntimeInfo>(
            server,
            'GET',
            `/api/notebooks/${info.notebookId}/runtime`,
          );
        }
        if (info.lifecycle !== 'idle')
          throw new Error(
            `${info.lifecycle}: ${info.error?.reason ?? ''} ${info.error?.details ?? ''}`,
          );
        return info;
      }),
    );
    const elapsed = performance.now() - start;
    const failures = results.filter((r) => r.status === 'rejected');
    for (const failure of failures.slice(0, 3))
      console.error('scale: a notebook failed:', (failure as PromiseRejectedResult).reason);
    const note = `${count} POST /api/notebooks at once, kernel pool 2, env pool 2; one run (n=1)`;
    return [
      figure(SUITE, `scale: ${count} notebooks → all idle`, 'ms', [elapsed], { note }),
      compare(
        figure(SUITE, `scale: ${count} notebooks, failures`, 'count', [failures.length], { note }),
        undefined,
        { of: 'median', op: '<=', value: 0 },
      ),
      figure(SUITE, `scale: ${count} notebooks, peak RSS incl. kernels`, 'MiB', [peakTree], {
        note: 'server + every descendant, sampled every 100 ms',
      }),
      figure(SUITE, `scale: ${count} notebooks, peak RSS server alone`, 'MiB', [peakSelf], {
        note: 'the server process, sampled every 100 ms',
      }),
    ];
  } finally {
    sampling = false;
    await sampler;
    // Shutting 50 kernels down on 2 cores takes a while.
    await server.stop(120_000);
  }
}

/** Issue 9 §1, 4, 6, 7: the workspace server over real HTTP on loopback. */
export const serverSuite: Suite = {
  name: SUITE,
  async run(ctx) {
    const root = ctx.tempDir('server');
    const figures: Figure[] = [];
    const skipped: Skipped[] = [];
    const started: ServerProcess[] = [];
    try {
      const servers = await Promise.allSettled([
        startWorkspace(root, 'warm', { kernelPool: 1, envPool: 2 }),
        startWorkspace(root, 'cold', { kernelPool: 0, envPool: 2 }),
      ]);
      for (const s of servers) if (s.status === 'fulfilled') started.push(s.value);
      const [warm, cold] = servers.map((s) => {
        if (s.status === 'rejected') throw s.reason;
        return s.value;
      }) as [ServerProcess, ServerProcess];
      const ttfr = await timeToFirstResult(ctx, root, warm, cold);
      figures.push(...ttfr.figures);
      skipped.push(...ttfr.skipped);
      await cold.stop();
      figures.push(...(await throughput(ctx, root, warm)));
      await warm.stop();
      figures.push(...(await memory(ctx, root)));
      figures.push(...(await scale(ctx, root)));
    } catch (error) {
      if (!(error instanceof ServerUnavailable || error instanceof ApiMissing)) throw error;
      skipped.push({ suite: SUITE, reason: error.message });
    } finally {
      await Promise.all(started.map((s) => s.stop()));
      await assertNoneLeft(root, 'server or kernel');
    }
    return { figures, skipped };
  },
};
