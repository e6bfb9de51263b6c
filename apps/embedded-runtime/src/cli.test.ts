import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  dirArgs,
  dirsUnder,
  processesMentioning,
  removeRoot,
  SYSTEM_PYTHON,
  spawnCli,
  tempRoot,
  until,
} from './test-support/helpers.js';

const dirs = dirsUnder(tempRoot('cli'));

afterAll(() => {
  for (const pid of processesMentioning(dirs.root)) process.kill(pid, 'SIGKILL');
  removeRoot(dirs.root);
});

function serve(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawnCli(args, { ...process.env, ...env });
}

function collect(proc: ChildProcess) {
  const out = { stdout: '', stderr: '' };
  proc.stdout?.on('data', (c: Buffer) => {
    out.stdout += c.toString();
  });
  proc.stderr?.on('data', (c: Buffer) => {
    out.stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  return { out, exited };
}

it('refuses to start without a token or a workspace, or with a bad pool size', async () => {
  const { out, exited } = collect(
    serve(['serve', '--workspace', dirs.workspaceRoot], { RUNYARD_RUNTIME_TOKEN: '' }),
  );
  expect(await exited).toBe(2);
  expect(out.stderr).toContain('--token');
  const second = collect(serve(['serve', '--token', 't']));
  expect(await second.exited).toBe(2);
  expect(second.out.stderr).toContain('--workspace');
  const third = collect(
    serve(['serve', '--token', 't', '--workspace', dirs.workspaceRoot, '--pool-kernels', 'lots']),
  );
  expect(await third.exited).toBe(2);
  expect(third.out.stderr).toContain('--pool-kernels must be 0-16');
});

it('serve listens on a free port, answers /v1 with the token, and stops cleanly', async () => {
  const token = 'test-token-0123456789';
  const proc = serve([
    'serve',
    '--port',
    '0',
    '--token',
    token,
    ...dirArgs(dirs),
    '--python',
    SYSTEM_PYTHON,
  ]);
  const { out, exited } = collect(proc);
  await until(() => out.stdout.includes('\n') || proc.exitCode !== null, 30_000);
  const match = /^Runyard runtime listening on (http:\/\/127\.0\.0\.1:(\d+))\n/.exec(out.stdout);
  expect(match, out.stderr).not.toBeNull();
  const url = (match as RegExpExecArray)[1] as string;
  const denied = await fetch(`${url}/v1/runtime`);
  expect(denied.status).toBe(401);
  const described = await fetch(`${url}/v1/runtime`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(described.status).toBe(200);
  expect(await described.json()).toMatchObject({ id: 'standalone', health: { status: 'ok' } });
  const created = await fetch(`${url}/v1/notebooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ path: '../escape.ipynb' }),
  });
  expect(created.status).toBe(400);
  expect(JSON.stringify(await created.json())).toContain('path_outside_workspace');
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(existsSync(join(dirs.dataDir, 'runyard.db'))).toBe(true);
  expect(processesMentioning(dirs.root)).toEqual([]);
});
