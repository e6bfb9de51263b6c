import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RuntimeError, type RuntimeInfo, RuntimeInfoSchema } from '@runyard/runtime-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from './runtime.js';
import {
  closeAndRemove,
  type Dirs,
  dirsUnder,
  runtimeFor,
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
    expect(info.error?.details).toMatch(/^[^()]*\(exit code \d+\)$/);
    expect(info.nextAction?.kind).toBe('restart_kernel');
    const refused = await runtime
      .execute(info.notebookId, { code: '1' })
      .catch((e: unknown) => e as RuntimeError);
    expect((refused as RuntimeError).code).toBe('notebook_not_ready');
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
