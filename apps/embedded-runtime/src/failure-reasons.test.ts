import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { classifyKernelExit, hideHostPaths } from '@runyard/kernels';
import { type RuntimeError, type RuntimeInfo, RuntimeInfoSchema } from '@runyard/runtime-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureReason } from './notebooks.js';
import type { Runtime } from './runtime.js';
import {
  closeAndRemove,
  type Dirs,
  dirsUnder,
  runtimeFor,
  SYSTEM_PYTHON,
  tempRoot,
} from './test-support/helpers.js';

let dirs: Dirs;
let runtime: Runtime;

beforeAll(async () => {
  dirs = dirsUnder(tempRoot('failures'));
  runtime = await runtimeFor(dirs);
});

afterAll(() => closeAndRemove(runtime, dirs));

const EMPTY_NOTEBOOK = JSON.stringify({ cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5 });

/** An `error` runtime info: the one shape, a typed reason, details that name no host path. */
function expectFailure(info: RuntimeInfo, reason: string): void {
  expect(RuntimeInfoSchema.parse(info)).toEqual(info);
  expect(info.lifecycle).toBe('error');
  expect(info.kernelStatus).toBeNull();
  expect(info.error?.reason).toBe(reason);
  expect(info.error?.details).not.toContain(dirs.root);
}

describe('a notebook that cannot start reports a typed reason', () => {
  it('env_build_failed for a dependency no package source has, with a restart nextAction', async () => {
    const info = await runtime.createNotebook({
      path: 'unbuildable.ipynb',
      dependencies: ['runyard-no-such-package'],
    });
    expectFailure(info, 'env_build_failed');
    // pip's own words say why; the whole output is in a file under the data dir it names.
    const details = info.error?.details ?? '';
    expect(details).toMatch(
      /^pip install failed \(exit code 1\): .*ERROR: No matching distribution found for runyard-no-such-package \(full output: logs\/notebook-[\w-]+\.log in the data dir\)$/,
    );
    expect(details).not.toMatch(/(^|[\s'"(=])\/(?!\/)/);
    const logFile = join(dirs.dataDir, /full output: (\S+)/.exec(details)?.[1] ?? 'missing');
    expect(statSync(logFile).mode & 0o777).toBe(0o600);
    const log = readFileSync(logFile, 'utf8');
    expect(log).toContain('ERROR: No matching distribution found for runyard-no-such-package');
    expect(log.split('\n').length).toBeGreaterThan(details.split(' | ').length);
    expect(info.nextAction?.kind).toBe('restart_kernel');
    const refused = await runtime
      .execute(info.notebookId, { code: '1' })
      .catch((e: unknown) => e as RuntimeError);
    expect((refused as RuntimeError).code).toBe('notebook_not_ready');
  });

  it('missing_ipykernel: a real interpreter without ipykernel says why, without the host path', () => {
    // A venv without ipykernel (and without the system site-packages), started as a kernel is.
    const bare = join(dirs.root, 'bare-venv');
    execFileSync(SYSTEM_PYTHON, ['-m', 'venv', '--without-pip', bare]);
    const run = spawnSync(join(bare, 'bin', 'python'), ['-m', 'ipykernel_launcher'], {
      encoding: 'utf8',
    });
    const error = classifyKernelExit(
      { code: run.status, signal: run.signal },
      run.stderr.split('\n').filter((line) => line !== ''),
    );
    expect(error.code).toBe('missing_ipykernel');
    const failure = failureReason(error, {
      hide: (text) => hideHostPaths(text, [{ path: dirs.root, label: '<root>' }]),
      logFile: 'logs/notebook-x.log',
    });
    expect(failure.reason).toBe('missing_ipykernel');
    expect(failure.details).toMatch(
      /^The interpreter cannot import ipykernel \(exit code 1\): .*No module named ipykernel_launcher \(full output: logs\/notebook-x\.log in the data dir\)$/,
    );
    expect(failure.details).not.toContain(dirs.root);
  });

  it('notebook_invalid, project_file_invalid and conda_env_yml_missing', async () => {
    writeFileSync(join(dirs.workspaceRoot, 'broken.ipynb'), '{"cells": [');
    expectFailure(await runtime.openNotebook('broken.ipynb'), 'notebook_invalid');

    mkdirSync(join(dirs.workspaceRoot, 'proj'));
    writeFileSync(join(dirs.workspaceRoot, 'proj', 'pyproject.toml'), '[project\nname = 1\n');
    writeFileSync(join(dirs.workspaceRoot, 'proj', 'nb.ipynb'), EMPTY_NOTEBOOK);
    expectFailure(await runtime.openNotebook('proj/nb.ipynb'), 'project_file_invalid');

    mkdirSync(join(dirs.workspaceRoot, 'conda'));
    writeFileSync(
      join(dirs.workspaceRoot, 'conda', 'environment.yml'),
      'name: runyard-no-such-env\ndependencies:\n  - numpy\n',
    );
    writeFileSync(join(dirs.workspaceRoot, 'conda', 'nb.ipynb'), EMPTY_NOTEBOOK);
    expectFailure(await runtime.openNotebook('conda/nb.ipynb'), 'conda_env_yml_missing');
  });
});
