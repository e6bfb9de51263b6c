import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import {
  dirsUnder,
  plainResult,
  processesMentioning,
  removeRoot,
  runtimeFor,
  SYSTEM_PYTHON,
  tempRoot,
  until,
} from './test-support/helpers.js';

const dirs = dirsUnder(tempRoot('recovery'));
const child = fileURLToPath(new URL('./test-support/crash-child.ts', import.meta.url));
const appDir = fileURLToPath(new URL('..', import.meta.url));

afterAll(() => {
  for (const pid of processesMentioning(dirs.root)) process.kill(pid, 'SIGKILL');
  removeRoot(dirs.root);
});

it('after a crash: orphan kernels and connection files are cleaned, notebooks report not_started', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, dirs.root, SYSTEM_PYTHON], {
    cwd: appDir,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0] as string);
    });
    proc.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  const started = JSON.parse(line) as { notebookId: string; lifecycle: string };
  expect(started.lifecycle).toBe('idle');
  const kernelDir = join(dirs.dataDir, 'kernels');
  // The kernel lives in its own process group: it outlives the crashed runtime.
  expect(processesMentioning(kernelDir).length).toBe(1);
  proc.kill('SIGKILL');
  await new Promise((resolve) => proc.once('exit', resolve));
  expect(processesMentioning(kernelDir).length).toBe(1);
  expect(readdirSync(kernelDir).length).toBeGreaterThan(0);
  // Leftovers of an env build that died mid-way.
  mkdirSync(join(dirs.cacheDir, 'envs', '.tmp-0123456789abcdef-dead'), { recursive: true });
  // An in-place build whose builder died: marker with a dead pid, half-made env.
  mkdirSync(join(dirs.cacheDir, 'envs', 'fedcba9876543210', 'bin'), { recursive: true });
  writeFileSync(
    join(dirs.cacheDir, 'envs', '.fedcba9876543210.building'),
    JSON.stringify({ pid: spawnSync('true').pid }),
  );
  // What a kill during a notebook write leaves (the child was editing when it died), planted
  // too so the check does not depend on where the kill landed; another file's temp is kept.
  writeFileSync(join(dirs.workspaceRoot, '.crash.ipynb.0123abcd.tmp'), '{"half":');
  writeFileSync(join(dirs.workspaceRoot, '.other.ipynb.0123abcd.tmp'), 'not ours');
  mkdirSync(join(dirs.cacheDir, 'claimed', 'abandoned'), { recursive: true });
  writeFileSync(join(dirs.cacheDir, 'claimed', 'abandoned', 'pyvenv.cfg'), '');

  const runtime = await runtimeFor(dirs);
  try {
    expect(processesMentioning(kernelDir)).toEqual([]);
    expect(readdirSync(kernelDir)).toEqual([]);
    expect(readdirSync(join(dirs.cacheDir, 'envs'))).toEqual([]);
    expect(readdirSync(dirs.cacheDir)).not.toContain('claimed');
    expect(readdirSync(dirs.workspaceRoot).filter((name) => name.endsWith('.tmp'))).toEqual([
      '.other.ipynb.0123abcd.tmp',
    ]);
    const listed = await runtime.listNotebooks();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      notebookId: started.notebookId,
      path: 'crash.ipynb',
      lifecycle: 'not_started',
      kernelStatus: null,
    });
    // The child died between edits or in one: whatever it left parses, and without its edit
    // the notebook needs no approval.
    await runtime.manageDependencies(started.notebookId, { remove: ['six'] });
    // Executing starts it again under the same id.
    const result = await runtime.execute(started.notebookId, { code: '1+1' });
    expect(plainResult(result)).toBe('2');
  } finally {
    await runtime.close();
  }
  await until(() => processesMentioning(dirs.root).length === 0, 5000);
  // Two runtimes and two kernels start in sequence: generous on a loaded two-core machine.
}, 90_000);
