// Issue 15 findings 5, 6 and 7 against the real `runyard serve` process with `--sandbox off`:
// what an unsandboxed kernel can reach (the server's environment, the token file), output
// floods, and secrets printed in pieces on /api/events. Real ipykernel, real HTTP, real
// WebSocket.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processesMentioning } from '@runyard/kernels';
import { type CollectedProcess, spawnNode, until, untilStarted } from '@runyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SYSTEM_PYTHON, tempDir } from './test-support/harness.js';

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const appDir = fileURLToPath(new URL('..', import.meta.url));
const SECRET = 'worker-secret-value-0123456789';
const GH = `ghp_${'A1b2C3d4'.repeat(5)}`;

let dir: string;
let server: CollectedProcess;
let url = '';
let token = '';

beforeAll(async () => {
  dir = tempDir('runyard-attack-');
  for (const sub of ['workspace', 'data', 'cache', 'config', 'skills']) mkdirSync(join(dir, sub));
  server = spawnNode(
    [
      '--import',
      'tsx',
      cli,
      'serve',
      '--port',
      '0',
      '--log-level',
      'warn',
      '--sandbox',
      'off',
      '--output-budget',
      String(1024 * 1024),
      '--max-kernels',
      '1',
      '--kernel-pool',
      '0',
      '--env-pool',
      '0',
      '--python',
      SYSTEM_PYTHON,
      ...['workspace', 'data', 'cache', 'config'].flatMap((name) => [
        `--${name === 'workspace' ? 'workspace' : `${name}-dir`}`,
        join(dir, name),
      ]),
      '--skills-root',
      join(dir, 'skills'),
    ],
    {
      cwd: appDir,
      // The secret is in the server's environment, as an operator would set it.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, RUNYARD_SECRET_GH: SECRET },
    },
  );
  await untilStarted(server);
  url = /Runyard listening on (\S+)/.exec(server.stdout)?.[1] ?? '';
  token = readFileSync(join(dir, 'data', 'token'), 'utf8').trim();
}, 90_000);

afterAll(async () => {
  if (server.proc.exitCode === null) {
    server.proc.kill('SIGTERM');
    await server.exited;
  }
  expect(processesMentioning(dir)).toEqual([]);
  rmSync(dir, { recursive: true, force: true });
});

function api(path: string, json?: unknown) {
  return fetch(`${url}${path}`, {
    method: json === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
}

let notebookId = '';

describe('issue 15 finding 5: --sandbox off', () => {
  it('is loud: a start-up warning, /healthz and every RuntimeInfo say the sandbox is off', async () => {
    expect(server.stderr).toContain('WARNING: the sandbox is OFF');
    const health = (await (await fetch(`${url}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', sandbox: 'off' });
    expect(String(health.warning)).toContain('unconfined');
    const created = await api('/api/notebooks', { path: 'probe.ipynb' });
    expect(created.status).toBe(201);
    const info = (await created.json()) as { notebookId: string; sandbox?: string };
    expect(info.sandbox).toBe('off');
    notebookId = info.notebookId;
  });

  it('attack: the kernel reads /proc/<ppid>/environ and the token file; neither the secret nor the token reaches an output', async () => {
    const result = await api(`/api/notebooks/${notebookId}/execute`, {
      code: [
        'import os',
        "raw = open(f'/proc/{os.getppid()}/environ', 'rb').read()",
        "open('environ.bin', 'wb').write(raw)",
        `print(raw.decode('latin1').replace(chr(0), chr(10)))`,
        `print(open(${JSON.stringify(join(dir, 'data', 'token'))}).read())`,
      ].join('\n'),
    });
    expect(result.status).toBe(200);
    const text = await result.text();
    // The kernel's parent really is the server, and it really did not keep the value.
    const environ = readFileSync(join(dir, 'workspace', 'environ.bin'), 'latin1');
    expect(environ).toContain('RUNYARD_SECRET_GH=');
    expect(environ).not.toContain(SECRET);
    expect(text).not.toContain(SECRET);
    // The token file is readable without the sandbox (documented), but never printable.
    expect(text).not.toContain(token);
    expect(text).toContain('[REDACTED:RUNYARD_API_TOKEN]');
  });
});

describe('issue 15 finding 7: secrets printed in pieces over /api/events', () => {
  it('attack: the token split across three flushed writes (stdout and stderr) and a ghp_ token never reach a subscriber', async () => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/api/events?topics=outputs`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const messages: string[] = [];
    ws.on('message', (data) => messages.push(String(data)));
    await until(() => messages.length > 0, 30_000);
    const result = await api(`/api/notebooks/${notebookId}/execute`, {
      code: [
        'import sys, time',
        `tok = open(${JSON.stringify(join(dir, 'data', 'token'))}).read().strip()`,
        `gh = ${JSON.stringify(GH)}`,
        'for stream, part in ((sys.stdout, tok[:10]), (sys.stderr, tok[10:30]), (sys.stdout, tok[30:] + " ")):',
        '    stream.write(part); stream.flush(); time.sleep(0.3)',
        'for part in (gh[:9], gh[9:25], gh[25:]):',
        '    sys.stdout.write(part); sys.stdout.flush(); time.sleep(0.3)',
        'print(" END-OF-RUN")',
      ].join('\n'),
    });
    const body = await result.text();
    expect(body).not.toContain(GH);
    await until(() => messages.some((m) => m.includes('END-OF-RUN')), 30_000);
    ws.close();
    const outputs = messages.filter((m) => m.includes('"output"'));
    // stdout and stderr stay separate events (the redaction stream holds text back until a
    // value could no longer be split, so the pieces arrive joined, redacted).
    expect(outputs.length).toBeGreaterThanOrEqual(2);
    const joined = outputs.join('\n');
    expect(joined).not.toContain(token);
    expect(joined).not.toContain(GH);
    for (const piece of [token.slice(0, 10), GH.slice(0, 9), GH.slice(9, 25)])
      expect(joined).not.toContain(piece);
    expect(joined).toContain('[REDACTED:RUNYARD_API_TOKEN]');
    expect(joined).toContain('[REDACTED:github_token]');
  });
});

describe('issue 15 finding 6: floods and the kernel cap through the server', () => {
  it('attack: a 200 MB print answers a bounded body with a marker, and the notebook keeps working', async () => {
    const flooded = await api(`/api/notebooks/${notebookId}/execute`, {
      code: 'import sys\nfor _ in range(20):\n    sys.stdout.write("z" * 10_000_000); sys.stdout.flush()',
    });
    expect(flooded.status).toBe(200);
    const body = await flooded.text();
    expect(body.length).toBeLessThan(2 * 1024 * 1024);
    const result = JSON.parse(body) as { status: string; truncated?: { budgetBytes: number } };
    expect(result.status).toBe('ok');
    expect(result.truncated?.budgetBytes).toBe(1024 * 1024);
    expect(body).toContain('output truncated');
    const next = await api(`/api/notebooks/${notebookId}/execute`, { code: 'print(6 * 7)' });
    expect(await next.json()).toMatchObject({ status: 'ok', outputs: [{ text: '42\n' }] });
  });

  it('attack: a kernel past --max-kernels is refused with 429 too_many_kernels', async () => {
    const second = await api('/api/notebooks', { path: 'second.ipynb' });
    expect(second.status).toBe(429);
    expect(await second.json()).toMatchObject({ error: { code: 'too_many_kernels' } });
    const shutdown = await fetch(`${url}/api/notebooks/${notebookId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(shutdown.status).toBe(200);
    const third = await api('/api/notebooks', { path: 'second.ipynb' });
    expect(third.status).toBe(201);
  });
});
