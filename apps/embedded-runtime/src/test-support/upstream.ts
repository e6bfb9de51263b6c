import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { createLeafIssuer, generateCa } from '@runyard/sandbox';

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface EchoServer {
  port: number;
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** A PKI of the test's own: the upstream's CA is not the runtime's proxy CA. */
export function makeUpstreamPki() {
  const ca = generateCa('Test upstream CA');
  const issuer = createLeafIssuer(ca);
  return { caPem: ca.certPem, leaf: (host: string) => issuer.issue(host) };
}

/** HTTPS on 127.0.0.1 with a certificate for the name asked (SNI), echoing what it received. */
export async function startHttpsEcho(pki: ReturnType<typeof makeUpstreamPki>): Promise<EchoServer> {
  const seen: SeenRequest[] = [];
  const localhost = pki.leaf('127.0.0.1');
  const server = createHttpsServer(
    {
      cert: localhost.certPem,
      key: localhost.keyPem,
      SNICallback: (name, cb) => {
        const leaf = pki.leaf(name || '127.0.0.1');
        cb(null, createSecureContext({ cert: leaf.certPem, key: leaf.keyPem }));
      },
    },
    (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        const record = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
        seen.push(record);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(record));
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
