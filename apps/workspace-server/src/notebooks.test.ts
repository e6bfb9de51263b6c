// End to end through real HTTP, a real WebSocket client and the MCP SDK's client, on one server
// with the real embedded runtime: real ipykernel kernels on Debian's python, real venvs built
// from an offline wheelhouse, real SQLite. One server for the whole file (two shared cores).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { errorCode, type Harness, startHarness, TEST_TOKEN } from './test-support/harness.js';
import { buildTinyWheel } from './test-support/wheels.js';

let h: Harness;
let mcp: Client;

beforeAll(async () => {
  // The tokens are in the server's environment, as an operator would set them.
  h = await startHarness({
    env: {
      RUNYARD_TOKEN: TEST_TOKEN,
      RUNYARD_SKILLS_TOKEN: 'skills-token-0123456789',
      RUNYARD_SECRET_API_KEY: 'worker-secret-0123456789',
    },
  });
  const wheels = h.config.wheelhouse as string;
  for (const name of ['restpkg', 'mcppkg', 'dlmcppkg']) buildTinyWheel(wheels, name);
  mcp = new Client({ name: 'e2e', version: '1.0.0' });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(`${h.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${TEST_TOKEN}` } },
    }),
  );
});

afterAll(async () => {
  await mcp?.close();
  // Closing the server stops every kernel; the harness waits until none is left.
  await h?.close();
});

/** A notebook as a browser download would have it: dependencies nobody here approved. */
function writeDownloadedNotebook(name: string, dependencies: string[]): string {
  writeFileSync(
    join(h.config.workspace, name),
    JSON.stringify({
      cells: [
        {
          cell_type: 'code',
          execution_count: 1,
          id: 'c1',
          metadata: {},
          outputs: [],
          source: ['1 + 1'],
        },
      ],
      metadata: {
        kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' },
        uv: { dependencies },
      },
      nbformat: 4,
      nbformat_minor: 5,
    }),
  );
  return name;
}

interface Info {
  notebookId: string;
  path: string | null;
  lifecycle: string;
  trust: { status: string; needsApproval: boolean; fingerprint: string; untrusted: unknown[] };
  nextAction?: {
    kind: string;
    mcp: { tool: string; arguments: Record<string, unknown> };
    http: { method: string; path: string; body?: Record<string, unknown> };
  };
}

interface Result {
  status: string;
  outputs: { output_type: string; text?: string; data?: Record<string, unknown> }[];
}

const plain = (result: Result) =>
  result.outputs.find((output) => output.output_type === 'execute_result')?.data?.['text/plain'];

async function execute(id: string, code: string): Promise<Result> {
  const response = await h.api(`/api/notebooks/${id}/execute`, { method: 'POST', json: { code } });
  expect(response.status).toBe(200);
  return (await response.json()) as Result;
}

/**
 * Right after a cell failed (here: interrupted), ipykernel's stop_on_error may still abort the
 * next request (`status: 'aborted'`, nothing ran): a client runs it again.
 */
async function executeAfterError(id: string, code: string): Promise<Result> {
  for (let attempt = 0; ; attempt++) {
    const result = await execute(id, code);
    if (result.status !== 'aborted' || attempt === 3) return result;
  }
}

function eventsSocket(topics: string[]) {
  const ws = new WebSocket(`${h.url.replace('http', 'ws')}/api/events?token=${TEST_TOKEN}`, {
    headers: { origin: h.url },
  });
  const messages: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as Record<string, unknown>;
    messages.push(message);
    if (message.type === 'hello') ws.send(JSON.stringify({ type: 'subscribe', topics }));
    for (const wake of waiters.splice(0)) wake();
  });
  /** A bounded wait for a message (a deadline on an event, not a timing assertion). */
  const next = async (predicate: (m: Record<string, unknown>) => boolean, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = messages.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error('no such event arrived');
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
  };
  return { ws, messages, next };
}

describe('REST: create a notebook, execute, events on /api/events', () => {
  it('create → execute 1+1 → outputs; lifecycle and output events arrive on the WebSocket', async () => {
    const events = eventsSocket(['lifecycle', 'outputs']);
    await events.next((m) => m.type === 'snapshot');

    const created = await h.api('/api/notebooks', {
      method: 'POST',
      json: { path: 'analysis/first.ipynb' },
    });
    expect(created.status).toBe(201);
    const info = (await created.json()) as Info;
    expect(info).toMatchObject({
      path: 'analysis/first.ipynb',
      runtime: 'python',
      lifecycle: 'idle',
      trust: { status: 'no_dependencies', needsApproval: false },
    });
    expect(info.nextAction).toBeUndefined();

    const result = await execute(info.notebookId, '1+1');
    expect(result.status).toBe('ok');
    expect(plain(result)).toBe('2');
    const printed = await execute(info.notebookId, 'print("hello from the kernel")');
    expect(printed.outputs).toContainEqual({
      output_type: 'stream',
      name: 'stdout',
      text: 'hello from the kernel\n',
    });
    // Notebook code runs in the kernel: it must not be able to read the API token.
    const environ = await execute(
      info.notebookId,
      'import os; sorted(k for k in os.environ if k.startswith("RUNYARD"))',
    );
    expect(plain(environ)).not.toContain('RUNYARD_TOKEN');
    expect(plain(environ)).not.toContain('RUNYARD_SKILLS_TOKEN');
    expect(plain(environ)).not.toContain('RUNYARD_SECRET_API_KEY');
    const failed = await execute(info.notebookId, '1/0');
    expect(failed.status).toBe('error');
    expect(failed.outputs[0]).toMatchObject({ output_type: 'error', ename: 'ZeroDivisionError' });

    const ofThisNotebook = (m: Record<string, unknown>) =>
      m.type === 'event' &&
      (m.event as { notebookId?: string; info?: { notebookId: string } }).notebookId ===
        info.notebookId;
    const lifecycle = await events.next(
      (m) =>
        m.topic === 'lifecycle' &&
        m.runtimeId === 'local' &&
        (m.event as { info?: { notebookId: string; lifecycle: string } }).info?.notebookId ===
          info.notebookId &&
        (m.event as { info: { lifecycle: string } }).info.lifecycle === 'idle',
    );
    expect(lifecycle.event).toMatchObject({ type: 'lifecycle' });
    const output = await events.next(
      (m) =>
        m.topic === 'outputs' &&
        ofThisNotebook(m) &&
        JSON.stringify(m.event).includes('hello from the kernel'),
    );
    expect(output.event).toMatchObject({ type: 'output', notebookId: info.notebookId });
    events.ws.close();

    const runtime = (await (
      await h.api(`/api/notebooks/${info.notebookId}/runtime`)
    ).json()) as Info;
    expect(runtime).toMatchObject({ lifecycle: 'idle', trust: { status: 'no_dependencies' } });
    const list = (await (await h.api('/api/notebooks')).json()) as { notebooks: Info[] };
    expect(list.notebooks.map((n) => n.notebookId)).toContain(info.notebookId);
  });

  it('restart, interrupt, timeout (504), shutdown; then 404', async () => {
    const created = (await (
      await h.api('/api/notebooks', { method: 'POST', json: { path: 'lifecycle.ipynb' } })
    ).json()) as Info;
    const id = created.notebookId;
    await execute(id, 'x = 41');
    const restarted = await h.api(`/api/notebooks/${id}/restart`, { method: 'POST' });
    expect(restarted.status).toBe(200);
    expect(((await restarted.json()) as Info).lifecycle).toBe('idle');
    // The variable is gone. (Asked without raising: a failing cell makes ipykernel abort requests
    // that arrive right after it, which would race the next step.)
    expect(plain(await execute(id, "'x' in globals()"))).toBe('False');

    const slow = await h.api(`/api/notebooks/${id}/execute`, {
      method: 'POST',
      json: { code: 'import time; time.sleep(60)', timeoutMs: 300 },
    });
    expect(slow.status).toBe(504);
    expect(await errorCode(slow)).toBe('execution_timeout');
    const interrupted = await h.api(`/api/notebooks/${id}/interrupt`, { method: 'POST' });
    expect(interrupted.status).toBe(200);
    expect(plain(await executeAfterError(id, '6*7'))).toBe('42');

    const deleted = await h.api(`/api/notebooks/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(((await deleted.json()) as Info).lifecycle).toBe('shutdown');
    expect((await h.api('/api/notebooks/not-a-notebook/runtime')).status).toBe(404);
  });

  it('refuses paths outside the workspace and non-notebook paths', async () => {
    for (const path of ['../escape.ipynb', '/etc/passwd.ipynb', 'a/../../escape.ipynb']) {
      const response = await h.api('/api/notebooks', { method: 'POST', json: { path } });
      expect({ path, status: response.status }).toEqual({ path, status: 400 });
      expect(await errorCode(response)).toBe('path_outside_workspace');
    }
    const opened = await h.api('/api/notebooks/open', {
      method: 'POST',
      json: { path: '../../../etc/passwd' },
    });
    expect(opened.status).toBe(400);
    const body = await opened.text();
    expect(body).not.toContain(h.dir);
  });
});

describe('headless trust flow over REST (the caller never gets stuck)', () => {
  it('open → awaiting_trust + nextAction → follow nextAction.http → idle → executes', async () => {
    const path = writeDownloadedNotebook('downloaded.ipynb', ['restpkg']);
    const opened = await h.api('/api/notebooks/open', { method: 'POST', json: { path } });
    expect(opened.status).toBe(200);
    const info = (await opened.json()) as Info;
    expect(info).toMatchObject({
      lifecycle: 'awaiting_trust',
      trust: { status: 'untrusted', needsApproval: true },
      nextAction: { kind: 'approve_dependencies' },
    });
    const next = info.nextAction;
    if (!next) throw new Error('no nextAction');

    const blocked = await h.api(`/api/notebooks/${info.notebookId}/execute`, {
      method: 'POST',
      json: { code: '1+1' },
    });
    expect(blocked.status).toBe(409);
    expect(await errorCode(blocked)).toBe('notebook_awaiting_trust');

    // A stale fingerprint approves nothing.
    const stale = await h.api(`/api/notebooks/${info.notebookId}/dependencies`, {
      method: 'POST',
      json: { trust: true, fingerprint: `sha256:${'0'.repeat(64)}` },
    });
    expect(stale.status).toBe(409);
    expect(await errorCode(stale)).toBe('trust_fingerprint_mismatch');

    // The agent does exactly what nextAction.http says, nothing else.
    expect(next.http.path.startsWith('/api/')).toBe(true);
    const followed = await h.api(next.http.path, {
      method: next.http.method,
      ...(next.http.body ? { json: next.http.body } : {}),
    });
    expect(followed.status).toBe(200);
    const approved = (await followed.json()) as Info;
    expect(approved.trust).toMatchObject({ status: 'trusted', needsApproval: false });
    expect(approved.nextAction).toBeUndefined();
    expect(approved.lifecycle).toBe('idle');

    const result = await execute(info.notebookId, 'import restpkg; restpkg.VALUE + 1');
    expect(plain(result)).toBe('43');
  });
});

describe('headless flows over MCP (Streamable HTTP)', () => {
  const call = async (name: string, args: Record<string, unknown>) => {
    const result = await mcp.callTool({ name, arguments: args });
    return result as { isError?: boolean; structuredContent?: Record<string, unknown> };
  };

  it('(a) create_notebook with dependencies → execute_code runs', async () => {
    const created = await call('create_notebook', {
      path: 'mcp/created.ipynb',
      dependencies: ['mcppkg'],
    });
    expect(created.isError).toBeFalsy();
    expect(created.structuredContent).toMatchObject({
      lifecycle: 'idle',
      trust: { status: 'trusted', needs_approval: false },
    });
    expect(created.structuredContent?.next_action).toBeUndefined();
    const id = created.structuredContent?.notebook_id as string;
    const executed = await call('execute_code', {
      notebook_id: id,
      code: 'import mcppkg; print(mcppkg.VALUE)',
    });
    expect(executed.isError).toBeFalsy();
    expect(executed.structuredContent).toMatchObject({
      status: 'ok',
      outputs: [{ output_type: 'stream', name: 'stdout', text: '42\n' }],
    });
    const runtime = await call('get_runtime', { notebook_id: id });
    expect(runtime.structuredContent).toMatchObject({ lifecycle: 'idle', trust: {} });
    const shut = await call('shutdown_notebook', { notebook_id: id });
    expect(shut.structuredContent).toMatchObject({ lifecycle: 'shutdown' });
  });

  it('(b) open_notebook → awaiting_trust + next_action → the named tool call → execute_code', async () => {
    const path = writeDownloadedNotebook('mcp-downloaded.ipynb', ['dlmcppkg']);
    const opened = await call('open_notebook', { path });
    expect(opened.structuredContent).toMatchObject({
      lifecycle: 'awaiting_trust',
      trust: { status: 'untrusted', needs_approval: true },
      next_action: { kind: 'approve_dependencies', tool: 'manage_dependencies' },
    });
    const id = opened.structuredContent?.notebook_id as string;
    const blocked = await call('execute_code', { notebook_id: id, code: '1+1' });
    expect(blocked.isError).toBe(true);
    expect(blocked.structuredContent).toMatchObject({
      error: { code: 'notebook_awaiting_trust' },
    });

    const next = opened.structuredContent?.next_action as {
      tool: string;
      arguments: Record<string, unknown>;
    };
    expect(next.arguments).toMatchObject({ notebook_id: id, trust: true });
    const approved = await call(next.tool, next.arguments);
    expect(approved.isError).toBeFalsy();
    expect(approved.structuredContent).toMatchObject({
      lifecycle: 'idle',
      trust: { status: 'trusted', needs_approval: false },
    });
    expect(approved.structuredContent?.next_action).toBeUndefined();

    const executed = await call('execute_code', {
      notebook_id: id,
      code: 'import dlmcppkg; dlmcppkg.VALUE * 2',
    });
    expect(executed.structuredContent).toMatchObject({
      status: 'ok',
      outputs: [{ output_type: 'execute_result', data: { 'text/plain': '84' } }],
    });
    const listed = await call('list_notebooks', {});
    expect(JSON.stringify(listed.structuredContent)).toContain(id);
  });
});
