import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';

/** One keep-alive agent: a caller driving the API reuses its connection, as an SDK would. */
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** A JSON request to a server under test. */
export function api(
  base: { url: string; token: string },
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs = 600_000,
): Promise<ApiResponse> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(path, base.url),
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${base.token}`,
          ...(payload === undefined
            ? {}
            : {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(payload),
              }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            // not JSON: keep the text for the error message
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like `api`, but any status other than `expected` is an error naming the response. */
export async function apiOk<T>(
  base: { url: string; token: string },
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  expected: number[] = [200, 201],
): Promise<T> {
  const response = await api(base, method, path, body);
  if (!expected.includes(response.status)) {
    throw new Error(`${method} ${path} → ${response.status}: ${JSON.stringify(response.body)}`);
  }
  return response.body as T;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** Completed requests in each whole second of the run. */
  perSecond: number[];
  /** Every request's latency, ms. */
  latencies: number[];
  durationMs: number;
}

/**
 * A closed-loop load generator on raw keep-alive sockets (what autocannon does): `connections`
 * sockets each send a GET, read the whole response (Content-Length framed) and send the next,
 * for `durationMs`. Non-200 responses count as errors. Kept lean so that on a 2-core machine
 * the generator, not the server, is rarely the limit; both servers compared share it.
 */
export async function load(options: {
  url: string;
  path: string;
  token: string;
  connections: number;
  durationMs: number;
}): Promise<LoadResult> {
  const target = new URL(options.path, options.url);
  const request = Buffer.from(
    `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nAuthorization: Bearer ${options.token}\r\nAccept: application/json\r\n\r\n`,
  );
  const latencies: number[] = [];
  const seconds: number[] = [];
  let errors = 0;
  const start = performance.now();
  const deadline = start + options.durationMs;

  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket: Socket = connect({ host: target.hostname, port: Number(target.port) });
      socket.setNoDelay(true);
      let buffered: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      const send = () => {
        if (performance.now() >= deadline) {
          socket.end();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      socket.on('connect', send);
      socket.on('data', (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        for (;;) {
          const headerEnd = buffered.indexOf('\r\n\r\n');
          if (headerEnd < 0) return;
          const head = buffered.subarray(0, headerEnd).toString('latin1');
          const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          if (!match) {
            socket.destroy(new Error(`response without content-length: ${head.slice(0, 200)}`));
            return;
          }
          const total = headerEnd + 4 + Number(match[1]);
          if (buffered.length < total) return;
          const now = performance.now();
          if (!head.startsWith('HTTP/1.1 200')) errors++;
          latencies.push(now - sentAt);
          const second = Math.floor((now - start) / 1000);
          seconds[second] = (seconds[second] ?? 0) + 1;
          buffered = buffered.subarray(total);
          send();
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });

  await Promise.all(Array.from({ length: options.connections }, one));
  const durationMs = performance.now() - start;
  const whole = Math.floor(options.durationMs / 1000);
  const perSecond = Array.from({ length: whole }, (_, i) => seconds[i] ?? 0);
  return { requests: latencies.length, errors, perSecond, latencies, durationMs };
}
