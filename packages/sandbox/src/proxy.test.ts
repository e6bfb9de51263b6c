import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCa } from './ca.js';
import { createSecretPlaceholders } from './placeholders.js';
import { type EgressEvent, type EgressProxy, startEgressProxy } from './proxy.js';
import {
  type EchoServer,
  makeUpstreamPki,
  type ProxyUpstreams,
  run,
  startHttpsEcho,
  startProxyUpstreams,
} from './test-support/upstream.js';

const TOKEN = 'ghp_realTokenValue0123456789abcdefghijKL';
const PASSWORD = 'pa:ss w0rd/with+chars';
const API_KEY = 'key&with=reserved?chars#1';

describe('egress proxy', () => {
  let upstreams: ProxyUpstreams;
  let caFile: string;
  let upstream: EchoServer;
  let plain: EchoServer;
  let proxy: EgressProxy;
  let strictProxy: EgressProxy;
  const events: EgressEvent[] = [];
  const ph = createSecretPlaceholders(['TOKEN', 'PASSWORD', 'API_KEY', 'OTHER']);

  beforeAll(async () => {
    upstreams = await startProxyUpstreams('runyard-proxy-');
    ({ caFile, https: upstream, http: plain } = upstreams);
    const { ca, pki } = upstreams;
    const at = (pathPrefix: string) => [{ host: 'localhost', port: upstream.port, pathPrefix }];
    const grants = [
      { secret: 'TOKEN', value: TOKEN, placeholder: ph.TOKEN as string, destinations: at('/api') },
      {
        secret: 'PASSWORD',
        value: PASSWORD,
        placeholder: ph.PASSWORD as string,
        destinations: at('/basic/'),
      },
      {
        secret: 'API_KEY',
        value: API_KEY,
        placeholder: ph.API_KEY as string,
        destinations: at('/q'),
      },
      {
        secret: 'OTHER',
        value: 'other-secret-value',
        placeholder: ph.OTHER as string,
        destinations: [
          { host: 'elsewhere.example', pathPrefix: '/' },
          { host: 'localhost', port: plain.port, scheme: 'http' as const },
        ],
      },
    ];
    proxy = await startEgressProxy({
      grants,
      ca,
      listen: { host: '127.0.0.1', port: 0 },
      upstreamCa: [pki.caPem],
      onEvent: (e) => events.push(e),
    });
    // Same grants, but the upstream's private CA is not trusted.
    strictProxy = await startEgressProxy({ grants, ca, listen: { host: '127.0.0.1', port: 0 } });
  });

  afterAll(async () => {
    await proxy.close();
    await strictProxy.close();
    await upstreams.close();
  });

  async function curl(url: string, extra: string[] = [], via = proxy) {
    const result = await run('/usr/bin/curl', [
      '-sS',
      '--proxy',
      via.url as string,
      '--cacert',
      caFile,
      '-D',
      '-',
      ...extra,
      url,
    ]);
    // -D - prints every header block (the CONNECT answer first); the last one is the response's.
    let rest = result.stdout;
    let lastHead = '';
    while (rest.startsWith('HTTP/')) {
      const end = rest.indexOf('\r\n\r\n');
      lastHead = rest.slice(0, end);
      rest = rest.slice(end + 4);
    }
    const body = rest;
    const status = Number(/HTTP\/[\d.]+ (\d+)/.exec(lastHead)?.[1] ?? 0);
    return { ...result, status, head: lastHead.toLowerCase(), body };
  }

  const base = () => `https://localhost:${upstream.port}`;
  const lastSeen = () => upstream.seen.at(-1);

  it('substitutes a granted placeholder in a header and the upstream sees the real value', async () => {
    const before = upstream.seen.length;
    const r = await curl(`${base()}/api/user`, ['-H', `Authorization: Bearer ${ph.TOKEN}`]);
    expect(r.status).toBe(200);
    expect(upstream.seen.length).toBe(before + 1);
    expect(lastSeen()?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    // The echo reflects the secret; the proxy scrubs it from headers and the textual body.
    expect(r.stdout).not.toContain(TOKEN);
    expect(r.body).toContain('[REDACTED:TOKEN]');
    expect(r.head).toContain('x-echo-auth: bearer [redacted:token]');
    const event = events.findLast((e) => e.type === 'request');
    expect(event).toMatchObject({
      outcome: 'forwarded',
      credentials: ['TOKEN'],
      host: 'localhost',
      status: 200,
    });
    expect(JSON.stringify(events)).not.toContain(TOKEN);
  });

  it('refuses a placeholder outside the granted path prefix, with a typed reason', async () => {
    const before = upstream.seen.length;
    for (const path of ['/admin', '/apix', '/API/user']) {
      const r = await curl(`${base()}${path}`, ['-H', `Authorization: Bearer ${ph.TOKEN}`]);
      expect(r.status).toBe(403);
      expect(r.head).toContain('x-runyard-refusal: placeholder_not_granted');
      expect(JSON.parse(r.body)).toEqual({
        error: {
          code: 'placeholder_not_granted',
          message: 'secret TOKEN is not granted for this destination',
        },
      });
    }
    expect(upstream.seen.length).toBe(before);
    // Without a placeholder the same host is reachable (the host is granted; only the secret is scoped).
    expect((await curl(`${base()}/admin`)).status).toBe(200);
  });

  it('refuses a placeholder granted only for another destination', async () => {
    const r = await curl(`${base()}/api/user`, ['-H', `X-Key: ${ph.OTHER}`]);
    expect(r.status).toBe(403);
    expect(r.head).toContain('x-runyard-refusal: placeholder_not_granted');
  });

  it('substitutes inside Basic auth (decode, swap, re-encode)', async () => {
    const r = await curl(`${base()}/basic/login`, ['-u', `alice:${ph.PASSWORD}`]);
    expect(r.status).toBe(200);
    const auth = String(lastSeen()?.headers.authorization);
    expect(Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString()).toBe(`alice:${PASSWORD}`);
    // The echoed base64 form is scrubbed too.
    expect(r.stdout).not.toContain(auth.replace(/^Basic /, ''));
    const denied = await curl(`${base()}/api/x`, ['-u', `alice:${ph.PASSWORD}`]);
    expect(denied.status).toBe(403);
  });

  it('substitutes in the query string, URL-encoded, and never in the body', async () => {
    const r = await curl(`${base()}/q/search?key=${ph.API_KEY}&x=1`, [
      '-X',
      'POST',
      '--data-binary',
      `body=${ph.API_KEY}`,
    ]);
    expect(r.status).toBe(200);
    const seen = lastSeen();
    expect(seen?.url).toBe(`/q/search?key=${encodeURIComponent(API_KEY)}&x=1`);
    expect(new URL(`https://h${seen?.url}`).searchParams.get('key')).toBe(API_KEY);
    expect(seen?.body).toBe(`body=${ph.API_KEY}`);
    const event = events.findLast((e) => e.type === 'request');
    expect(event && 'path' in event ? event.path : '').toBe('/q/search?key=[CREDENTIAL]&x=1');
  });

  it('fails closed on unknown or mangled placeholders anywhere it looks', async () => {
    const before = upstream.seen.length;
    const unknown = `runyard-ph-${'0'.repeat(32)}`;
    const cases: string[][] = [
      ['-H', `Authorization: Bearer ${unknown}`],
      ['-H', `Authorization: Bearer ${ph.TOKEN?.toUpperCase()}`],
      ['-H', `Authorization: Bearer ${ph.TOKEN}x`],
      ['-H', `Authorization: Bearer ${ph.TOKEN}-suffix`],
      ['-u', `bob:${unknown}`],
    ];
    for (const extra of cases) {
      const r = await curl(`${base()}/api/user`, extra);
      expect(r.status, extra.join(' ')).toBe(403);
      expect(r.head).toContain('x-runyard-refusal: placeholder_unknown');
    }
    const inQuery = await curl(`${base()}/api/user?k=${unknown}`);
    expect(inQuery.head).toContain('x-runyard-refusal: placeholder_unknown');
    const inPath = await curl(`${base()}/api/${unknown}`);
    expect(inPath.head).toContain('x-runyard-refusal: placeholder_unknown');
    expect(upstream.seen.length).toBe(before);
  });

  it('refuses Host mismatches and dot segments instead of guessing', async () => {
    const wrongHost = await curl(`${base()}/api/user`, [
      '-H',
      `Authorization: Bearer ${ph.TOKEN}`,
      '-H',
      'Host: evil.example',
    ]);
    expect(wrongHost.status).toBe(403);
    expect(wrongHost.head).toContain('x-runyard-refusal: request_refused');
    for (const path of ['/api/../admin', '/api/%2e%2e/admin', '/api/./x']) {
      const r = await curl(`${base()}${path}`, [
        '--path-as-is',
        '-H',
        `Authorization: Bearer ${ph.TOKEN}`,
      ]);
      expect(r.status, path).toBe(403);
    }
  });

  it('refuses CONNECT to a destination no grant covers, with a JSON reason', async () => {
    const before = upstream.seen.length;
    const viaCurl = await curl(`https://127.0.0.1:${upstream.port}/api/user`, [
      '-H',
      `Authorization: Bearer ${ph.TOKEN}`,
    ]);
    expect(viaCurl.code).not.toBe(0);
    expect(viaCurl.stderr).toMatch(/403/);
    const raw = await new Promise<string>((resolve) => {
      const socket = connect(proxy.port as number, '127.0.0.1', () => {
        socket.write(
          `CONNECT 127.0.0.1:${upstream.port} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`,
        );
      });
      let text = '';
      socket.on('error', () => resolve(text));
      socket.on('data', (d) => {
        text += d;
      });
      socket.on('close', () => resolve(text));
    });
    expect(raw).toMatch(/^HTTP\/1.1 403 Forbidden\r\n/);
    expect(raw).toContain('x-runyard-refusal: destination_not_granted');
    expect(raw).toContain('{"error":{"code":"destination_not_granted"');
    expect(upstream.seen.length).toBe(before);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'connect', host: '127.0.0.1', outcome: 'refused' }),
    );
  });

  it('handles plain HTTP proxy requests only where http is granted', async () => {
    const ok = await curl(`http://localhost:${plain.port}/p?k=${ph.OTHER}`);
    expect(ok.status).toBe(200);
    expect(plain.seen.at(-1)?.url).toBe('/p?k=other-secret-value');
    const refused = await curl(`http://127.0.0.1:${plain.port}/p`);
    expect(refused.status).toBe(403);
    expect(refused.head).toContain('x-runyard-refusal: destination_not_granted');
    // TOKEN is granted over https only: plain http never gets it.
    const noHttps = await curl(`http://localhost:${plain.port}/api`, [
      '-H',
      `Authorization: Bearer ${ph.TOKEN}`,
    ]);
    expect(noHttps.status).toBe(403);
    expect(noHttps.head).toContain('x-runyard-refusal: placeholder_not_granted');
  });

  it('verifies the upstream certificate and fails with 502 when it does not verify', async () => {
    const before = upstream.seen.length;
    const r = await curl(
      `${base()}/api/user`,
      ['-H', `Authorization: Bearer ${ph.TOKEN}`],
      strictProxy,
    );
    expect(r.status).toBe(502);
    expect(r.head).toContain('x-runyard-refusal: upstream_failed');
    expect(JSON.parse(r.body).error.message).toBe('upstream certificate did not verify');
    expect(upstream.seen.length).toBe(before);
  });

  it('rejects grants whose values cannot travel in a header or whose placeholder is malformed', async () => {
    const ca = generateCa();
    const bad = [
      {
        secret: 'A',
        value: 'line\r\nbreak-value',
        placeholder: ph.TOKEN as string,
        destinations: [],
      },
      { secret: 'B', value: 'fine-value-here', placeholder: 'not-a-placeholder', destinations: [] },
      {
        secret: 'C',
        value: 'fine-value-here',
        placeholder: ph.TOKEN as string,
        destinations: [{ host: 'bad host/' }],
      },
      {
        secret: 'D',
        value: 'fine-value-here',
        placeholder: ph.TOKEN as string,
        destinations: [{ host: 'ok.example', pathPrefix: '/a/../b' }],
      },
    ];
    for (const grant of bad) {
      await expect(
        startEgressProxy({ grants: [grant], ca, listen: { host: '127.0.0.1', port: 0 } }),
      ).rejects.toMatchObject({ code: 'invalid_grant' });
    }
  });
});

describe('egress proxy tunnels for secretless allowed destinations', () => {
  it('tunnels TLS untouched to an allowed destination and refuses the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runyard-proxy-tunnel-'));
    const pki = makeUpstreamPki();
    const upstream = await startHttpsEcho(pki);
    const upstreamCaFile = join(dir, 'upstream-ca.crt');
    writeFileSync(upstreamCaFile, pki.caPem);
    const proxy = await startEgressProxy({
      grants: [],
      allow: [{ host: 'localhost', port: upstream.port }],
      ca: generateCa(),
      listen: { socketPath: join(dir, 'proxy.sock') },
    });
    const server = await import('node:net').then(({ createServer }) =>
      createServer((c) => {
        const u = connect(proxy.socketPath as string);
        c.on('error', () => u.destroy());
        u.on('error', () => c.destroy());
        c.pipe(u).pipe(c);
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      // The client trusts only the upstream's own CA: proof the proxy did not intercept.
      const ok = await run('/usr/bin/curl', [
        '-sS',
        '--proxy',
        `http://127.0.0.1:${port}`,
        '--cacert',
        upstreamCaFile,
        `https://localhost:${upstream.port}/t`,
      ]);
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout).url).toBe('/t');
      const refused = await run('/usr/bin/curl', [
        '-sS',
        '--proxy',
        `http://127.0.0.1:${port}`,
        '--cacert',
        upstreamCaFile,
        `https://127.0.0.1:${upstream.port}/t`,
      ]);
      expect(refused.code).not.toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await proxy.close();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
