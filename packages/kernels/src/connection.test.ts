import {
  chmodSync,
  chownSync,
  mkdirSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createConnectionInfo, writeConnectionFile } from './connection.js';
import { KernelError } from './errors.js';
import { ipykernelArgv, launchKernel } from './launch.js';
import { removeRoot, SYSTEM_PYTHON, tempRoot } from './test-support/helpers.js';

const root = tempRoot('conn');
afterAll(() => removeRoot(root));

function refusal(run: () => unknown): KernelError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KernelError);
    return error as KernelError;
  }
  throw new Error('expected a refusal');
}

describe('runtime dir', () => {
  it('refuses a pre-created symlink (as an attacker would plant in /tmp) and writes nothing', async () => {
    const target = join(root, 'attacker-owned');
    mkdirSync(target, { mode: 0o777 });
    const dir = join(root, 'runyard-kernels-0');
    symlinkSync(target, dir);
    const info = await createConnectionInfo({ runtimeDir: dir });
    const error = refusal(() => writeConnectionFile(dir, info));
    expect(error.code).toBe('runtime_dir_insecure');
    expect(error.message).not.toContain(root);
    expect(readdirSync(target)).toEqual([]);
    // launchKernel surfaces it typed, before any process starts.
    await expect(
      launchKernel({ argv: ipykernelArgv(SYSTEM_PYTHON), runtimeDir: dir }),
    ).rejects.toMatchObject({ code: 'runtime_dir_insecure' });
    expect(readdirSync(target)).toEqual([]);
  });

  it('refuses a directory owned by another user and a file in the way', async () => {
    const info = await createConnectionInfo({ runtimeDir: root });
    const foreign = join(root, 'foreign');
    mkdirSync(foreign, { mode: 0o700 });
    if (process.getuid?.() === 0) {
      chownSync(foreign, 65534, 65534);
      expect(refusal(() => writeConnectionFile(foreign, info)).code).toBe('runtime_dir_insecure');
    }
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    expect(refusal(() => writeConnectionFile(file, info)).code).toBe('runtime_dir_insecure');
  });

  it('tightens our own directory with a loose mode to 0700', async () => {
    const dir = join(root, 'loose');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const info = await createConnectionInfo({ runtimeDir: dir });
    const written = writeConnectionFile(dir, info);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(written).mode & 0o777).toBe(0o600);
  });
});
