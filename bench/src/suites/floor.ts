import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureJupyterClient, SYSTEM_PYTHON } from '../machine.js';
import { figure } from '../report.js';
import { sample } from '../stats.js';
import type { Suite } from '../suite.js';

const QUIET_ENV = { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1' };

function run(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] ?? '', argv.slice(1), {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: QUIET_ENV,
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${argv[0]} exited ${code}`)),
    );
  });
}

/** The floor (bare `import ipykernel.kernelapp`) and Jupyter's own start path. */
export const floorSuite: Suite = {
  name: 'baselines',
  async run(ctx) {
    const figures = [
      figure(
        'baselines',
        'import ipykernel.kernelapp',
        'ms',
        await sample(ctx.runs(15, 3), async () => {
          await run([SYSTEM_PYTHON, '-c', 'import ipykernel.kernelapp']);
        }),
        { note: 'interpreter start + import: the floor for any kernel start' },
      ),
    ];
    const jupyter = ensureJupyterClient();
    if (!jupyter.available) {
      return { figures, skipped: [{ suite: 'baselines', reason: jupyter.note ?? '' }] };
    }
    const script = fileURLToPath(new URL('../baselines/jupyter_client_start.py', import.meta.url));
    const result = JSON.parse(
      await run([SYSTEM_PYTHON, script, String(ctx.runs(15, 2)), 'execute']),
    ) as { start_ms: number[]; first_result_ms: number[] };
    figures.push(
      figure('baselines', 'jupyter_client start_new_kernel', 'ms', result.start_ms, {
        note: 'start_new_kernel + wait_for_ready, timed inside Python',
      }),
      figure('baselines', 'jupyter_client first 1+1', 'ms', result.first_result_ms, {
        note: 'start_new_kernel + wait_for_ready + execute 1+1',
      }),
    );
    return { figures, skipped: [] };
  },
};
