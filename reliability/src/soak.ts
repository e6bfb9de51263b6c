// Part 3: the soak. N notebooks executing in loops, M WebSocket subscribers on /api/events,
// a skills reconcile loop; the server's RSS and open fds sampled over time, and the latency of
// executes and /healthz in the first and the last window of the run.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { api } from './http.js';
import { type PartResult, type Row, row } from './report.js';
import type { Context } from './run.js';
import {
  makeDirs,
  newToken,
  openFds,
  processesMentioning,
  rssMiB,
  sleep,
  startServer,
} from './server.js';

const PART = 'soak';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

interface Sample {
  t: number;
  rss: number;
  fds: number;
  kernels: number;
}

export async function soakPart(ctx: Context): Promise<PartResult> {
  const config: { notebooks: number; subscribers: number; durationMs: number; windowMs: number } =
    ctx.smoke
      ? { notebooks: 3, subscribers: 20, durationMs: 40_000, windowMs: 10_000 }
      : { notebooks: 50, subscribers: 200, durationMs: 600_000, windowMs: 60_000 };
  if (ctx.sizes.notebooks !== undefined) config.notebooks = ctx.sizes.notebooks;
  if (ctx.sizes.subscribers !== undefined) config.subscribers = ctx.sizes.subscribers;
  if (ctx.sizes.durationS !== undefined) {
    config.durationMs = ctx.sizes.durationS * 1000;
    config.windowMs = Math.min(config.windowMs, config.durationMs / 4);
  }
  const rows: Row[] = [];
  const examples: { kind: string; detail: string }[] = [];
  const root = ctx.tempDir('soak');
  const dirs = makeDirs(root);
  // A local skills manifest: the reconcile loop has real work to compare every pass.
  const src = join(root, 'skill-src', 'soak-skill');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'SKILL.md'), '---\nname: soak-skill\ndescription: soak\n---\nsoak\n');
  const tarball = join(root, 'soak-skill.tgz');
  execFileSync('tar', ['-czf', tarball, '-C', join(root, 'skill-src'), 'soak-skill']);
  const manifest = join(root, 'manifest.yaml');
  writeFileSync(
    manifest,
    `version: 1\nskills:\n  - name: soak-skill\n    source: { type: tarball, url: "file://${tarball}" }\n`,
  );
  const server = await startServer(dirs, newToken(), { args: ['--skills-manifest', manifest] });
  const errors = new Map<string, number>();
  const fail = (kind: string, detail: string) => {
    errors.set(kind, (errors.get(kind) ?? 0) + 1);
    if (examples.filter((e) => e.kind === kind).length < 3)
      examples.push({ kind, detail: detail.slice(0, 300) });
  };
  const sockets: WebSocket[] = [];
  let wsMessages = 0;
  let wsUnexpectedClose = 0;
  let stopping = false;
  const data: Record<string, unknown> = {};
  try {
    // Kernels first (each one is a real ipykernel; on 2 cores they start one after another).
    const ids: string[] = [];
    const createStart = performance.now();
    for (let i = 0; i < config.notebooks; i++) {
      const res = await api<{ notebookId?: string; lifecycle?: string }>(
        server,
        'POST',
        '/api/notebooks',
        {
          path: `soak${i}.ipynb`,
        },
      );
      if (res.status === 201 && res.body.notebookId) ids.push(res.body.notebookId);
      else {
        fail('create', `${res.status} ${JSON.stringify(res.body)}`);
        break;
      }
    }
    const createS = (performance.now() - createStart) / 1000;
    rows.push(
      row(
        PART,
        'notebooks (real ipykernel) running',
        `${ids.length} of ${config.notebooks}`,
        ids.length === config.notebooks ? 'pass' : 'fail',
        `started in ${createS.toFixed(0)} s`,
      ),
    );
    for (let i = 0; i < config.subscribers; i++) {
      const ws = new WebSocket(
        `${server.url.replace('http', 'ws')}/api/events?topics=lifecycle,outputs,env,skills,workers`,
        {
          headers: { authorization: `Bearer ${server.token}` },
        },
      );
      ws.on('message', () => {
        wsMessages++;
      });
      ws.on('close', (code) => {
        if (!stopping) {
          wsUnexpectedClose++;
          fail('ws-close', `subscriber closed ${code}`);
        }
      });
      ws.on('error', () => {});
      sockets.push(ws);
      await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    }
    const t0 = performance.now();
    const deadline = t0 + config.durationMs;
    const latencies: { t: number; ms: number; kind: string }[] = [];
    const samples: Sample[] = [];
    const loops: Promise<void>[] = [];
    for (const id of ids)
      loops.push(
        (async () => {
          for (let n = 0; performance.now() < deadline; n++) {
            const start = performance.now();
            const res = await api<{ status?: string }>(
              server,
              'POST',
              `/api/notebooks/${id}/execute`,
              {
                code: `x = sum(range(20000)); print(${n}, x)`,
              },
            );
            latencies.push({ t: start - t0, ms: performance.now() - start, kind: 'execute' });
            if (res.status !== 200 || res.body.status !== 'ok')
              fail('execute', `${res.status} ${JSON.stringify(res.body)}`);
            await sleep(200);
          }
        })().catch((error) => fail('execute', String(error))),
      );
    loops.push(
      (async () => {
        while (performance.now() < deadline) {
          const res = await api(server, 'POST', '/api/skills/reconcile');
          if (res.status !== 200) fail('reconcile', `${res.status} ${JSON.stringify(res.body)}`);
          await sleep(2000);
        }
      })().catch((error) => fail('reconcile', String(error))),
    );
    loops.push(
      (async () => {
        while (performance.now() < deadline) {
          const start = performance.now();
          const res = await api(server, 'GET', '/healthz');
          latencies.push({ t: start - t0, ms: performance.now() - start, kind: 'healthz' });
          if (res.status !== 200) fail('healthz', String(res.status));
          await sleep(500);
        }
      })().catch((error) => fail('healthz', String(error))),
    );
    loops.push(
      (async () => {
        while (performance.now() < deadline) {
          samples.push({
            t: Math.round((performance.now() - t0) / 1000),
            rss: rssMiB(server.pid) ?? 0,
            fds: openFds(server.pid) ?? 0,
            kernels: processesMentioning(root).filter((p) => /ipykernel/.test(p.cmdline)).length,
          });
          await sleep(ctx.smoke ? 3000 : 10_000);
        }
      })(),
    );
    await Promise.all(loops);
    const crashed = !server.alive();
    rows.push(
      row(
        PART,
        'server crashed',
        crashed ? 1 : 0,
        crashed ? 'fail' : 'pass',
        `${(config.durationMs / 1000).toFixed(0)} s soak`,
      ),
    );
    // Growth from the first sample (all kernels and subscribers up) to the last.
    const first = samples[0];
    const last = samples[samples.length - 1];
    if (first && last) {
      const rssGrowth = last.rss - first.rss;
      const fdGrowth = last.fds - first.fds;
      const peak = Math.max(...samples.map((s) => s.rss));
      rows.push(
        row(
          PART,
          'server RSS first → last sample (peak)',
          `${first.rss.toFixed(0)} → ${last.rss.toFixed(0)} MiB (${rssGrowth >= 0 ? '+' : ''}${rssGrowth.toFixed(0)}; peak ${peak.toFixed(0)})`,
          rssGrowth < 100 ? 'pass' : 'fail',
          'bar: growth < 100 MiB',
        ),
      );
      rows.push(
        row(
          PART,
          'server open fds first → last sample',
          `${first.fds} → ${last.fds} (${fdGrowth >= 0 ? '+' : ''}${fdGrowth})`,
          fdGrowth < 20 ? 'pass' : 'fail',
          'bar: growth < 20',
        ),
      );
    }
    for (const kind of ['execute', 'healthz']) {
      const window = (from: number, to: number) =>
        latencies
          .filter((l) => l.kind === kind && l.t >= from && l.t < to)
          .map((l) => l.ms)
          .sort((a, b) => a - b);
      const early = window(0, config.windowMs);
      const late = window(config.durationMs - config.windowMs, config.durationMs);
      const total = latencies.filter((l) => l.kind === kind).length;
      const fmt = (xs: number[]) =>
        `p50 ${percentile(xs, 50).toFixed(1)} / p99 ${percentile(xs, 99).toFixed(1)} ms`;
      rows.push(
        row(
          PART,
          `${kind} latency first vs last ${config.windowMs / 1000} s`,
          `${fmt(early)} → ${fmt(late)}`,
          'info',
          `${total} calls`,
        ),
      );
    }
    rows.push(
      row(
        PART,
        'WebSocket subscribers / messages received',
        `${sockets.length} / ${wsMessages}`,
        'info',
      ),
    );
    rows.push(
      row(
        PART,
        'subscribers dropped by the server',
        wsUnexpectedClose,
        wsUnexpectedClose === 0 ? 'pass' : 'fail',
      ),
    );
    for (const kind of ['create', 'execute', 'reconcile', 'healthz'])
      rows.push(
        row(
          PART,
          `failed ${kind} calls`,
          errors.get(kind) ?? 0,
          (errors.get(kind) ?? 0) === 0 ? 'pass' : 'fail',
        ),
      );
    data.samples = samples;
    data.config = config;
  } finally {
    stopping = true;
    for (const ws of sockets) ws.close();
    await server.stop();
    await sleep(500);
    const left = processesMentioning(root);
    rows.push(
      row(
        PART,
        'processes left after a graceful stop',
        left.length,
        left.length === 0 ? 'pass' : 'fail',
      ),
    );
  }
  return { part: PART, rows, examples, data };
}
