/**
 * Issue 22 §1, live: a secret granted for a path prefix must not cross it through an encoded
 * slash, a `;` path parameter, a backslash or encoded dots. Real proxy, real curl, real
 * upstreams (plain HTTP and HTTPS) on 127.0.0.1 that record what they received.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretPlaceholders } from './placeholders.js';
import { type EgressProxy, startEgressProxy } from './proxy.js';
import { CROSSING_VECTORS } from './test-support/path-vectors.js';
import {
  type EchoServer,
  type ProxyUpstreams,
  run,
  startProxyUpstreams,
} from './test-support/upstream.js';

const API_TOKEN = 'api-token-real-value-0123456789abcdef';

describe('egress proxy: the path prefix holds against encoded separators, `;` and encoded dots', () => {
  let upstreams: ProxyUpstreams;
  let caFile: string;
  let https: EchoServer;
  let http: EchoServer;
  let proxy: EgressProxy;
  const ph = createSecretPlaceholders(['api_token']);
  const placeholder = ph.api_token as string;

  beforeAll(async () => {
    upstreams = await startProxyUpstreams('runyard-proxy-path-');
    ({ caFile, https, http } = upstreams);
    const { ca, pki } = upstreams;
    proxy = await startEgressProxy({
      grants: [
        {
          secret: 'api_token',
          value: API_TOKEN,
          placeholder,
          destinations: [
            { host: '127.0.0.1', port: http.port, pathPrefix: '/allowed', scheme: 'http' },
            // The HTTPS echo's default certificate names localhost (no SNI is sent for an IP).
            { host: 'localhost', port: https.port, pathPrefix: '/allowed' },
          ],
        },
      ],
      ca,
      listen: { host: '127.0.0.1', port: 0 },
      upstreamCa: [pki.caPem],
    });
  });

  afterAll(async () => {
    await proxy.close();
    await upstreams.close();
  });

  async function curl(url: string) {
    const r = await run('/usr/bin/curl', [
      '-sS',
      '--path-as-is',
      '--proxy',
      proxy.url as string,
      '--cacert',
      caFile,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %header{x-runyard-refusal}',
      '-H',
      `Authorization: Bearer ${placeholder}`,
      url,
    ]);
    const [status, refusal = ''] = r.stdout.trim().split(' ');
    return { status: Number(status), refusal };
  }

  const hostOf = (scheme: 'http' | 'https') => (scheme === 'http' ? '127.0.0.1' : 'localhost');
  const seenWithSecret = (server: EchoServer) =>
    server.seen.filter((s) => JSON.stringify(s.headers).includes(API_TOKEN));

  it('still delivers the secret inside the prefix, escapes of ordinary characters included', async () => {
    for (const [server, scheme] of [
      [http, 'http'],
      [https, 'https'],
    ] as const) {
      const before = seenWithSecret(server).length;
      for (const path of [
        '/allowed',
        '/allowed/x',
        '/allowed/a%20b/%C3%A9t%C3%A9',
        '/allowed/v1.2',
      ]) {
        const r = await curl(`${scheme}://${hostOf(scheme)}:${server.port}${path}`);
        expect(r.status, path).toBe(200);
      }
      expect(seenWithSecret(server).length - before).toBe(4);
      expect(server.seen.at(-1)?.headers.authorization).toBe(`Bearer ${API_TOKEN}`);
    }
  });

  for (const scheme of ['http', 'https'] as const) {
    it(`${scheme}: every crossing vector is refused and the upstream never sees the secret`, async () => {
      const server = scheme === 'http' ? http : https;
      const before = server.seen.length;
      const forwarded: string[] = [];
      for (const path of CROSSING_VECTORS) {
        const { status, refusal } = await curl(
          `${scheme}://${hostOf(scheme)}:${server.port}${path}`,
        );
        // Inside a tunnel the path arrives as sent: refused as ambiguous. A plain-HTTP proxy
        // request is parsed as a URL first, which already resolves `%2e%2e` and `\` out of the
        // prefix: those are placeholder_not_granted. Never forwarded.
        const expected =
          scheme === 'https' ? ['request_refused'] : ['request_refused', 'placeholder_not_granted'];
        if (status !== 403 || !expected.includes(refusal))
          forwarded.push(`${path} ${status} ${refusal}`);
      }
      expect(forwarded).toEqual([]);
      expect(
        server.seen.slice(before).filter((s) => JSON.stringify(s).includes(API_TOKEN)),
      ).toEqual([]);
    });
  }
});
