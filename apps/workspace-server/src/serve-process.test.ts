// The `runyard` CLI as real processes: `serve` (startup lines, REST with the generated token,
// the CLI's --json against it, SIGTERM stops every kernel) and `mcp` over stdio with the MCP
// SDK's client (headless flow (a): a notebook with a dependency executes).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { processesMentioning } from '@runyard/kernels';
import { buildTinyWheel, spawnNode, until, untilStarted } from '@runyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './test-support/cli.js';
import { SYSTEM_PYTHON, tempDir } from './test-support/harness.js';

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
// tsx resolves the workspace packages from source through this app's tsconfig paths.
const appDir = fileURLToPath(new URL('..', import.meta.url));

let dir: string;

beforeAll(() => {
  dir = tempDir('runyard-proc-');
  mkdirSync(join(dir, 'wheels'));
  buildTinyWheel(join(dir, 'wheels'), 'stdiopkg');
});

afterAll(async () => {
  // Whatever a failed test left behind: nothing this file started may outlive it.
  for (const pid of processesMentioning(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Every directory of one server under `root`, as flags; nothing under the real home. */
function dirFlags(root: string): string[] {
  return [
    '--workspace',
    join(root, 'workspace'),
    '--data-dir',
    join(root, 'data'),
    '--cache-dir',
    join(root, 'cache'),
    '--config-dir',
    join(root, 'config'),
    '--skills-root',
    join(root, 'skills'),
    '--python',
    SYSTEM_PYTHON,
    '--kernel-pool',
    '0',
    '--env-pool',
    '0',
    '--wheelhouse',
    join(dir, 'wheels'),
  ];
}

function childEnv(root: string): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root };
}

describe('runyard serve as a process', () => {
  let proc: ChildProcess;
  let stdout = '';
  let stderr = '';
  const root = () => join(dir, 'serve');

  it('prints the startup lines, serves REST with the generated token, stops on SIGTERM', async () => {
    mkdirSync(root());
    proc = spawn(
      process.execPath,
      ['--import', 'tsx', cli, 'serve', '--port', '0', '--log-level', 'warn', ...dirFlags(root())],
      { cwd: appDir, env: childEnv(root()), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    await until(() => stdout.includes('Python:') || proc.exitCode !== null, 60_000);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Runyard listening on http:\/\/127\.0\.0\.1:\d+$/);
    const tokenFile = join(root(), 'data', 'token');
    expect(lines[1]).toBe(`API token: cat ${tokenFile}`);
    expect(lines[2]).toBe(`Python: ${SYSTEM_PYTHON} (ipykernel found, configured)`);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const url = lines[0]?.replace('Runyard listening on ', '') as string;
    const token = readFileSync(tokenFile, 'utf8').trim();
    const api = (path: string, json?: unknown) =>
      fetch(`${url}${path}`, {
        method: json === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });

    const created = await api('/api/notebooks', { path: 'tour.ipynb' });
    expect(created.status).toBe(201);
    const createdInfo = (await created.json()) as { notebookId: string; lifecycle: string };
    // On failure the diff shows the notebook's `error` (reason and details).
    expect(createdInfo).toMatchObject({ lifecycle: 'idle' });
    const { notebookId } = createdInfo;
    const executed = await api(`/api/notebooks/${notebookId}/execute`, { code: '1+1' });
    expect(await executed.json()).toMatchObject({
      status: 'ok',
      outputs: [{ output_type: 'execute_result', data: { 'text/plain': '2' } }],
    });
    // A kernel is running for this server's data dir.
    expect(processesMentioning(join(root(), 'data')).length).toBeGreaterThan(0);

    // Node's fetch uploading 20 MiB (past the 1 MiB limit) to a server in another process reads
    // the 413 every time: the server drains the refused body instead of resetting the upload.
    const oversized = JSON.stringify({ path: 'big.ipynb', padding: 'x'.repeat(20 * 1024 * 1024) });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const refused = await fetch(`${url}/api/notebooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: oversized,
      });
      statuses.push(refused.status);
      expect(await refused.json()).toMatchObject({ error: { code: 'body_too_large' } });
    }
    expect(statuses).toEqual(Array(10).fill(413));

    // The CLI against the running server, token from the data dir, --json parsed.
    const status = await runCli(
      ['skills', 'status', '--json', '--url', url, '--data-dir', join(root(), 'data')],
      { cwd: root() },
    );
    expect(status.code).toBe(0);
    expect(status.json()).toMatchObject({ policy: 'user-choice', stopped: false });
    const packages = await runCli(
      ['trust', 'packages', '--json', '--data-dir', join(root(), 'data')],
      { cwd: root() },
    );
    expect(packages.code).toBe(0);
    expect(packages.json<{ packages: unknown[] }>().packages.length).toBeGreaterThan(0);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toContain('Received SIGTERM: stopping kernels and workers');
    expect(stderr).not.toContain(token);
    expect(stdout).not.toContain(token);
    await until(() => processesMentioning(root()).length === 0, 10_000);
  });
});

describe('runyard mcp over stdio', () => {
  it('headless flow (a): create_notebook with a dependency → execute_code', async () => {
    const root = join(dir, 'stdio');
    mkdirSync(root);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', cli, 'mcp', ...dirFlags(root)],
      cwd: appDir,
      env: childEnv(root),
      stderr: 'pipe',
    });
    const client = new Client({ name: 'stdio-e2e', version: '1.0.0' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toContain('execute_code');
      const created = (await client.callTool({
        name: 'create_notebook',
        arguments: { path: 'agent.ipynb', dependencies: ['stdiopkg'] },
      })) as { structuredContent: Record<string, unknown> };
      expect(created.structuredContent).toMatchObject({
        lifecycle: 'idle',
        trust: { status: 'trusted', needs_approval: false },
      });
      const executed = (await client.callTool({
        name: 'execute_code',
        arguments: {
          notebook_id: created.structuredContent.notebook_id,
          code: 'import stdiopkg; stdiopkg.VALUE',
        },
      })) as { content: { type: string; text: string }[] };
      expect(executed.content[0]?.text).toBe('42');
    } finally {
      // Closing stdin ends the server: it stops its kernels and exits.
      await client.close();
    }
    await until(() => processesMentioning(root).length === 0, 20_000);

    // The env the server built is in the cache the CLI lists.
    const ls = await runCli(['env', 'ls', '--json', '--cache-dir', join(root, 'cache')], {
      cwd: root,
    });
    expect(ls.code).toBe(0);
    const { envs } = ls.json<{ envs: { envHash: string; manager: string }[] }>();
    expect(envs).toHaveLength(1);
    expect(envs[0]).toMatchObject({ envHash: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });
});

describe('runyard serve log format', () => {
  /** Starts `runyard serve` with stderr on a pipe (not a terminal), stops it once it is up. */
  async function serveLogs(name: string, extra: string[]): Promise<string> {
    const root = join(dir, name);
    mkdirSync(root);
    const server = spawnNode(
      ['--import', 'tsx', cli, 'serve', '--port', '0', ...extra, ...dirFlags(root)],
      { cwd: appDir, env: childEnv(root) },
    );
    await untilStarted(server);
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    return server.stderr;
  }

  it('writes JSON lines when stderr is not a terminal, readable lines under --log-format pretty', async () => {
    const json = await serveLogs('log-json', ['--log-level', 'info']);
    const listening = json.split('\n').find((line) => line.includes('Server listening at'));
    expect(JSON.parse(listening ?? '')).toMatchObject({ level: 30 });

    const pretty = await serveLogs('log-pretty', ['--log-level', 'info', '--log-format', 'pretty']);
    expect(pretty).toMatch(
      /^\d\d:\d\d:\d\d INFO {2}Server listening at http:\/\/127\.0\.0\.1:\d+$/m,
    );
    expect(pretty).not.toMatch(/^\{/m);
    // No colour codes: the pipe is not a terminal.
    expect(pretty).not.toContain('\u001b[');
  });
});

describe('runyard runtime serve as a process', () => {
  it('serves /v1 with the configured token and stops on SIGTERM', async () => {
    const root = join(dir, 'runtime');
    mkdirSync(root);
    const token = 'runtime-token-0123456789abcdef';
    const server = spawnNode(
      [
        '--import',
        'tsx',
        cli,
        'runtime',
        'serve',
        '--port',
        '0',
        '--id',
        'gpu-box',
        ...dirFlags(root),
      ],
      { cwd: appDir, env: { ...childEnv(root), RUNYARD_RUNTIME_TOKEN: token } },
    );
    await untilStarted(server);
    const { stdout } = server;
    const url = /^Runyard runtime listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout)?.[1];
    expect(url).toBeDefined();
    expect(stdout).toContain('Runtime token: the one you configured');
    expect((await fetch(`${url}/v1/runtime`)).status).toBe(401);
    const described = await fetch(`${url}/v1/runtime`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await described.json()).toMatchObject({ id: 'gpu-box' });
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    await until(() => processesMentioning(root).length === 0, 10_000);
  });
});
