// Issue 15 finding 10: after `kill -9` of the server during an env build, `pip install` kept
// running with parent 1. A real pip install against a package index that never answers stands
// in for a long build; the process that started it is killed with SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON, until } from '@runyard/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dieWithParentPrefix, processesMentioning, runCommand } from './process.js';

const child = fileURLToPath(new URL('./test-support/run-child.ts', import.meta.url));
const packageDir = fileURLToPath(new URL('..', import.meta.url));
let index: Server;
const sockets: Socket[] = [];
let port = 0;

beforeAll(async () => {
  // Accepts and never answers: pip waits on it for as long as its timeout says.
  index = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => index.listen(0, '127.0.0.1', resolve));
  port = (index.address() as { port: number }).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => index.close(() => resolve()));
});

it('issue 15 #10: pip install dies with the process that ran it (kill -9), no orphan', async () => {
  expect(dieWithParentPrefix()[0]).toMatch(/setpriv$/);
  const marker = `http://127.0.0.1:${port}/stalled-index-${process.pid}/simple`;
  const argv = [
    SYSTEM_PYTHON,
    '-m',
    'pip',
    'install',
    '--no-cache-dir',
    '--isolated',
    '--index-url',
    marker,
    '--timeout',
    '600',
    '--target',
    `/tmp/runyard-never-${process.pid}`,
    'sixish',
  ];
  const proc: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', child, JSON.stringify(argv)],
    {
      cwd: packageDir,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: '/tmp',
        PIP_CONFIG_FILE: '/dev/null',
      },
    },
  );
  try {
    // pip is running and has reached the index (which holds it there).
    await until(() => processesMentioning(marker).length > 0 && sockets.length > 0, 60_000);
    proc.kill('SIGKILL');
    // Gone (or a zombie awaiting its reaper), not running on with parent 1.
    await until(() => processesMentioning(marker).length === 0, 20_000);
  } finally {
    proc.kill('SIGKILL');
    for (const pid of processesMentioning(marker)) process.kill(pid, 'SIGKILL');
  }
}, 90_000);

it('a program that does not exist still fails to start (not an exit status)', async () => {
  await expect(runCommand(['/nonexistent/runyard-prog'])).rejects.toMatchObject({ code: 'ENOENT' });
});
