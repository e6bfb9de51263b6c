import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findKernelspecs, jupyterDataDirs } from './kernelspec.js';
import { removeRoot, tempRoot } from './test-support/helpers.js';

const root = tempRoot('spec');
afterAll(() => removeRoot(root));

function spec(dir: string, name: string, body: unknown): void {
  mkdirSync(join(dir, 'kernels', name), { recursive: true });
  writeFileSync(
    join(dir, 'kernels', name, 'kernel.json'),
    typeof body === 'string' ? body : JSON.stringify(body),
  );
}

describe('kernelspec discovery', () => {
  it('orders env prefix, JUPYTER_PATH, user dir, system dirs', () => {
    expect(
      jupyterDataDirs({
        envPrefix: '/env',
        env: { JUPYTER_PATH: '/a:/b' },
        home: '/home/u',
        systemDirs: ['/sys'],
      }),
    ).toEqual(['/env/share/jupyter', '/a', '/b', '/home/u/.local/share/jupyter', '/sys']);
  });

  it('lets the env prefix win, skips invalid specs and hostile names', () => {
    const prefix = join(root, 'env');
    const user = join(root, 'user');
    spec(join(prefix, 'share', 'jupyter'), 'python3', {
      argv: ['/env/bin/python', '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
      display_name: 'Env Python',
      language: 'python',
    });
    spec(user, 'python3', { argv: ['/usr/bin/python3'], display_name: 'User Python' });
    spec(user, 'deno', {
      argv: ['deno', 'jupyter', '--kernel', '--conn', '{connection_file}'],
      display_name: 'Deno',
      language: 'typescript',
      interrupt_mode: 'message',
      env: { A: '1' },
    });
    spec(user, 'broken', '{not json');
    spec(user, 'noargv', { display_name: 'x' });
    spec(user, 'proto', '{"argv":["x"],"display_name":"p","env":{"__proto__":{"polluted":"1"}}}');
    mkdirSync(join(user, 'kernels', 'has space'), { recursive: true });
    writeFileSync(
      join(user, 'kernels', 'has space', 'kernel.json'),
      JSON.stringify({ argv: ['x'], display_name: 'y' }),
    );
    symlinkSync('/etc', join(user, 'kernels', 'etc-link'));

    const specs = findKernelspecs({
      envPrefix: prefix,
      env: {},
      home: root,
      dataDirs: undefined,
      systemDirs: [user],
    });
    const byName = Object.fromEntries(specs.map((s) => [s.name, s]));
    expect(Object.keys(byName).sort()).toEqual(['deno', 'proto', 'python3']);
    expect(byName.python3?.displayName).toBe('Env Python');
    expect(byName.deno).toMatchObject({
      interruptMode: 'message',
      env: { A: '1' },
      language: 'typescript',
    });
    expect(byName.python3?.interruptMode).toBe('signal');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
