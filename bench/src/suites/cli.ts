import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, type Figure, figure, type Skipped } from '../report.js';
import type { Suite, SuiteContext } from '../suite.js';

const SUITE = 'cli';
const NODE_START = 'node -e 0';
const CLI = fileURLToPath(new URL('../../../apps/workspace-server/dist/cli.js', import.meta.url));

/** Wall milliseconds of one run of `node args`; a non-zero exit other than `okExit` fails the suite. */
function timeRun(args: string[], env: NodeJS.ProcessEnv, okExit: readonly number[] = [0]): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = performance.now() - start;
  if (!okExit.includes(result.status ?? -1)) {
    throw new Error(`node ${args.join(' ')} exited ${result.status}: ${result.stderr.toString()}`);
  }
  return elapsed;
}

/** Milliseconds from spawning `runyard serve` to its first 200 on /healthz. */
async function serveToHealthy(dir: string, env: NodeJS.ProcessEnv): Promise<number> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const start = performance.now();
  const child = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--port',
      String(port),
      '--workspace',
      join(dir, 'ws'),
      '--data-dir',
      join(dir, 'data'),
      '--cache-dir',
      join(dir, 'cache'),
      '--config-dir',
      join(dir, 'config'),
      '--kernel-pool',
      '0',
      '--env-pool',
      '0',
      '--sandbox',
      'off',
    ],
    { env, stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`runyard serve exited ${child.exitCode}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (response.status === 200) return performance.now() - start;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * One-shot CLI commands against Node's own start in the same run (issue 16: each subcommand
 * loads only what it uses), and `runyard serve` from spawn to a 200 on /healthz.
 */
export const cliSuite: Suite = {
  name: SUITE,
  async run(ctx: SuiteContext) {
    const skipped: Skipped[] = [];
    if (!existsSync(CLI)) {
      return {
        figures: [],
        skipped: [{ suite: SUITE, reason: 'apps/workspace-server is not built (pnpm build)' }],
      };
    }
    const root = ctx.tempDir('cli');
    const dirs = ['data', 'cache', 'config', 'ws'].map((d) => join(root, d));
    for (const d of dirs) mkdirSync(d, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: root,
      RUNYARD_DATA_DIR: join(root, 'data'),
      RUNYARD_CACHE_DIR: join(root, 'cache'),
      RUNYARD_CONFIG_DIR: join(root, 'config'),
    };
    const notebook = join(root, 'ws', 'nb.ipynb');
    writeFileSync(
      notebook,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {
          kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
          uv: { dependencies: ['requests>=2'] },
        },
        cells: [],
      }),
    );
    const bundle = join(root, 'bundle.json');
    writeFileSync(
      bundle,
      JSON.stringify({
        metadata: {
          id: 'example',
          revision: 1,
          workspaceId: 'ws',
          createdAt: '2025-01-01T00:00:00Z',
          provenance: { source: 'bench' },
        },
        profiles: [],
        declarations: [],
      }),
    );
    const commands: [string, string[], readonly number[]][] = [
      [NODE_START, ['-e', '0'], [0]],
      ['runyard detect --json', [CLI, 'detect', notebook, '--json'], [0]],
      ['runyard bundle digest', [CLI, 'bundle', 'digest', bundle], [0]],
      // Exit 3: the notebook's dependency needs approval, which is the answer being timed.
      ['runyard trust status', [CLI, 'trust', 'status', notebook], [0, 3]],
    ];
    const samples = new Map<string, number[]>(commands.map(([name]) => [name, []]));
    // Interleaved rounds, so a change in the machine's load touches every command alike.
    const rounds = ctx.runs(10, 3);
    for (let round = -1; round < rounds; round++) {
      for (const [name, args, ok] of commands) {
        const ms = timeRun(args, env, ok);
        if (round >= 0) samples.get(name)?.push(ms);
      }
    }
    const nodeFigure = figure(SUITE, NODE_START, 'ms', samples.get(NODE_START) ?? []);
    const figures: Figure[] = [nodeFigure];
    for (const [name] of commands.slice(1)) {
      figures.push(
        compare(figure(SUITE, name, 'ms', samples.get(name) ?? []), nodeFigure, {
          of: 'ratio',
          op: '<=',
          value: 2,
        }),
      );
    }
    const serveSamples: number[] = [];
    for (let i = 0; i < ctx.runs(5, 1); i++) {
      serveSamples.push(await serveToHealthy(ctx.tempDir('cli-serve'), env));
    }
    figures.push(
      compare(
        figure(SUITE, 'runyard serve → 200 /healthz (pools off)', 'ms', serveSamples),
        undefined,
        { of: 'median', op: '<=', value: 500 },
      ),
    );
    return { figures, skipped };
  },
};
