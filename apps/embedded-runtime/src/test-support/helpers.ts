import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { processesMentioning } from '@runyard/kernels';
import type { RuntimeEvent } from '@runyard/runtime-registry';
import { SYSTEM_PYTHON, until } from '@runyard/testing';
import { createRuntime, type Runtime, type RuntimeOptions } from '../runtime.js';

export { processesMentioning } from '@runyard/kernels';
export { buildTinyWheel, SYSTEM_PYTHON, until } from '@runyard/testing';

export function tempRoot(label: string): string {
  return mkdtempSync(join(tmpdir(), `runyard-runtime-${label}-`));
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

export interface Dirs {
  root: string;
  dataDir: string;
  cacheDir: string;
  configDir: string;
  workspaceRoot: string;
  wheelhouse: string;
}

export function dirsUnder(root: string): Dirs {
  const dirs = {
    root,
    dataDir: join(root, 'data'),
    cacheDir: join(root, 'cache'),
    configDir: join(root, 'config'),
    workspaceRoot: join(root, 'ws'),
    wheelhouse: join(root, 'wheels'),
  };
  mkdirSync(dirs.workspaceRoot, { recursive: true });
  mkdirSync(dirs.wheelhouse, { recursive: true });
  return dirs;
}

/**
 * A runtime on Debian's python, no pools, an offline wheelhouse (when `dirs` has one): nothing
 * touches the network.
 * Unsandboxed unless a test asks: these suites pin the unsandboxed contract (sandbox.test.ts
 * covers the sandbox).
 */
export function runtimeFor(
  dirs: Pick<Dirs, 'dataDir' | 'cacheDir' | 'configDir' | 'workspaceRoot'> & {
    wheelhouse?: string;
  },
  overrides: Partial<RuntimeOptions> = {},
): Promise<Runtime> {
  return createRuntime({
    dataDir: dirs.dataDir,
    cacheDir: dirs.cacheDir,
    configDir: dirs.configDir,
    workspaceRoot: dirs.workspaceRoot,
    python: SYSTEM_PYTHON,
    pool: { envs: 0, kernels: 0 },
    ...(dirs.wheelhouse === undefined ? {} : { wheelhouse: { findLinks: [dirs.wheelhouse] } }),
    sandbox: 'off',
    ...overrides,
  });
}

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));
const APP_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** `runyard-runtime <args>` as a child process from source; `env` replaces the inherited one. */
export function spawnCli(
  args: string[],
  env?: NodeJS.ProcessEnv,
): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: APP_DIR,
    ...(env === undefined ? {} : { env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The CLI flags that point a runtime at `dirs`. */
export function dirArgs(
  dirs: Pick<Dirs, 'workspaceRoot' | 'dataDir' | 'cacheDir' | 'configDir'>,
): string[] {
  return [
    '--workspace',
    dirs.workspaceRoot,
    '--data-dir',
    dirs.dataDir,
    '--cache-dir',
    dirs.cacheDir,
    '--config-dir',
    dirs.configDir,
  ];
}

/**
 * A suite's teardown: closes its runtime, waits until nothing started under the temp root still
 * runs (every kernel's connection file lives there), then removes the root.
 */
export async function closeAndRemove(runtime: Runtime | undefined, dirs: Dirs): Promise<void> {
  await runtime?.close();
  await until(() => processesMentioning(dirs.root).length === 0, 5000);
  removeRoot(dirs.root);
}

/** Resolves with the first event matching `predicate` (bounded wait). */
export function nextEvent<E extends RuntimeEvent>(
  runtime: Runtime,
  predicate: (event: RuntimeEvent) => event is E,
  timeoutMs?: number,
): Promise<E>;
export function nextEvent(
  runtime: Runtime,
  predicate: (event: RuntimeEvent) => boolean,
  timeoutMs?: number,
): Promise<RuntimeEvent>;
export function nextEvent(
  runtime: Runtime,
  predicate: (event: RuntimeEvent) => boolean,
  timeoutMs = 20_000,
): Promise<RuntimeEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('timed out waiting for an event'));
    }, timeoutMs);
    const off = runtime.subscribe((event) => {
      if (!predicate(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

/** The text/plain of an execute result (e.g. `'2'`). */
export function plainResult(result: { outputs: { output_type: string }[] }): string | undefined {
  for (const output of result.outputs) {
    if (output.output_type === 'execute_result') {
      const data = (output as unknown as { data: Record<string, unknown> }).data;
      return data['text/plain'] as string;
    }
  }
  return undefined;
}

/** A notebook as a browser download would have it: cells, outputs, deps nobody here approved. */
export function downloadedNotebook(dependencies: string[]): string {
  return `${JSON.stringify(
    {
      cells: [
        {
          cell_type: 'code',
          execution_count: 3,
          id: 'c1',
          metadata: { scrolled: true },
          outputs: [
            {
              data: { 'text/plain': ['2'] },
              execution_count: 3,
              metadata: {},
              output_type: 'execute_result',
            },
          ],
          source: ['1 + 1'],
        },
      ],
      metadata: {
        kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' },
        uv: { dependencies },
        vendor_extension: { keep: ['me', 1] },
      },
      nbformat: 4,
      nbformat_minor: 5,
    },
    null,
    1,
  )}\n`;
}
