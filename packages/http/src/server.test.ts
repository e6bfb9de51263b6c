import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import {
  allowedHostNames,
  HttpError,
  hostHeaderName,
  loadOrCreateToken,
  originAllowed,
  redactUrl,
  statusTable,
  tokensEqual,
} from './index.js';
import { createHttpServer } from './server.js';

const TOKEN = 'test-token-0123456789';

class PackageError extends Error {
  readonly code = 'config_bundle_missing';
}

let app: Awaited<ReturnType<typeof createHttpServer>>;
let base: string;

beforeAll(async () => {
  app = await createHttpServer({
    token: TOKEN,
    bodyLimit: 1024,
    statusFor: statusTable({ config_bundle_missing: 404 }),
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.post(
    '/api/echo',
    { schema: { body: z.object({ name: z.string().max(10) }) } },
    async (request) => ({ hello: request.body.name }),
  );
  app.get('/api/typed', async () => {
    throw new PackageError('bundle b1 is not stored');
  });
  app.get('/api/teapot', async () => {
    throw new HttpError('teapot', 418, 'short and stout');
  });
  app.get('/api/crash', async () => {
    throw new Error('ENOENT: /home/alice/.config/runyard/secret-file');
  });
  app.get('/api/items/:id', async (request) => ({ id: (request.params as { id: string }).id }));
  app.get('/api/ws', { websocket: true }, (socket) => {
    socket.send('hello');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await app.close();
});

const auth = { authorization: `Bearer ${TOKEN}` };

describe('createHttpServer', () => {
  it('answers router failures (overlong parameter, malformed URL) in the error shape', async () => {
    const long = await fetch(`${base}/api/items/${'a'.repeat(600)}`, { headers: auth });
    expect(long.status).toBe(400);
    expect(await long.json()).toEqual({
      error: { code: 'invalid_request', message: 'a path parameter is too long' },
    });
    const bad = await fetch(`${base}/api/items/%E0%A4%A`, { headers: auth });
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(JSON.parse(text)).toEqual({
      error: { code: 'invalid_request', message: 'the URL is malformed' },
    });
    expect(text).not.toContain('%E0');
    const ok = await fetch(`${base}/api/items/${'b'.repeat(300)}`, { headers: auth });
    expect(await ok.json()).toEqual({ id: 'b'.repeat(300) });
  });

  it('serves public paths without a token', async () => {
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(200);
  });

  it.each([
    [{}],
    [{ authorization: 'Bearer wrong' }],
    [{ authorization: TOKEN }],
    [{ authorization: `Basic ${TOKEN}` }],
  ])('refuses %j with 401 and the error shape', async (headers) => {
    const response = await fetch(`${base}/api/typed`, { headers });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: { code: 'unauthorized', message: 'missing or invalid API token' },
    });
  });

  it('requires the token even for unknown routes and refuses ?token= on plain requests', async () => {
    expect((await fetch(`${base}/api/nope`)).status).toBe(401);
    expect((await fetch(`${base}/api/typed?token=${TOKEN}`)).status).toBe(401);
    expect((await fetch(`${base}/api/nope`, { headers: auth })).status).toBe(404);
  });

  it('validates bodies with zod and answers 400', async () => {
    const response = await fetch(`${base}/api/echo`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 5 }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'invalid_request',
    );
  });

  it('answers malformed JSON with 400 and oversized bodies with 413', async () => {
    const malformed = await fetch(`${base}/api/echo`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(malformed.status).toBe(400);
    const big = await fetch(`${base}/api/echo`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(5000) }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
  });

  it('maps typed package errors through the status table', async () => {
    const response = await fetch(`${base}/api/typed`, { headers: auth });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: { code: 'config_bundle_missing', message: 'bundle b1 is not stored' },
    });
    const teapot = await fetch(`${base}/api/teapot`, { headers: auth });
    expect(teapot.status).toBe(418);
  });

  it('hides unexpected errors behind a generic 500 without paths', async () => {
    const response = await fetch(`${base}/api/crash`, { headers: auth });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain('/home/alice');
    expect(JSON.parse(text)).toEqual({
      error: { code: 'internal_error', message: 'internal error' },
    });
  });

  function openSocket(url: string, headers: Record<string, string> = {}) {
    return new Promise<{ status: number; message?: string }>((resolve) => {
      const socket = new WebSocket(url, { headers });
      socket.on('message', (data) => {
        resolve({ status: 101, message: String(data) });
        socket.terminate();
      });
      socket.on('unexpected-response', (request, response) => {
        resolve({ status: response.statusCode ?? 0 });
        request.destroy();
      });
      socket.on('error', () => undefined);
    });
  }

  it('accepts a WebSocket upgrade with ?token= or a bearer header', async () => {
    const ws = base.replace('http', 'ws');
    expect(await openSocket(`${ws}/api/ws?token=${TOKEN}`)).toEqual({
      status: 101,
      message: 'hello',
    });
    expect((await openSocket(`${ws}/api/ws`, auth)).status).toBe(101);
    expect((await openSocket(`${ws}/api/ws?token=wrong`)).status).toBe(401);
  });

  it('refuses a WebSocket upgrade from a foreign Origin and allows its own host', async () => {
    const ws = base.replace('http', 'ws');
    expect(
      (await openSocket(`${ws}/api/ws?token=${TOKEN}`, { origin: 'https://evil.example' })).status,
    ).toBe(403);
    expect((await openSocket(`${ws}/api/ws?token=${TOKEN}`, { origin: base })).status).toBe(101);
  });
});

/**
 * A raw HTTP/1.1 request with exactly these headers (fetch refuses to send `Host`, `Upgrade`
 * and `Connection`). Resolves with the status of the response or of the upgrade answer.
 */
function rawStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false });
    req.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const handshake = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
};

describe('issue 15 finding 8: ?token= only on real WebSocket handshakes to WebSocket routes', () => {
  it('attack: a fake `Upgrade: websocket` header does not make ?token= work on a REST route', async () => {
    // The reproduced attack: only the header, no Connection: upgrade, on a plain route.
    expect(await rawStatus(`${base}/api/teapot?token=${TOKEN}`, { upgrade: 'websocket' })).toBe(
      401,
    );
    // Even a complete handshake does not carry a query token to a route that is not a WebSocket.
    expect(await rawStatus(`${base}/api/teapot?token=${TOKEN}`, handshake)).toBe(401);
    // The WebSocket route itself: a header without a handshake is a plain GET.
    expect(await rawStatus(`${base}/api/ws?token=${TOKEN}`, { upgrade: 'websocket' })).toBe(401);
    const { 'sec-websocket-key': _key, ...keyless } = handshake;
    expect(await rawStatus(`${base}/api/ws?token=${TOKEN}`, keyless)).not.toBe(101);
    // The bearer header still works everywhere, and the real handshake with ?token= upgrades.
    expect(await rawStatus(`${base}/api/teapot`, { ...auth, upgrade: 'websocket' })).toBe(418);
    expect(await rawStatus(`${base}/api/ws?token=${TOKEN}`, handshake)).toBe(101);
  });
});

describe('issue 15 finding 9: Host and Origin', () => {
  it('attack: DNS rebinding (Host and Origin both evil.example) is refused, before auth', async () => {
    const port = new URL(base).port;
    expect(await rawStatus(`${base}/api/teapot`, { ...auth, host: `evil.example:${port}` })).toBe(
      403,
    );
    expect(
      await rawStatus(`${base}/api/ws?token=${TOKEN}`, {
        ...handshake,
        host: `evil.example:${port}`,
        origin: `http://evil.example:${port}`,
      }),
    ).toBe(403);
    // A wrong token by a foreign name learns nothing about the token either.
    expect(await rawStatus(`${base}/api/teapot`, { host: 'evil.example' })).toBe(403);
    // The loopback names are this server's.
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`])
      expect(await rawStatus(`${base}/api/teapot`, { ...auth, host })).toBe(418);
    // Health probes answer whatever the name.
    expect(await rawStatus(`${base}/healthz`, { host: 'probe.internal' })).toBe(200);
  });

  it('attack: an https:// Origin is refused for this http server; its own http origin passes', async () => {
    const port = new URL(base).port;
    const headers = { ...handshake, host: `127.0.0.1:${port}` };
    expect(
      await rawStatus(`${base}/api/ws?token=${TOKEN}`, {
        ...headers,
        origin: `https://127.0.0.1:${port}`,
      }),
    ).toBe(403);
    expect(
      await rawStatus(`${base}/api/ws?token=${TOKEN}`, {
        ...headers,
        origin: `http://127.0.0.1:${port}`,
      }),
    ).toBe(101);
  });

  it('answers to allowedHosts and the bind address; a wildcard bind without names checks none', async () => {
    const named = await createHttpServer({
      token: TOKEN,
      bindHost: '127.0.0.1',
      allowedHosts: ['Runyard.Example'],
    });
    named.get('/api/x', async () => ({ ok: true }));
    await named.listen({ host: '127.0.0.1', port: 0 });
    try {
      const address = named.server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      const url = `http://127.0.0.1:${address.port}/api/x`;
      expect(await rawStatus(url, { ...auth, host: 'runyard.example' })).toBe(200);
      expect(await rawStatus(url, { ...auth, host: 'runyard.example:443' })).toBe(200);
      expect(await rawStatus(url, { ...auth, host: 'other.example' })).toBe(403);
    } finally {
      await named.close();
    }
    expect(allowedHostNames('0.0.0.0', undefined)).toBeUndefined();
    expect(allowedHostNames('::', [])).toBeUndefined();
    expect(allowedHostNames(undefined, ['*'])).toBeUndefined();
    expect([...(allowedHostNames('0.0.0.0', ['a.example']) ?? [])]).toEqual([
      'localhost',
      '127.0.0.1',
      '[::1]',
      'a.example',
    ]);
    expect(allowedHostNames('::1', undefined)?.has('[::1]')).toBe(true);
    expect(allowedHostNames('10.0.0.5', undefined)?.has('10.0.0.5')).toBe(true);
    expect(hostHeaderName('[::1]:8787')).toBe('[::1]');
    expect(hostHeaderName('Example.COM')).toBe('example.com');
    for (const bad of ['', 'a b', 'user@host', 'host:port', 'a/b', undefined])
      expect(hostHeaderName(bad)).toBeUndefined();
    const hosts = allowedHostNames('127.0.0.1', undefined);
    expect(originAllowed('http://localhost:1', 'localhost:1', undefined, hosts)).toBe(true);
    expect(originAllowed('https://localhost:1', 'localhost:1', undefined, hosts)).toBe(false);
    expect(originAllowed('http://evil.example', 'evil.example', undefined, hosts)).toBe(false);
    expect(originAllowed('https://app.example', 'x', ['https://app.example'], hosts)).toBe(true);
    expect(originAllowed(undefined, 'evil.example', undefined, hosts)).toBe(true);
  });
});

describe('tokens', () => {
  it('compares in constant time and refuses empty or missing tokens', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abc', 'abd')).toBe(false);
    expect(tokensEqual('abc', undefined)).toBe(false);
    expect(tokensEqual('', '')).toBe(false);
  });

  it('creates one 0600 token file and reuses it; a configured token wins', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'runyard-http-'));
    try {
      const first = loadOrCreateToken({ dataDir });
      expect(first.source).toBe('generated');
      expect(statSync(join(dataDir, 'token')).mode & 0o777).toBe(0o600);
      expect(loadOrCreateToken({ dataDir })).toMatchObject({ token: first.token, source: 'file' });
      expect(loadOrCreateToken({ dataDir, token: 'abc' })).toEqual({
        token: 'abc',
        source: 'configured',
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a token file readable by group or others, and a symlinked one', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'runyard-http-'));
    const refusal = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error as HttpError;
      }
      throw new Error('expected a refusal');
    };
    try {
      const file = join(dataDir, 'token');
      writeFileSync(file, 'leaked-token\n', { mode: 0o644 });
      chmodSync(file, 0o644);
      const open = refusal(() => loadOrCreateToken({ dataDir }));
      expect(open).toBeInstanceOf(HttpError);
      expect(open.code).toBe('token_insecure');
      expect(open.message).toContain('chmod 600');
      expect(open.message).not.toContain(dataDir);
      // Never silently tightened: the operator must notice the exposure.
      expect(statSync(file).mode & 0o777).toBe(0o644);

      rmSync(file);
      const target = join(dataDir, 'elsewhere');
      writeFileSync(target, 'attacker-token\n', { mode: 0o600 });
      symlinkSync(target, file);
      const linked = refusal(() => loadOrCreateToken({ dataDir }));
      expect(linked.code).toBe('token_insecure');
      expect(linked.message).not.toContain(dataDir);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('redacts tokens from URLs', () => {
    expect(redactUrl('/api/events?topic=a&token=secret&x=1')).toBe(
      '/api/events?topic=a&token=[REDACTED]&x=1',
    );
  });
});

describe('requests refused by Node’s HTTP parser', () => {
  /** Sends raw bytes and returns everything the server wrote before it closed the connection. */
  async function raw(bytes: string): Promise<string> {
    const { createConnection } = await import('node:net');
    const url = new URL(base);
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: url.hostname, port: Number(url.port) });
      let answer = '';
      socket.on('data', (chunk) => {
        answer += chunk.toString('latin1');
      });
      socket.on('error', (error) => (answer ? resolve(answer) : reject(error)));
      socket.on('close', () => resolve(answer));
      socket.end(bytes);
    });
  }

  function bodyOf(answer: string): unknown {
    return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
  }

  it('headers over 16 KiB get 431 headers_too_large in the one error shape', async () => {
    const answer = await raw(
      `GET /api/typed HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(answer.startsWith('HTTP/1.1 431 ')).toBe(true);
    expect(bodyOf(answer)).toEqual({
      error: { code: 'headers_too_large', message: 'the request headers are too large' },
    });
  });

  it('a malformed request line gets 400 invalid_request in the one error shape', async () => {
    const answer = await raw('NOT A REQUEST\r\n\r\n');
    expect(answer.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(bodyOf(answer)).toEqual({
      error: { code: 'invalid_request', message: 'the request is malformed' },
    });
  });
});
