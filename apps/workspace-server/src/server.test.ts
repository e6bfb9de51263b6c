import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { KILL_SWITCH_PATH } from './routes/skills.js';
import { openServices } from './services.js';
import { errorCode, type Harness, startHarness, TEST_TOKEN } from './test-support/harness.js';

const PUBLIC = new Set(['/healthz', '/readyz']);

/** A concrete URL for a route pattern (`:id` → a sample value). */
function sampleUrl(pattern: string): string {
  return pattern
    .replace(':ecosystem', 'pypi')
    .replace(/:[A-Za-z]+/g, 'sample-id')
    .replace('*', 'anything');
}

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  const skill = join(h.config.skillsRoot, 'my-notes');
  mkdirSync(skill, { recursive: true });
  writeFileSync(
    join(skill, 'SKILL.md'),
    '---\nname: my-notes\ndescription: Notes helper\n---\nBody\n',
  );
});

afterAll(async () => {
  await h?.close();
});

describe('auth over every registered route', () => {
  it('collects the routes Fastify registered', () => {
    const urls = new Set(h.server.routes.map((route) => route.url));
    for (const expected of [
      '/api/notebooks',
      '/api/notebooks/:id/execute',
      '/api/runtimes/:id/config-bundles/:bundleId/availability',
      '/api/workers/:id',
      '/api/trust/packages/:ecosystem/:name',
      KILL_SWITCH_PATH,
      '/api/pool',
      '/api/events',
      '/mcp',
      '/api/openapi.json',
    ])
      expect(urls).toContain(expected);
  });

  it('answers 401 without a token and with a wrong one on every non-public route', async () => {
    const routes = h.server.routes.filter((route) => !PUBLIC.has(route.url));
    expect(routes.length).toBeGreaterThan(25);
    for (const route of routes) {
      for (const authorization of [
        undefined,
        'Bearer wrong-token-0123456789',
        `Basic ${TEST_TOKEN}`,
      ]) {
        const response = await fetch(`${h.url}${sampleUrl(route.url)}`, {
          method: route.method,
          headers: authorization ? { authorization } : {},
        });
        expect({ route: `${route.method} ${route.url}`, status: response.status }).toEqual({
          route: `${route.method} ${route.url}`,
          status: 401,
        });
        if (route.method !== 'HEAD') {
          expect(await response.json()).toEqual({
            error: { code: 'unauthorized', message: 'missing or invalid API token' },
          });
        }
      }
    }
  });

  it('refuses ?token= outside WebSocket upgrades', async () => {
    const response = await fetch(`${h.url}/api/pool?token=${TEST_TOKEN}`);
    expect(response.status).toBe(401);
  });

  it('serves the health probes without a token', async () => {
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${h.url}/readyz`)).json()).toEqual({ status: 'ready' });
  });
});

describe('error statuses', () => {
  it('400 for a body that fails its schema and for malformed JSON', async () => {
    const invalid = await h.api('/api/notebooks/x/execute', { method: 'POST', json: { code: 42 } });
    expect(invalid.status).toBe(400);
    expect(await errorCode(invalid)).toBe('invalid_request');
    const malformed = await h.api('/api/notebooks', {
      method: 'POST',
      body: '{"path":',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    const proto = await h.api('/api/runtimes', {
      method: 'POST',
      json: { id: '../etc', url: 'http://127.0.0.1:1', token: 't' },
    });
    expect(proto.status).toBe(400);
  });

  it('413 for a body over the limit', async () => {
    const response = await h.api('/api/notebooks/x/execute', {
      method: 'POST',
      json: { code: 'x'.repeat(3 * 1024 * 1024) },
    });
    expect(response.status).toBe(413);
    expect(await errorCode(response)).toBe('body_too_large');
  });

  it('404 for unknown runtimes, routes and allowlist entries', async () => {
    const runtime = await h.api('/api/runtimes/nope/health');
    expect(runtime.status).toBe(404);
    expect(await errorCode(runtime)).toBe('runtime_not_found');
    expect((await h.api('/api/nothing-here')).status).toBe(404);
    const pkg = await h.api('/api/trust/packages/pypi/surely-not-allowlisted-pkg', {
      method: 'DELETE',
    });
    expect(pkg.status).toBe(404);
    expect(await errorCode(pkg)).toBe('trust_package_not_found');
  });

  it('409 when removing the default runtime', async () => {
    const response = await h.api('/api/runtimes/local', { method: 'DELETE' });
    expect(response.status).toBe(409);
    expect(await errorCode(response)).toBe('default_runtime_protected');
  });

  it('400 for a remote runtime URL that is not http(s)', async () => {
    const response = await h.api('/api/runtimes', {
      method: 'POST',
      json: { id: 'r1', url: 'file:///etc/passwd', token: 'secret-token-abcdef' },
    });
    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('invalid_runtime_url');
  });
});

describe('hostile input', () => {
  it('refuses ids with encoded slashes or whitespace, and prototype keys change nothing', async () => {
    for (const id of ['..%2F..%2Fetc', 'a%20b', '%5C..']) {
      const response = await h.api(`/api/notebooks/${id}`);
      expect({ id, status: response.status }).toEqual({ id, status: 400 });
    }
    const proto = await h.api('/api/runtimes', {
      method: 'POST',
      body: '{"__proto__":{"admin":true},"id":"x","url":"ftp://x","token":"t"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(proto.status).toBe(400);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    const unknownQuery = await h.api('/api/skills/reconcile?dryRun=maybe', { method: 'POST' });
    expect(unknownQuery.status).toBe(400);
  });
});

describe('hostile input on every route (table-driven over the registered routes)', () => {
  const apiRoutes = () =>
    h.server.routes.filter(
      (route) => !PUBLIC.has(route.url) && !route.websocket && route.method !== 'HEAD',
    );

  it('every POST route: an oversized body is 413 and malformed JSON is 400, never a 5xx', async () => {
    const posts = apiRoutes().filter((route) => route.method === 'POST');
    expect(posts.length).toBeGreaterThan(10);
    const huge = JSON.stringify({ code: 'x'.repeat(3 * 1024 * 1024) });
    for (const route of posts) {
      const url = sampleUrl(route.url);
      const over = await h.api(url, {
        method: 'POST',
        body: huge,
        headers: { 'content-type': 'application/json' },
      });
      expect({ route: route.url, status: over.status }).toEqual({ route: route.url, status: 413 });
      expect(await errorCode(over)).toBe('body_too_large');
      for (const body of ['{"code":', '\u0000', '[1,2', '{"__proto__":']) {
        const malformed = await h.api(url, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
        });
        expect({ route: route.url, body, status: malformed.status }).toEqual({
          route: route.url,
          body,
          status: 400,
        });
      }
    }
  });

  it('every route with a path parameter: hostile ids get a 4xx error body without host paths', async () => {
    const withParams = apiRoutes().filter((route) => route.url.includes(':'));
    expect(withParams.length).toBeGreaterThan(10);
    const hostile = [
      '..%2F..%2Fetc%2Fpasswd',
      '__proto__',
      'constructor',
      'hasOwnProperty',
      '%00',
      'a'.repeat(300),
      '%27%3B%20DROP%20TABLE%20trust_packages%3B--',
      '%E2%80%AE',
    ];
    for (const route of withParams) {
      for (const id of hostile) {
        const url = route.url.replace(/:[A-Za-z]+/g, id);
        const response = await h.api(
          `${url}${route.url.endsWith('/availability') ? `?digest=${'a'.repeat(64)}` : ''}`,
          {
            method: route.method,
            ...(route.method === 'POST' ? { json: { code: '1', trust: false } } : {}),
          },
        );
        const label = `${route.method} ${route.url} ${id.slice(0, 40)}`;
        expect({ label, client: response.status >= 400 && response.status < 500 }).toEqual({
          label,
          client: true,
        });
        const text = await response.text();
        expect(JSON.parse(text)).toEqual({
          error: { code: expect.any(String), message: expect.any(String) },
        });
        expect(text).not.toContain(h.dir);
      }
    }
    // Still there and intact after all of it.
    expect((await h.api('/api/trust/packages')).status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('query strings: bad digests, limits and flags are 400', async () => {
    for (const url of [
      '/api/runtimes/local/config-bundles/ws-1.agents/availability?digest=../../x',
      '/api/runtimes/local/config-bundles/ws-1.agents/availability',
      '/api/trust/events?limit=-1',
      '/api/trust/events?limit=abc',
    ]) {
      const response = await h.api(url);
      expect({ url, status: response.status }).toEqual({ url, status: 400 });
    }
  });
});

describe('one process per data dir', () => {
  it('a second server (or runyard mcp) on the same data dir is refused, not left to reap kernels', async () => {
    const error = await openServices(h.config, {
      logger: pino({ level: 'silent' }),
      env: {},
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'data_dir_in_use' });
    // The running server is untouched.
    expect((await h.api('/api/pool')).status).toBe(200);
  });
});

describe('trust routes', () => {
  it('lists the allowlist, revokes with an audit row, then 404s', async () => {
    const list = (await (await h.api('/api/trust/packages')).json()) as {
      packages: { ecosystem: string; name: string }[];
    };
    const numpy = list.packages.find((p) => p.ecosystem === 'pypi' && p.name === 'numpy');
    expect(numpy).toBeDefined();
    const removed = await h.api('/api/trust/packages/pypi/NumPy', { method: 'DELETE' });
    expect(removed.status).toBe(200);
    expect(await removed.json()).toEqual({ ecosystem: 'pypi', name: 'numpy', effect: 'removed' });
    const events = (await (await h.api('/api/trust/events?limit=1000')).json()) as {
      events: { action: string; name: string; actor: string | null }[];
    };
    expect(events.events.at(-1)).toMatchObject({ action: 'revoke', name: 'numpy', actor: 'api' });
    expect((await h.api('/api/trust/packages/pypi/numpy', { method: 'DELETE' })).status).toBe(404);
  });

  it('refuses hostile names', async () => {
    const response = await h.api('/api/trust/packages/pypi/..%2F..%2Fetc', { method: 'DELETE' });
    expect([400, 404]).toContain(response.status);
    const ecosystem = await h.api('/api/trust/packages/npm/left-pad', { method: 'DELETE' });
    expect(ecosystem.status).toBe(400);
  });
});

describe('skills', () => {
  it('lists user skill folders with their frontmatter', async () => {
    const body = (await (await h.api('/api/skills')).json()) as {
      managed: unknown[];
      skills: { name: string; description: string | null; managed: boolean }[];
    };
    expect(body.managed).toEqual([]);
    expect(body.skills).toContainEqual({
      name: 'my-notes',
      scope: 'user',
      description: 'Notes helper',
      managed: false,
    });
  });

  it('reports reconciler status', async () => {
    const status = await (await h.api('/api/skills/reconciler')).json();
    expect(status).toMatchObject({ policy: 'user-choice', configured: false, stopped: false });
  });

  it('the policy gate is on reconcile and never on the kill switch', () => {
    const route = (url: string) =>
      h.server.routes.find((r) => r.url === url && r.method === 'POST');
    expect(route('/api/skills/reconcile')?.preHandlers).toContain('skillsPolicyGate');
    expect(route(KILL_SWITCH_PATH)?.preHandlers).not.toContain('skillsPolicyGate');
    expect(route(KILL_SWITCH_PATH)?.preHandlers).toEqual([]);
  });
});

describe('pool and OpenAPI', () => {
  it('GET /api/pool answers the pool shape', async () => {
    const pool = await (await h.api('/api/pool')).json();
    expect(pool).toMatchObject({
      envPool: { size: expect.any(Number), ready: expect.any(Number) },
      kernelPool: { size: expect.any(Number), failures: expect.any(Number) },
    });
  });

  it('documents every /api route', async () => {
    const doc = (await (await h.api('/api/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      ),
    );
    for (const route of h.server.routes) {
      if (!route.url.startsWith('/api/') || route.url === '/api/openapi.json') continue;
      // WebSocket routes are not part of an OpenAPI document (the README documents /api/events).
      if (route.method === 'HEAD' || route.websocket) continue;
      expect(documented).toContain(`${route.method} ${route.url}`);
    }
  });
});

function openSocket(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  const messages: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    messages.push(JSON.parse(String(data)));
    for (const wake of waiters.splice(0)) wake();
  });
  const next = async (predicate: (m: Record<string, unknown>) => boolean) => {
    for (;;) {
      const found = messages.find(predicate);
      if (found) return found;
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        ws.once('close', () => reject(new Error('socket closed')));
      });
    }
  };
  return { ws, messages, next };
}

describe('WebSocket /api/events', () => {
  const wsUrl = () => `${h.url.replace('http', 'ws')}/api/events`;

  it('refuses an upgrade from a foreign Origin', async () => {
    const ws = new WebSocket(`${wsUrl()}?token=${TEST_TOKEN}`, {
      headers: { origin: 'https://evil.example' },
    });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(403);
    ws.terminate();
  });

  it('refuses an upgrade without a token', async () => {
    const ws = new WebSocket(wsUrl());
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(401);
    ws.terminate();
  });

  it('sends a snapshot on subscribe, then events (the kill switch shows up on skills)', async () => {
    const { ws, next, messages } = openSocket(`${wsUrl()}?token=${TEST_TOKEN}`, {
      origin: h.url,
    });
    await next((m) => m.type === 'hello');
    ws.send(JSON.stringify({ type: 'subscribe', topics: ['skills', 'lifecycle', 'workers'] }));
    const snapshot = await next((m) => m.type === 'snapshot');
    expect(snapshot.topics).toEqual(['skills', 'lifecycle', 'workers']);
    expect(snapshot.data).toMatchObject({
      skills: { policy: 'user-choice' },
      lifecycle: { notebooks: [] },
      workers: { workers: [] },
    });
    ws.send('{"type":"subscribe","topics":["nope"]}');
    const error = await next((m) => m.type === 'error');
    expect((error.error as { code: string }).code).toBe('invalid_request');
    // Hostile messages: oversized, binary, prototype keys, not JSON. Each gets an error; the
    // connection stays usable.
    for (const hostile of [
      JSON.stringify({ type: 'subscribe', topics: ['lifecycle'], pad: 'x'.repeat(5000) }),
      Buffer.from([0, 1, 2, 3]),
      '{"__proto__":{"type":"subscribe"},"topics":["skills"]}',
      'not json',
    ]) {
      const before = messages.filter((m) => m.type === 'error').length;
      ws.send(hostile);
      await next(() => messages.filter((m) => m.type === 'error').length > before);
    }
    expect(({} as Record<string, unknown>).type).toBeUndefined();

    // The kill switch's stop event arrives on the skills topic.
    await h.api(KILL_SWITCH_PATH, { method: 'POST' });
    const stopped = await next((m) => m.type === 'event' && m.topic === 'skills');
    expect(stopped.event).toMatchObject({ type: 'stopped', reason: 'manual' });
    ws.close();
  });
});
