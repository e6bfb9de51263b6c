import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePython, resolvePython } from './python.js';
import { SYSTEM_PYTHON } from './test-support/harness.js';

let dir: string;
let noIpykernel: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'runyard-python-'));
  // A real interpreter-like program whose ipykernel probe fails (exit 3), like a bare pyenv.
  noIpykernel = join(dir, 'python3');
  writeFileSync(noIpykernel, '#!/bin/sh\nexit 3\n');
  chmodSync(noIpykernel, 0o755);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('resolvePython', () => {
  it('probes candidates and takes the first with ipykernel, skipping the rest', async () => {
    const python = await resolvePython({
      env: { PATH: dir },
      candidates: [join(dir, 'missing'), noIpykernel, SYSTEM_PYTHON],
    });
    expect(python).toMatchObject({
      python: SYSTEM_PYTHON,
      source: 'candidate',
      hasIpykernel: true,
    });
    expect(describePython(python)).toBe(`Python: ${SYSTEM_PYTHON} (ipykernel found)`);
  });

  it('never takes PATH luck: a python3 first on PATH without ipykernel is not picked', async () => {
    const python = await resolvePython({ env: { PATH: `${dir}:/usr/bin:/bin` } });
    expect(python.python).toBe(SYSTEM_PYTHON);
  });

  it('the configured interpreter wins and is checked; a missing ipykernel is said clearly', async () => {
    const python = await resolvePython({ configured: noIpykernel, env: {} });
    expect(python).toMatchObject({ python: noIpykernel, source: 'config', hasIpykernel: false });
    expect(describePython(python)).toMatch(/^WARNING: the configured Python .* has no ipykernel/);
  });

  it('without any ipykernel candidate it warns; without any interpreter it fails typed', async () => {
    const fallback = await resolvePython({ env: {}, candidates: [noIpykernel] });
    expect(fallback.hasIpykernel).toBe(false);
    expect(describePython(fallback)).toContain('no Python with ipykernel was found');
    await expect(resolvePython({ env: {}, candidates: [join(dir, 'nope')] })).rejects.toMatchObject(
      { code: 'python_not_found' },
    );
  });
});
