import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SYSTEM_PYTHON } from '@runyard/testing';
import { expect } from 'vitest';
import { KernelError } from '../errors.js';

export { buildTinyWheel, SYSTEM_PYTHON } from '@runyard/testing';
export { processesMentioning } from '../process.js';

export function tempRoot(label: string): string {
  return mkdtempSync(join(tmpdir(), `runyard-kernels-${label}-`));
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

/** A venv that cannot import ipykernel (no system site packages, no pip). */
export function bareVenv(dir: string): string {
  execFileSync(SYSTEM_PYTHON, ['-m', 'venv', '--without-pip', dir]);
  return join(dir, 'bin', 'python');
}

/** The KernelError a promise rejects with (fails the test if it resolves or throws anything else). */
export async function rejection(promise: Promise<unknown>): Promise<KernelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KernelError);
  return error as KernelError;
}
