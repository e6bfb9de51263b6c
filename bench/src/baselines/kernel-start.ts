import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type ExecuteResult, ipykernelArgv, launchKernel } from '@runyard/kernels';
import { ensureJupyterClient, SYSTEM_PYTHON } from '../machine.js';
import { assertNoneLeft } from '../processes.js';
import { type Figure, figure, type Skipped } from '../report.js';
import type { SuiteContext } from '../suite.js';

/**
 * One environment for every Python process on either side of a comparison. The variable only
 * silences debugpy's frozen-modules warning (ipykernel imports debugpy unconditionally).
 */
export const KERNEL_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  PYDEVD_DISABLE_FILE_VALIDATION: '1',
};

export const BASELINE_SUITE = 'baselines';

export const FLOOR = 'python -c "import ipykernel.kernelapp"';
export const STRICT_FLOOR = 'import ipykernel.kernelapp, no teardown';
export const JUPYTER_START = 'jupyter_client start_new_kernel';
export const JUPYTER_FIRST = 'jupyter_client first 1+1';

export interface KernelStarts {
  /** The baseline figures (floors and jupyter_client), reported by the `baselines` suite. */
  figures: Figure[];
  skipped: Skipped[];
  get(name: string): Figure | undefined;
  /** Runyard's cold starts, measured in the same rounds as the baselines. */
  cold: { ready: number[]; first: number[] };
}

/** A benchmark that measured a wrong answer measured nothing. */
export function expectTwo(result: ExecuteResult): void {
  const output = result.outputs.find((o) => o.output_type === 'execute_result');
  const text = output && 'data' in output ? output.data['text/plain'] : undefined;
  if (result.status !== 'ok' || text !== '2') {
    throw new Error(`1+1 did not give 2: ${JSON.stringify(result)}`);
  }
}

function run(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] ?? '', argv.slice(1), {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: KERNEL_ENV,
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${argv[0]} exited ${code}: ${err}`)),
    );
  });
}

async function timed(argv: string[]): Promise<number> {
  const start = performance.now();
  await run(argv);
  return performance.now() - start;
}

/** A warm Python process running jupyter_client starts on request. */
export class JupyterStarter {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: ((line: string) => void)[] = [];
  private stderr = '';
  private readonly exited: Promise<number | null>;

  constructor(runtimeDir: string) {
    const script = fileURLToPath(new URL('./jupyter_client_start.py', import.meta.url));
    this.child = spawn(SYSTEM_PYTHON, [script], {
      env: { ...KERNEL_ENV, JUPYTER_RUNTIME_DIR: runtimeDir },
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => this.pending.shift()?.(line));
    this.exited = new Promise((resolve) => this.child.on('exit', resolve));
  }

  async start(): Promise<{ start_ms: number; first_result_ms: number }> {
    const line = new Promise<string>((resolve) => this.pending.push(resolve));
    this.child.stdin.write('start\n');
    const exit = this.exited.then((code) => {
      throw new Error(`the jupyter_client baseline exited ${code}: ${this.stderr}`);
    });
    return JSON.parse(await Promise.race([line, exit])) as {
      start_ms: number;
      first_result_ms: number;
    };
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
    this.lines.close();
  }
}

async function runyardCold(runtimeDir: string): Promise<{ ready: number; first: number }> {
  const start = performance.now();
  const client = await launchKernel({
    argv: ipykernelArgv(SYSTEM_PYTHON),
    env: KERNEL_ENV,
    runtimeDir,
  });
  const ready = performance.now() - start;
  try {
    const result = await client.execute('1+1');
    const first = performance.now() - start;
    expectTwo(result);
    return { ready, first };
  } finally {
    await client.shutdown();
  }
}

/**
 * Measures every kernel start in rounds: each round runs the bare import, the import without
 * teardown, a Runyard cold launch and a jupyter_client start back to back. On a shared 2-core
 * machine the load drifts within seconds; interleaving makes every ratio compare starts that
 * ran under the same load, which separate blocks of runs did not (ratios swung 1.0-2.5×).
 */
async function measure(ctx: SuiteContext): Promise<KernelStarts> {
  const root = ctx.tempDir('kernel-start');
  const plain = [SYSTEM_PYTHON, '-c', 'import ipykernel.kernelapp'];
  // Python's teardown after this import takes a few hundred ms that no kernel start waits for.
  const noTeardown = [SYSTEM_PYTHON, '-c', 'import os, ipykernel.kernelapp; os._exit(0)'];
  const skipped: Skipped[] = [];
  const jupyterAvailable = ensureJupyterClient();
  if (!jupyterAvailable.available) {
    skipped.push({
      suite: BASELINE_SUITE,
      reason: jupyterAvailable.note ?? 'jupyter_client missing',
    });
  }
  const jupyter = jupyterAvailable.available
    ? new JupyterStarter(`${root}/jupyter-runtime`)
    : undefined;
  const floor: number[] = [];
  const strict: number[] = [];
  const jStart: number[] = [];
  const jFirst: number[] = [];
  const ready: number[] = [];
  const first: number[] = [];
  try {
    // Round -1 warms everything up (page cache, zeromq's native module, Python's imports).
    for (let round = ctx.smoke ? 0 : -1; round < ctx.runs(15, 1); round++) {
      const f = await timed(plain);
      const s = await timed(noTeardown);
      const r = await runyardCold(`${root}/runtime`);
      const j = await jupyter?.start();
      if (round < 0) continue;
      floor.push(f);
      strict.push(s);
      ready.push(r.ready);
      first.push(r.first);
      if (j) {
        jStart.push(j.start_ms);
        jFirst.push(j.first_result_ms);
      }
    }
  } finally {
    await jupyter?.close();
    await assertNoneLeft(root, 'kernel');
  }
  const figures: Figure[] = [
    figure(BASELINE_SUITE, FLOOR, 'ms', floor, {
      note: 'spawn → exit of the bare import: the floor as the issue defines it (includes interpreter teardown)',
    }),
    figure(BASELINE_SUITE, STRICT_FLOOR, 'ms', strict, {
      note: 'spawn → exit of `import ipykernel.kernelapp; os._exit(0)`: the import alone, a stricter floor',
    }),
  ];
  if (jupyter) {
    figures.push(
      figure(BASELINE_SUITE, JUPYTER_START, 'ms', jStart, {
        note: 'start_new_kernel + wait_for_ready, timed inside a warm Python process',
      }),
      figure(BASELINE_SUITE, JUPYTER_FIRST, 'ms', jFirst, {
        note: 'start_new_kernel + wait_for_ready + execute_interactive("1+1")',
      }),
    );
  }
  return {
    figures,
    skipped,
    get: (name) => figures.find((f) => f.name === name),
    cold: { ready, first },
  };
}

/** The kernel-start rounds, measured once per run whichever suite asks first. */
export function kernelStarts(ctx: SuiteContext): Promise<KernelStarts> {
  return ctx.shared('kernel-starts', () => measure(ctx));
}
