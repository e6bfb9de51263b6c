import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { createLeafIssuer, type GeneratedCa, generateCa } from '../ca.js';

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface EchoServer {
  port: number;
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** A test PKI of its own: the upstream's CA is NOT the proxy's CA. */
export function makeUpstreamPki() {
  const ca = generateCa('Test upstream CA');
  const issuer = createLeafIssuer(ca);
  return { caPem: ca.certPem, leaf: (host: string) => issuer.issue(host) };
}

function echo(seen: SeenRequest[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const record = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(record);
      const body = JSON.stringify(record);
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-echo-auth': String(req.headers.authorization ?? ''),
      });
      res.end(body);
    });
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** HTTPS on 127.0.0.1 with a cert for `localhost` and 127.0.0.1, echoing what it received. */
export async function startHttpsEcho(pki: ReturnType<typeof makeUpstreamPki>): Promise<EchoServer> {
  const seen: SeenRequest[] = [];
  const localhost = pki.leaf('localhost');
  const server = createHttpsServer(
    {
      cert: localhost.certPem,
      key: localhost.keyPem,
      SNICallback: (name, cb) => {
        const leaf = pki.leaf(name || '127.0.0.1');
        cb(null, createSecureContext({ cert: leaf.certPem, key: leaf.keyPem }));
      },
    },
    echo(seen),
  );
  const port = await listen(server);
  return { port, seen, close: () => closeServer(server) };
}

export async function startHttpEcho(): Promise<EchoServer> {
  const seen: SeenRequest[] = [];
  const server = createHttpServer(echo(seen));
  const port = await listen(server);
  return { port, seen, close: () => closeServer(server) };
}

async function closeServer(server: Server & { closeAllConnections?: () => void }): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Async so servers living in this process keep answering while the child runs. */
export function run(
  file: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 20_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * What every proxy suite starts before its proxies: a temp dir, an upstream PKI with an HTTPS
 * and a plain HTTP echo server, and the proxy's own CA (its certificate written to `caFile` for
 * curl). `close` stops both upstreams and removes the dir.
 */
export interface ProxyUpstreams {
  dir: string;
  caFile: string;
  ca: GeneratedCa;
  pki: ReturnType<typeof makeUpstreamPki>;
  https: EchoServer;
  http: EchoServer;
  close(): Promise<void>;
}

export async function startProxyUpstreams(tempPrefix: string): Promise<ProxyUpstreams> {
  const dir = mkdtempSync(join(tmpdir(), tempPrefix));
  const pki = makeUpstreamPki();
  const https = await startHttpsEcho(pki);
  const http = await startHttpEcho();
  const ca = generateCa();
  const caFile = join(dir, 'proxy-ca.crt');
  writeFileSync(caFile, ca.certPem);
  return {
    dir,
    caFile,
    ca,
    pki,
    https,
    http,
    async close() {
      await https.close();
      await http.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
