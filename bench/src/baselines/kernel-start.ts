import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

export interface KernelStartBaselines {
  figures: Figure[];
  skipped: Skipped[];
  get(name: string): Figure | undefined;
}

function run(argv: string[], env: NodeJS.ProcessEnv = KERNEL_ENV): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] ?? '', argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${argv[0]} exited ${code}: ${err}`)),
    );
  });
}

async function timed(argv: string[]): Promise<number> {
  const start = performance.now();
  await run(argv);
  return performance.now() - start;
}

async function measure(ctx: SuiteContext): Promise<KernelStartBaselines> {
  // Both floors alternate so machine load drifting during the run hits them alike.
  const floor: number[] = [];
  const strict: number[] = [];
  const plain = [SYSTEM_PYTHON, '-c', 'import ipykernel.kernelapp'];
  // Python's teardown after this import takes a few hundred ms that no kernel start waits for.
  const noTeardown = [SYSTEM_PYTHON, '-c', 'import os, ipykernel.kernelapp; os._exit(0)'];
  await timed(plain);
  await timed(noTeardown);
  for (let i = 0; i < ctx.runs(15, 3); i++) {
    floor.push(await timed(plain));
    strict.push(await timed(noTeardown));
  }
  const figures: Figure[] = [
    figure(BASELINE_SUITE, FLOOR, 'ms', floor, {
      note: 'spawn → exit of the bare import: the floor as the issue defines it (includes interpreter teardown)',
    }),
    figure(BASELINE_SUITE, STRICT_FLOOR, 'ms', strict, {
      note: 'spawn → exit of `import ipykernel.kernelapp; os._exit(0)`: the import alone, a stricter floor',
    }),
  ];
  const skipped: Skipped[] = [];
  const jupyter = ensureJupyterClient();
  if (!jupyter.available) {
    skipped.push({ suite: BASELINE_SUITE, reason: jupyter.note ?? 'jupyter_client missing' });
  } else {
    const runtimeDir = ctx.tempDir('jupyter-runtime');
    const script = fileURLToPath(new URL('./jupyter_client_start.py', import.meta.url));
    const result = JSON.parse(
      await run([SYSTEM_PYTHON, script, String(ctx.runs(15, 2)), 'execute'], {
        ...KERNEL_ENV,
        JUPYTER_RUNTIME_DIR: runtimeDir,
      }),
    ) as { start_ms: number[]; first_result_ms: number[] };
    await assertNoneLeft(runtimeDir, 'jupyter_client kernel');
    figures.push(
      figure(BASELINE_SUITE, JUPYTER_START, 'ms', result.start_ms, {
        note: 'start_new_kernel + wait_for_ready, timed inside a warmed-up Python process',
      }),
      figure(BASELINE_SUITE, JUPYTER_FIRST, 'ms', result.first_result_ms, {
        note: 'start_new_kernel + wait_for_ready + execute_interactive("1+1")',
      }),
    );
  }
  return { figures, skipped, get: (name) => figures.find((f) => f.name === name) };
}

/** The kernel-start baselines, measured once per run whichever suite asks first. */
export function kernelStartBaselines(ctx: SuiteContext): Promise<KernelStartBaselines> {
  return ctx.shared('kernel-start-baselines', () => measure(ctx));
}
