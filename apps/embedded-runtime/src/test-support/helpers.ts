import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuntimeEvent } from '@runyard/runtime-registry';
import { createRuntime, type Runtime, type RuntimeOptions } from '../runtime.js';

/** Debian's interpreter: has ipykernel, venv and pip (never rely on PATH luck). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export { processesMentioning } from '../recovery.js';

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
 * A runtime on Debian's python, no pools, an offline wheelhouse: nothing touches the network.
 * Unsandboxed unless a test asks: these suites pin the unsandboxed contract (sandbox.test.ts
 * covers the sandbox).
 */
export function runtimeFor(dirs: Dirs, overrides: Partial<RuntimeOptions> = {}): Promise<Runtime> {
  return createRuntime({
    dataDir: dirs.dataDir,
    cacheDir: dirs.cacheDir,
    configDir: dirs.configDir,
    workspaceRoot: dirs.workspaceRoot,
    python: SYSTEM_PYTHON,
    pool: { envs: 0, kernels: 0 },
    wheelhouse: { findLinks: [dirs.wheelhouse] },
    sandbox: 'off',
    ...overrides,
  });
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

/** Polls `check` until it returns true (bounded). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A minimal pure-Python wheel (zip + dist-info + RECORD) built by hand: no index needed. */
export function buildTinyWheel(dir: string, name = 'tinypkg', version = '0.1.0'): string {
  const script = `
import base64, hashlib, sys, zipfile
out, name, version = sys.argv[1], sys.argv[2], sys.argv[3]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": "VALUE = 42\\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: runyard-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
for path, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\\n".join(record) + "\\n"
with zipfile.ZipFile(out, "w") as z:
    for path, text in files.items():
        z.writestr(path, text)
`;
  const file = join(dir, `${name}-${version}-py3-none-any.whl`);
  execFileSync(SYSTEM_PYTHON, ['-c', script, file, name, version]);
  return file;
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
