// Raw HTTP on loopback: node:http sends the path exactly as given (fetch would normalise `..`
// and percent-escapes away, which is the input the fuzzer wants the server to see).
import { Agent, request } from 'node:http';

export interface RawResponse {
  status: number;
  text: string;
  /** Set when no response arrived (connection reset, timeout). */
  transportError?: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 8 });

type RawOptions = { headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number };

/**
 * One request. A reused keep-alive socket the server closed as idle just as the request went
 * out fails with ECONNRESET before the server read anything (Node's documented race): that one
 * case is sent again on a fresh socket, as Node's docs advise; any other failure is reported.
 */
export async function raw(
  base: string,
  method: string,
  path: string,
  options: RawOptions = {},
): Promise<RawResponse> {
  const first = await once(base, method, path, options);
  if (first.transportError && first.reused) return once(base, method, path, options, false);
  return first;
}

function once(
  base: string,
  method: string,
  path: string,
  options: RawOptions,
  keepAlive = true,
): Promise<RawResponse & { reused?: boolean }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    let settled = false;
    const done = (value: RawResponse & { reused?: boolean }) => {
      if (!settled) {
        settled = true;
        resolve(value);
      }
    };
    const req = request(
      {
        agent: keepAlive ? agent : false,
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          ...(options.body !== undefined
            ? { 'content-length': Buffer.byteLength(options.body) }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          // Keep the first 1 MiB: enough to check the shape, bounded for the harness.
          if (size <= 1024 * 1024) chunks.push(chunk);
        });
        res.on('end', () =>
          done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (error) => done({ status: 0, text: '', transportError: error.message }));
      },
    );
    req.setTimeout(options.timeoutMs ?? 60_000, () => {
      req.destroy(new Error('timeout'));
    });
    req.on('error', (error) =>
      done({
        status: 0,
        text: '',
        transportError: error.message,
        reused: req.reusedSocket && (error as NodeJS.ErrnoException).code === 'ECONNRESET',
      }),
    );
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

/** JSON API call with the bearer token; throws on a transport error. */
export async function api<T = unknown>(
  server: { url: string; token: string },
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 120_000,
): Promise<{ status: number; body: T }> {
  const response = await raw(server.url, method, path, {
    headers: {
      authorization: `Bearer ${server.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    timeoutMs,
  });
  if (response.transportError) throw new Error(`${method} ${path}: ${response.transportError}`);
  let parsed: unknown = response.text;
  try {
    parsed = JSON.parse(response.text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed as T };
}

export async function apiOk<T = unknown>(
  server: { url: string; token: string },
  method: string,
  path: string,
  body?: unknown,
  timeoutMs?: number,
): Promise<T> {
  const response = await api<T>(server, method, path, body, timeoutMs);
  if (response.status >= 300)
    throw new Error(
      `${method} ${path} → ${response.status}: ${JSON.stringify(response.body).slice(0, 500)}`,
    );
  return response.body;
}

export function closeAgent(): void {
  agent.destroy();
}
