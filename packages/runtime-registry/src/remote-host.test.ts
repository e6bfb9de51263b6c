import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { KernelErrorCode } from '@runyard/kernels';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  KERNEL_ERROR_CODES,
  RemoteRuntimeHost,
  type RuntimeEvent,
  RuntimeEventSchema,
} from './index.js';
import { agentBundle, workerRequest } from './test-support/bundles.js';
import {
  type Served,
  serveMemoryRuntime,
  spawnChildServer,
  TOKEN,
} from './test-support/harness.js';

const HOST_PATH = '/home/alice/.config/runyard/secret-notebook.ipynb';

let served: Served;
let host: RemoteRuntimeHost;

beforeAll(async () => {
  served = await serveMemoryRuntime();
  host = new RemoteRuntimeHost({ id: 'remote-1', url: served.server.url, token: TOKEN });
});

afterAll(async () => {
  await host.close();
  await served.close();
});

afterEach(() => {
  served.api.failNext = undefined;
});

/** Everything a caller could print about an error. */
function everything(error: unknown): string {
  return [
    String(error),
    (error as Error).stack ?? '',
    JSON.stringify(error),
    inspect(error, { depth: 10 }),
  ].join('\n');
}

async function caught(
  promise: Promise<unknown>,
): Promise<Error & { code: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code: string; status?: number };
  }
  throw new Error('expected a failure');
}

/** A raw HTTP server that answers every request with `handler`, to play a hostile remote. */
async function rawServer(
  handler: (
    request: import('node:http').IncomingMessage,
    response: import('node:http').ServerResponse,
  ) => void,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('RemoteRuntimeHost against a real /v1 server', () => {
  it('drives notebooks, bundles, workers and the pool', async () => {
    expect((await host.describe()).id).toBe('memory-runtime');
    const created = await host.createNotebook({ path: 'a.ipynb', dependencies: ['pandas'] });
    expect(created.lifecycle).toBe('idle');
    expect((await host.getNotebook(created.notebookId)).path).toBe('a.ipynb');
    expect((await host.listNotebooks()).map((info) => info.notebookId)).toContain(
      created.notebookId,
    );
    const result = await host.execute(created.notebookId, { code: 'print(1)' });
    expect(result.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'print(1)' }]);
    expect((await host.interrupt(created.notebookId)).notebookId).toBe(created.notebookId);
    expect((await host.restart(created.notebookId)).lifecycle).toBe('idle');
    expect(
      (await host.manageDependencies(created.notebookId, { trust: true, apply: 'none' })).trust
        .status,
    ).toBe('trusted');
    expect((await host.shutdown(created.notebookId)).lifecycle).toBe('shutdown');
    expect((await host.openNotebook('b.ipynb')).path).toBe('b.ipynb');
    expect((await host.pool()).envPool.size).toBe(0);

    const bundle = agentBundle(11);
    const availability = await host.storeBundle(bundle);
    expect(availability.summary.digest).toBe(bundle.metadata.digest);
    expect((await host.listBundles()).map((summary) => summary.revision)).toContain(11);
    expect(
      (await host.checkBundle({ id: bundle.metadata.id, digest: bundle.metadata.digest }))
        .available,
    ).toBe(true);
    const worker = await host.createWorker(workerRequest(bundle, 'w-remote'));
    expect(worker).toMatchObject({ workerId: 'w-remote', kind: 'command', state: 'running' });
    expect((await host.getWorker('w-remote')).state).toBe('running');
    expect((await host.listWorkers()).map((info) => info.workerId)).toContain('w-remote');
    expect((await host.stopWorker('w-remote')).state).toBe('stopped');
  });

  it('keeps a typed code and status through the wire', async () => {
    const missing = await caught(host.getNotebook('nope'));
    expect(missing).toMatchObject({ code: 'notebook_not_found', status: 404 });
    const outside = await caught(host.openNotebook('../../etc/passwd'));
    expect(outside).toMatchObject({ code: 'path_outside_workspace', status: 400 });
    const unknownBundle = await caught(
      host.checkBundle({ id: 'never-stored', digest: 'a'.repeat(64) }),
    );
    expect(unknownBundle).toMatchObject({ code: 'config_bundle_missing', status: 404 });
  });

  it.each([['../x'], ['a/b?c'], ['a#b'], ['%2e%2e'], ['x/../../v1/pool']])(
    'sends the hostile id %j as one path segment',
    async (id) => {
      const before = served.api.calls.length;
      expect(await caught(host.getNotebook(id))).toMatchObject({ code: 'notebook_not_found' });
      expect(await caught(host.stopWorker(id))).toMatchObject({ code: 'worker_not_found' });
      expect(served.api.calls.slice(before)).toEqual([
        { method: 'getNotebook', args: [id] },
        { method: 'stopWorker', args: [id] },
      ]);
    },
  );

  it('refuses ids a URL cannot carry as one segment without sending them', async () => {
    const before = served.api.calls.length;
    for (const id of ['.', '..', '']) {
      expect(await caught(host.getWorker(id))).toMatchObject({ code: 'invalid_request' });
    }
    expect(served.api.calls.length).toBe(before);
  });

  it('never lets a remote error message with a host path reach the caller', async () => {
    served.api.failNext = Object.assign(new Error(`ENOENT: no such file ${HOST_PATH}`), {
      code: 'notebook_not_found',
    });
    const typed = await caught(host.getNotebook('nb-x'));
    expect(typed).toMatchObject({ code: 'notebook_not_found', status: 404 });
    expect(typed.message).toBe('the remote runtime has no such notebook');
    expect(everything(typed)).not.toContain('/home/alice');

    served.api.failNext = new Error(`EACCES: permission denied, open '${HOST_PATH}'`);
    const untyped = await caught(host.listNotebooks());
    expect(untyped).toMatchObject({ code: 'remote_runtime_http_error', status: 500 });
    expect(everything(untyped)).not.toContain('/home/alice');
  });

  it.each([
    [500, { error: { code: 'kernel_died', message: `died: ${HOST_PATH}` } }, 'kernel_died'],
    [503, { error: { code: 'internal_error', message: HOST_PATH } }, 'remote_runtime_http_error'],
    [404, { error: { code: HOST_PATH, message: HOST_PATH } }, 'remote_runtime_not_found'],
    [404, { error: { code: 'not_found', message: 'no such route' } }, 'remote_runtime_not_found'],
    [
      403,
      { error: { code: 'notebook_not_found', message: HOST_PATH } },
      'remote_runtime_auth_failed',
    ],
    [418, `<html>${HOST_PATH}</html>`, 'remote_runtime_http_error'],
    [502, `Traceback (most recent call last):\n  File "${HOST_PATH}"`, 'remote_runtime_http_error'],
    [200, { not: 'a runtime descriptor', path: HOST_PATH }, 'remote_runtime_http_error'],
  ])('sanitises a hostile %i answer', async (status, body, code) => {
    const remote = await rawServer((_request, response) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
    const hostile = new RemoteRuntimeHost({ id: 'hostile', url: remote.url, token: TOKEN });
    try {
      const error = await caught(hostile.describe());
      expect(error).toMatchObject({ name: 'RuntimeError', code, status });
      expect(everything(error)).not.toContain('/home/alice');
      expect(everything(error)).not.toContain(TOKEN);
    } finally {
      await hostile.close();
      await remote.close();
    }
  });

  it('refuses an oversized answer without reading it all', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const remote = await rawServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const write = () => {
        while (response.write(chunk)) if (response.writableLength > 1024 * 1024) break;
      };
      response.on('drain', write);
      write();
    });
    const hostile = new RemoteRuntimeHost({
      id: 'big',
      url: remote.url,
      token: TOKEN,
      maxResponseBytes: 256 * 1024,
    });
    try {
      expect(await caught(hostile.describe())).toMatchObject({
        code: 'remote_runtime_http_error',
        status: 200,
      });
    } finally {
      await hostile.close();
      await remote.close();
    }
  });

  it('answers a wrong token with remote_runtime_auth_failed', async () => {
    const wrong = new RemoteRuntimeHost({ id: 'wrong', url: served.server.url, token: 'nope' });
    try {
      expect(await caught(wrong.describe())).toMatchObject({
        code: 'remote_runtime_auth_failed',
        status: 401,
        message: 'the remote runtime refused the credentials',
      });
    } finally {
      await wrong.close();
    }
  });

  it('answers a closed port and a silent server with remote_runtime_unreachable', async () => {
    const gone = await rawServer(() => undefined);
    const goneUrl = gone.url;
    await gone.close();
    const refused = new RemoteRuntimeHost({ id: 'gone', url: goneUrl, token: TOKEN });
    expect(await caught(refused.describe())).toMatchObject({
      code: 'remote_runtime_unreachable',
      status: undefined,
    });
    await refused.close();

    const silent = await rawServer(() => undefined);
    const slow = new RemoteRuntimeHost({
      id: 'silent',
      url: silent.url,
      token: TOKEN,
      timeoutMs: 100,
    });
    try {
      expect(await caught(slow.pool())).toMatchObject({ code: 'remote_runtime_unreachable' });
    } finally {
      await slow.close();
      await silent.close();
    }
  });

  it('fails a call in flight with runtime_closed when the host closes', async () => {
    const silent = await rawServer(() => undefined);
    const closing = new RemoteRuntimeHost({ id: 'closing', url: silent.url, token: TOKEN });
    try {
      const pending = caught(closing.describe());
      await closing.close();
      expect(await pending).toMatchObject({ code: 'runtime_closed' });
      expect(await caught(closing.describe())).toMatchObject({ code: 'runtime_closed' });
    } finally {
      await silent.close();
    }
  });

  it('hides the token and URL credentials from toJSON and inspect, and uses them', async () => {
    const url = new URL(served.server.url);
    url.username = 'operator';
    url.password = TOKEN;
    const withCredentials = new RemoteRuntimeHost({ id: 'creds', url: `${url.toString()}` });
    const withToken = new RemoteRuntimeHost({ id: 'tok', url: served.server.url, token: TOKEN });
    try {
      for (const remote of [withCredentials, withToken]) {
        const printed = [
          JSON.stringify(remote),
          inspect(remote, { depth: 10, showHidden: true }),
          String(remote.url),
          JSON.stringify({ nested: { remote } }),
        ].join('\n');
        expect(printed).not.toContain(TOKEN);
        expect(printed).not.toContain('operator');
        expect(JSON.parse(JSON.stringify(remote))).toEqual({
          id: remote.id,
          kind: 'remote',
          url: served.server.url,
        });
      }
      // The URL's password is the bearer token when no token is given.
      expect((await withCredentials.describe()).id).toBe('memory-runtime');
    } finally {
      await withCredentials.close();
      await withToken.close();
    }
  });

  it('streams runtime events over the WebSocket and unsubscribes', async () => {
    const events: RuntimeEvent[] = [];
    const subscribersBefore = served.api.subscriberCount;
    const unsubscribe = host.subscribe((event) => events.push(event));
    await host.whenSubscribed();
    const info = await host.createNotebook({ path: 'events.ipynb' });
    await host.execute(info.notebookId, { code: 'hello' });
    await expect.poll(() => events.length).toBeGreaterThanOrEqual(2);
    expect(events[0]).toMatchObject({ type: 'lifecycle', notebookId: info.notebookId });
    expect(events).toContainEqual({
      type: 'output',
      notebookId: info.notebookId,
      output: { output_type: 'stream', name: 'stdout', text: 'hello' },
    });
    unsubscribe();
    await expect.poll(() => served.api.subscriberCount).toBe(subscribersBefore);
  });

  it('filters events by topic for a raw WebSocket client', async () => {
    const socket = new WebSocket(
      `${served.server.url.replace('http', 'ws')}/v1/events?topics=outputs`,
      {
        headers: { authorization: `Bearer ${TOKEN}` },
      },
    );
    const messages: unknown[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    await expect.poll(() => messages.length).toBe(1);
    expect(messages[0]).toEqual({ type: 'subscribed' });
    const info = await host.createNotebook({});
    await host.execute(info.notebookId, { code: 'only-outputs' });
    await expect.poll(() => messages.length).toBe(2);
    expect(RuntimeEventSchema.parse(messages[1]).type).toBe('output');
    socket.terminate();
  });

  it('validates bodies and limits their size on the server', async () => {
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const info = await host.createNotebook({});
    const tooLong = await fetch(`${served.server.url}/v1/notebooks/${info.notebookId}/execute`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ code: 1 }),
    });
    expect(tooLong.status).toBe(400);
    const huge = await fetch(`${served.server.url}/v1/config-bundles`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ bundle: { blob: 'x'.repeat(3 * 1024 * 1024) } }),
    });
    expect(huge.status).toBe(413);
    const proto = await fetch(`${served.server.url}/v1/config-bundles`, {
      method: 'POST',
      headers,
      body: '{"bundle":{"__proto__":{"polluted":true},"metadata":{}}}',
    });
    expect(proto.status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const anonymous = await fetch(`${served.server.url}/v1/runtime`);
    expect(anonymous.status).toBe(401);
  });

  it('describes the /v1 API in OpenAPI', async () => {
    const response = await fetch(`${served.server.url}/v1/openapi.json`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(200);
    const document = (await response.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/runtime',
        '/v1/config-bundles/{id}/availability',
        '/v1/workers/{id}',
        '/v1/notebooks/{id}/execute',
        '/v1/notebooks/{id}/dependencies',
        '/v1/pool',
      ]),
    );
  });
});

describe('RemoteRuntimeHost against a server killed mid-call', () => {
  it('fails the call in flight with remote_runtime_unreachable', async () => {
    const child = await spawnChildServer();
    const remote = new RemoteRuntimeHost({ id: 'child', url: child.url, token: TOKEN });
    try {
      const info = await remote.createNotebook({});
      const pending = caught(remote.execute(info.notebookId, { code: 'hang' }));
      await child.hanging;
      child.child.kill('SIGKILL');
      const error = await pending;
      expect(error).toMatchObject({ code: 'remote_runtime_unreachable' });
      expect(everything(error)).not.toContain(child.url.replace('http://', ''));
      expect(await caught(remote.describe())).toMatchObject({
        code: 'remote_runtime_unreachable',
      });
    } finally {
      await remote.close();
      await child.close();
    }
  });
});

describe('oversized request bodies', () => {
  const oversized = () => ({ ...agentBundle(9), padding: 'x'.repeat(3 * 1024 * 1024) });
  /** A host on the served runtime that records each request it sends (`METHOD /path`). */
  const recordingHost = (id: string) => {
    const sent: string[] = [];
    const host = new RemoteRuntimeHost({
      id,
      url: served.server.url,
      token: TOKEN,
      fetch: (input, init) => {
        sent.push(`${init.method} ${new URL(input).pathname}`);
        return fetch(input, init);
      },
    });
    return { host, sent };
  };

  it('are refused as body_too_large without being sent, using the limit the runtime advertises', async () => {
    const { host: counting, sent } = recordingHost('counting');
    try {
      expect((await counting.describe()).maxRequestBytes).toBe(2 * 1024 * 1024);
      sent.length = 0;
      for (let i = 0; i < 3; i++) {
        const error = await caught(counting.storeBundle(oversized()));
        expect(error).toMatchObject({ code: 'body_too_large', status: 413 });
        expect(error.message).toMatch(/larger than the remote runtime accepts \(2097152 bytes\)/);
      }
      expect(sent).toEqual([]);
      // Small bodies still go through.
      expect((await counting.storeBundle(agentBundle(9))).available).toBe(true);
      expect(sent).toEqual(['POST /v1/config-bundles']);
    } finally {
      await counting.close();
    }
  });

  it('a large body first learns the limit (one describe), then is refused unsent', async () => {
    const { host: fresh, sent } = recordingHost('fresh');
    try {
      expect(await caught(fresh.storeBundle(oversized()))).toMatchObject({
        code: 'body_too_large',
      });
      expect(await caught(fresh.storeBundle(oversized()))).toMatchObject({
        code: 'body_too_large',
      });
      expect(sent).toEqual(['GET /v1/runtime']);
    } finally {
      await fresh.close();
    }
  });

  // The server side of the same guarantee, against a server in another process (where the
  // race between its 413 and the client's upload is real): a client that does not check the
  // limit (an older one, or curl, or fetch) still reads 413 every time instead of a reset.
  it('sent anyway to a /v1 server in another process: body_too_large 50 times out of 50', async () => {
    const child = await spawnChildServer();
    const unchecked = new RemoteRuntimeHost({
      id: 'unchecked',
      url: child.url,
      token: TOKEN,
      maxRequestBytes: Number.MAX_SAFE_INTEGER,
    });
    try {
      const codes: string[] = [];
      for (let i = 0; i < 50; i++)
        codes.push((await caught(unchecked.storeBundle(oversized()))).code);
      expect(codes).toEqual(Array(50).fill('body_too_large'));
      // The connection is still usable afterwards.
      expect((await unchecked.storeBundle(agentBundle(9))).available).toBe(true);
    } finally {
      await unchecked.close();
      await child.close();
    }
  });
});

describe('known error codes', () => {
  it('lists every @runyard/kernels code', () => {
    expect([...KERNEL_ERROR_CODES].sort()).toEqual(Object.values(KernelErrorCode).sort());
  });
});
