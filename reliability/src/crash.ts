// Part 2: the crash matrix. `kill -9` of the server in the middle of a notebook write, an env
// build, a skills install, a bundle store and an approval; then: was anything acknowledged
// lost, is anything corrupt (notebooks parse, the database passes integrity_check), is there
// litter (temp files) or a stale lock, and did a process of the killed server outlive it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sealBundle } from '@runyard/config-bundles';
import { buildTinyWheel } from '@runyard/testing';
import { api, apiOk } from './http.js';
import { type PartResult, type Row, row } from './report.js';
import type { Context } from './run.js';
import {
  type Dirs,
  descendants,
  killAll,
  makeDirs,
  newToken,
  processesMentioning,
  type Running,
  StartFailed,
  sleep,
  startServer,
} from './server.js';

const PART = 'crash';

// better-sqlite3 through @runyard/sqlite, the very build the server uses.
const requireSqlite = createRequire(
  fileURLToPath(new URL('../../packages/sqlite/package.json', import.meta.url)),
);
type Db = { pragma(s: string, o?: { simple: boolean }): unknown; close(): void };
const Database = requireSqlite('better-sqlite3') as new (file: string) => Db;

export function integrityOk(file: string): string {
  if (!existsSync(file)) return 'missing';
  const db = new Database(file);
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

/** Files under `dir` that look like an interrupted atomic write or install. */
export function litter(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = join(d, e.name);
      if (/\.tmp$|\.tmp[.-]|^\.tmp|\.partial$|\.staging|\.runyard-tmp/i.test(e.name))
        found.push(relative(dir, full));
      if (e.isDirectory() && depth < 6 && e.name !== '.venv') walk(full, depth + 1);
    }
  };
  walk(dir, 0);
  return found;
}

interface Scenario {
  name: string;
  setup?(dirs: Dirs, rounds: number): void;
  args?(dirs: Dirs, round: number): string[];
  /** Runs operations until the server dies; records what was acknowledged. */
  drive(server: Running, round: number, dirs: Dirs): Promise<void>;
  /** Resolves at the moment to kill. */
  killAt(server: Running, round: number): Promise<void>;
  /** After the restart: what acknowledged work is missing or broken. */
  verify(server: Running, round: number, dirs: Dirs): Promise<string[]>;
}

const rand = (min: number, max: number) => min + Math.floor(Math.random() * (max - min));

interface Info {
  notebookId: string;
  lifecycle: string;
  trust: { status: string; fingerprint: string };
}

async function waitSettled(server: Running, id: string, timeoutMs = 120_000): Promise<Info> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await apiOk<Info>(server, 'GET', `/api/notebooks/${id}`);
    if (
      !['resolving', 'preparing_env', 'launching', 'connecting', 'not_started'].includes(
        info.lifecycle,
      )
    )
      return info;
    if (Date.now() > deadline) return info;
    await sleep(200);
  }
}

/** Concurrent dependency edits on one notebook per round. */
function notebookWrite(): Scenario {
  const acked = new Map<string, string[]>();
  // The kill lands while edits are being acknowledged, not during the kernel's start.
  let editing: () => void = () => {};
  let firstEdit = Promise.resolve();
  return {
    name: 'notebook write (dependency edits)',
    async drive(server, r) {
      const path = `w${r}.ipynb`;
      firstEdit = new Promise((resolve) => {
        editing = resolve;
      });
      const info = await apiOk<Info>(server, 'POST', '/api/notebooks', { path });
      const names: string[] = [];
      acked.set(path, names);
      await Promise.all(
        [0, 1, 2, 3].map(async (s) => {
          for (let i = 0; ; i++) {
            const name = `dep-r${r}-s${s}-${i}`;
            const res = await api(
              server,
              'POST',
              `/api/notebooks/${info.notebookId}/dependencies`,
              {
                add: [name],
                apply: 'none',
              },
            );
            if (res.status === 200) {
              names.push(name);
              editing();
            }
          }
        }),
      );
    },
    async killAt() {
      await sleep(50);
      await Promise.race([firstEdit, sleep(60_000)]);
      await sleep(rand(0, 1500));
    },
    async verify(_server, _r, dirs) {
      const problems: string[] = [];
      for (const [path, names] of acked) {
        const file = join(dirs.workspace, path);
        if (!existsSync(file)) {
          if (names.length > 0)
            problems.push(`${path} is gone (${names.length} acknowledged edits)`);
          continue;
        }
        const text = readFileSync(file, 'utf8');
        for (const n of names)
          if (!text.includes(`"${n}"`)) problems.push(`${path}: acknowledged ${n} lost`);
      }
      return problems;
    },
  };
}

/** A venv build from the offline wheelhouse, killed while pip runs. */
function envBuild(): Scenario {
  return {
    name: 'env build (venv + offline wheel)',
    setup(dirs, rounds) {
      for (let r = 0; r < rounds; r++) buildTinyWheel(dirs.wheelhouse, 'tinypkg', `0.1.${r}`);
    },
    async drive(server, r) {
      await api(server, 'POST', '/api/notebooks', {
        path: `env${r}.ipynb`,
        dependencies: [`tinypkg==0.1.${r}`],
      });
    },
    async killAt(server) {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        if (descendants(server.pid).some((p) => / -m pip |\/pip /.test(p.cmdline))) break;
        await sleep(50);
      }
      await sleep(rand(0, 400));
    },
    async verify(server, r, dirs) {
      const path = `env${r}.ipynb`;
      let info: Info;
      if (existsSync(join(dirs.workspace, path))) {
        info = await apiOk<Info>(server, 'POST', '/api/notebooks/open', { path });
      } else {
        info = await apiOk<Info>(server, 'POST', '/api/notebooks', {
          path,
          dependencies: [`tinypkg==0.1.${r}`],
        });
      }
      if (info.lifecycle === 'awaiting_trust')
        info = await apiOk<Info>(server, 'POST', `/api/notebooks/${info.notebookId}/dependencies`, {
          trust: true,
          fingerprint: info.trust.fingerprint,
        });
      info = await waitSettled(server, info.notebookId);
      const result = await api<{ status: string; outputs: unknown[] }>(
        server,
        'POST',
        `/api/notebooks/${info.notebookId}/execute`,
        { code: 'import tinypkg; print(tinypkg.VALUE)' },
      );
      const ok = result.status === 200 && JSON.stringify(result.body).includes('42');
      await api(server, 'DELETE', `/api/notebooks/${info.notebookId}`);
      return ok
        ? []
        : [
            `${path}: env not usable after the restart: ${result.status} ${JSON.stringify(result.body).slice(0, 200)}`,
          ];
    },
  };
}

/** A managed skill installed from a local manifest and tarball, a new version every round. */
function skillsInstall(): Scenario {
  const files = (r: number) => 200 + r;
  let manifest = '';
  return {
    name: 'skills install (local manifest + tarball)',
    args(dirs, r) {
      const src = join(dirs.root, `skill-src-${r}`, 'rel-skill');
      mkdirSync(src, { recursive: true });
      writeFileSync(
        join(src, 'SKILL.md'),
        `---\nname: rel-skill\ndescription: round ${r}\n---\nround ${r}\n`,
      );
      for (let i = 0; i < files(r); i++)
        writeFileSync(join(src, `f${i}.txt`), `round ${r} file ${i}\n`.repeat(50));
      const tarball = join(dirs.root, `rel-skill-${r}.tgz`);
      execFileSync('tar', ['-czf', tarball, '-C', join(dirs.root, `skill-src-${r}`), 'rel-skill']);
      manifest = join(dirs.root, 'manifest.yaml');
      writeFileSync(
        manifest,
        `version: 1\nskills:\n  - name: rel-skill\n    source: { type: tarball, url: "file://${tarball}" }\n`,
      );
      return ['--skills-manifest', manifest];
    },
    async drive() {
      // The reconciler's first pass starts with the server.
    },
    async killAt() {
      await sleep(rand(50, 1200));
    },
    async verify(server, r, dirs) {
      const report = await apiOk(server, 'POST', '/api/skills/reconcile');
      const skill = join(dirs.skillsRoot, 'rel-skill');
      const problems: string[] = [];
      if (!existsSync(join(skill, 'SKILL.md')))
        return [`rel-skill not installed after a pass: ${JSON.stringify(report).slice(0, 400)}`];
      if (!readFileSync(join(skill, 'SKILL.md'), 'utf8').includes(`round ${r}`))
        problems.push('SKILL.md is not this round');
      const count = readdirSync(skill).filter((f) => f.endsWith('.txt')).length;
      if (count !== files(r))
        problems.push(`rel-skill has ${count} files, expected ${files(r)} (a mixed install)`);
      return problems;
    },
  };
}

/** A sealed bundle for workspace `ws-1` with one `echo` profile that echoes `echoed`. */
export function echoBundle(id: string, echoed: string) {
  return sealBundle({
    metadata: {
      id,
      revision: 1,
      workspaceId: 'ws-1',
      createdAt: '2025-01-02T03:04:05Z',
      provenance: { source: 'reliability' },
    },
    profiles: [
      {
        selector: { kind: 'named', value: 'echo' },
        worker: { kind: 'command', argv: ['echo', echoed] },
        grants: [],
      },
    ],
    declarations: [],
  } as unknown as Parameters<typeof sealBundle>[0]);
}

/** Config bundles stored one after another. */
function bundleStore(): Scenario {
  const acked: { id: string; digest: string }[] = [];
  return {
    name: 'config bundle store',
    async drive(server, r) {
      for (let k = 0; ; k++) {
        const bundle = echoBundle(`ws-1.r${r}k${k}`, `${r}-${k}`);
        const res = await api<{ state?: string }>(
          server,
          'POST',
          '/api/runtimes/local/config-bundles',
          { bundle },
        );
        if (res.status === 200 && res.body.state === 'accepted')
          acked.push({ id: bundle.metadata.id, digest: bundle.metadata.digest as string });
        else if (k === 0)
          throw new Error(
            `bundle refused: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`,
          );
      }
    },
    async killAt() {
      await sleep(rand(300, 2000));
    },
    async verify(server) {
      const problems: string[] = [];
      for (const b of acked) {
        const res = await api(
          server,
          'GET',
          `/api/runtimes/local/config-bundles/${b.id}/availability?digest=${b.digest}`,
        );
        if (res.status !== 200)
          problems.push(`bundle ${b.id} acknowledged but ${res.status} after restart`);
      }
      return problems;
    },
  };
}

/** Approvals of notebooks that arrived with unknown dependencies. */
function approval(): Scenario {
  const acked: string[] = [];
  return {
    name: 'dependency approval',
    async drive(server, r, dirs) {
      for (let k = 0; ; k++) {
        const pkg = `apkg-r${r}-k${k}`;
        const path = `a${r}-${k}.ipynb`;
        writeFileSync(
          join(dirs.workspace, path),
          JSON.stringify({
            cells: [],
            metadata: {
              kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
              uv: { dependencies: [pkg] },
            },
            nbformat: 4,
            nbformat_minor: 5,
          }),
        );
        const info = await apiOk<Info>(server, 'POST', '/api/notebooks/open', { path });
        if (info.lifecycle !== 'awaiting_trust')
          throw new Error(`expected awaiting_trust, got ${info.lifecycle}`);
        const res = await api(server, 'POST', `/api/notebooks/${info.notebookId}/dependencies`, {
          trust: true,
          fingerprint: info.trust.fingerprint,
          apply: 'none',
        });
        if (res.status === 200) acked.push(pkg);
        await api(server, 'DELETE', `/api/notebooks/${info.notebookId}`);
      }
    },
    async killAt() {
      await sleep(rand(300, 2500));
    },
    async verify(server) {
      const list = await apiOk<{ packages: { name: string }[] }>(
        server,
        'GET',
        '/api/trust/packages',
      );
      const names = new Set(list.packages.map((p) => p.name));
      return acked
        .filter((p) => !names.has(p))
        .map((p) => `approval of ${p} acknowledged but not in the allowlist`);
    },
  };
}

export async function crashPart(ctx: Context): Promise<PartResult> {
  const rounds = ctx.sizes.rounds ?? (ctx.smoke ? 2 : 20);
  const rows: Row[] = [];
  const examples: { kind: string; detail: string }[] = [];
  const all = [notebookWrite(), envBuild(), skillsInstall(), bundleStore(), approval()];
  const scenarios = process.env.RELIABILITY_SCENARIO
    ? all.filter((s) => s.name.startsWith(process.env.RELIABILITY_SCENARIO as string))
    : all;
  const data: Record<string, unknown> = {};
  // Two scenarios at a time: each has its own root, server and process checks, and much of a
  // round is waiting (a server start, the kill moment), so a second one uses the idle core.
  const rowsOf = new Map<Scenario, Row[]>();
  let nextScenario = 0;
  const worker = async () => {
    while (nextScenario < scenarios.length) {
      const scenario = scenarios[nextScenario++] as Scenario;
      const own: Row[] = [];
      rowsOf.set(scenario, own);
      await runScenario(scenario, own);
    }
  };
  await Promise.all([worker(), worker()]);
  for (const scenario of scenarios) rows.push(...(rowsOf.get(scenario) ?? []));
  return { part: PART, rows, examples, data };

  async function runScenario(scenario: Scenario, rows: Row[]): Promise<void> {
    const root = ctx.tempDir('crash');
    const dirs = makeDirs(root);
    const token = newToken();
    scenario.setup?.(dirs, rounds);
    const tally = {
      lost: 0,
      corrupt: 0,
      litter: 0,
      staleLock: 0,
      orphans: 0,
      orphansAfterRestart: 0,
      failedRestart: 0,
    };
    const started = performance.now();
    for (let r = 0; r < rounds; r++) {
      const args = scenario.args?.(dirs, r) ?? [];
      const server = await startServer(dirs, token, { args });
      const driving = scenario.drive(server, r, dirs).catch(() => {});
      await scenario.killAt(server, r);
      await server.kill9();
      await driving;
      // What the killed server left running (kernels are reaped by the next start; a package
      // installer is not a kernel and must not outlive its server).
      await sleep(300);
      const left = processesMentioning(root).filter((p) => !/ipykernel/.test(p.cmdline));
      if (left.length > 0) {
        tally.orphans++;
        if (examples.length < 30)
          examples.push({
            kind: `${scenario.name} orphan`,
            detail: left
              .map((p) => `${p.pid} ppid ${p.ppid}: ${p.cmdline}`)
              .join('; ')
              .slice(0, 400),
          });
      }
      // Corruption: every notebook parses, the database passes integrity_check.
      for (const f of readdirSync(dirs.workspace).filter((n) => n.endsWith('.ipynb'))) {
        try {
          JSON.parse(readFileSync(join(dirs.workspace, f), 'utf8'));
        } catch {
          tally.corrupt++;
          examples.push({
            kind: `${scenario.name} corrupt`,
            detail: `${f} is not valid JSON after kill -9`,
          });
        }
      }
      const integrity = integrityOk(join(dirs.dataDir, 'runyard.db'));
      if (integrity !== 'ok') {
        tally.corrupt++;
        examples.push({
          kind: `${scenario.name} corrupt`,
          detail: `integrity_check: ${integrity}`,
        });
      }
      let next: Running;
      try {
        next = await startServer(dirs, token, { args });
      } catch (error) {
        tally.failedRestart++;
        if (error instanceof StartFailed && error.output.includes('data_dir_in_use'))
          tally.staleLock++;
        examples.push({
          kind: `${scenario.name} restart`,
          detail:
            String((error as Error).message) + ((error as StartFailed).output ?? '').slice(-400),
        });
        killAll(processesMentioning(root));
        continue;
      }
      try {
        const lost = await scenario.verify(next, r, dirs);
        tally.lost += lost.length;
        for (const l of lost.slice(0, 3))
          examples.push({ kind: `${scenario.name} lost`, detail: l });
        const junk = [
          ...litter(dirs.workspace),
          ...litter(dirs.skillsRoot).map((f) => `skills/${f}`),
        ];
        if (junk.length > 0) {
          tally.litter++;
          examples.push({ kind: `${scenario.name} litter`, detail: junk.slice(0, 5).join(', ') });
        }
      } catch (error) {
        tally.lost++;
        examples.push({
          kind: `${scenario.name} verify`,
          detail: String((error as Error).message).slice(0, 400),
        });
      } finally {
        await next.stop();
      }
      await sleep(300);
      const after = processesMentioning(root);
      if (after.length > 0) {
        tally.orphansAfterRestart++;
        examples.push({
          kind: `${scenario.name} orphan after restart`,
          detail: after
            .map((p) => p.cmdline)
            .join('; ')
            .slice(0, 300),
        });
        killAll(after);
      }
      console.error(`  crash ${scenario.name} round ${r + 1}/${rounds}: ${JSON.stringify(tally)}`);
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    const n = `${rounds} rounds, ${seconds} s`;
    const s = scenario.name;
    rows.push(
      row(PART, `${s}: acknowledged work lost`, tally.lost, tally.lost === 0 ? 'pass' : 'fail', n),
    );
    rows.push(
      row(
        PART,
        `${s}: corrupt notebook or database`,
        tally.corrupt,
        tally.corrupt === 0 ? 'pass' : 'fail',
      ),
    );
    rows.push(
      row(
        PART,
        `${s}: restart refused (stale lock / crash)`,
        tally.failedRestart,
        tally.failedRestart === 0 ? 'pass' : 'fail',
      ),
    );
    // Litter and a surviving installer were issue 15 finding 10: temp files are cleaned at the
    // next start and env-build tools die with the server (setpriv --pdeathsig).
    rows.push(
      row(
        PART,
        `${s}: rounds with temp-file litter`,
        tally.litter,
        tally.litter === 0 ? 'pass' : 'fail',
        'issue 15 finding 10',
      ),
    );
    rows.push(
      row(
        PART,
        `${s}: rounds where a process outlived the killed server`,
        tally.orphans,
        tally.orphans === 0 ? 'pass' : 'fail',
        'issue 15 finding 10 (an installer kept running with parent 1)',
      ),
    );
    rows.push(
      row(
        PART,
        `${s}: processes left after restart + graceful stop`,
        tally.orphansAfterRestart,
        tally.orphansAfterRestart === 0 ? 'pass' : 'fail',
      ),
    );
    data[s] = { rounds, seconds: Number(seconds), ...tally };
  }
}
