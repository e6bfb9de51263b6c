// A 413 must reach a client that is still uploading. These tests speak raw HTTP/1.1 over a TCP
// socket so they can see what the server does with the connection after refusing a body.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DRAIN_BYTES } from './body-drain.js';
import { createHttpServer } from './server.js';

const TOKEN = 'drain-token-0123456789';
const LIMIT = 1024;

let app: Awaited<ReturnType<typeof createHttpServer>>;
let port: number;

beforeAll(async () => {
  app = await createHttpServer({ token: TOKEN, bodyLimit: LIMIT });
  app.post('/api/echo', async (request) => ({ got: request.body }));
  app.get('/healthz', async () => ({ ok: true }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  port = address.port;
});

afterAll(async () => {
  await app.close();
});

/** A socket with everything it received so far, and whether the server closed or reset it. */
async function open(): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  // A write after the server reset the connection fails; the test looks at `closed` instead.
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => text, closed };
}

function write(socket: Socket, data: string | Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(false);
    socket.write(data, (error) => resolve(error == null));
  });
}

async function waitFor(check: () => boolean, closed: Promise<void>): Promise<void> {
  let done = false;
  void closed.then(() => {
    done = true;
  });
  while (!check() && !done) await new Promise((resolve) => setImmediate(resolve));
}

function head(lengthHeader: string): string {
  return (
    'POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
    `Authorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n${lengthHeader}\r\n\r\n`
  );
}

describe('a refused body is drained, not cut off', () => {
  it('answers 413 mid-upload, reads the rest, and keeps the connection for the next request', async () => {
    const { socket, received, closed } = await open();
    const size = 8 * 1024 * 1024;
    await write(socket, head(`Content-Length: ${size}`));
    await waitFor(() => received().includes('\r\n\r\n'), closed);
    // The answer came before the upload: the server did not wait for the body.
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(received().toLowerCase()).not.toContain('connection: close');
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let sent = 0; sent < size; sent += chunk.length) {
      expect(await write(socket, chunk)).toBe(true);
    }
    const before = received().length;
    await write(socket, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor(() => received().slice(before).includes('{"ok":true}'), closed);
    expect(received().slice(before)).toMatch(/^HTTP\/1\.1 200 /);
    expect(received()).toContain('"code":"body_too_large"');
    socket.destroy();
  });

  it('drains a chunked body that grows past the limit the same way', async () => {
    const { socket, received, closed } = await open();
    await write(socket, head('Transfer-Encoding: chunked'));
    const piece = 'x'.repeat(16 * 1024);
    const frame = `${piece.length.toString(16)}\r\n${piece}\r\n`;
    for (let i = 0; i < 64; i++) expect(await write(socket, frame)).toBe(true);
    await write(socket, '0\r\n\r\n');
    await waitFor(() => received().includes('"code":"body_too_large"'), closed);
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    const before = received().length;
    await write(socket, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor(() => received().slice(before).includes('{"ok":true}'), closed);
    expect(received().slice(before)).toMatch(/^HTTP\/1\.1 200 /);
    socket.destroy();
  });

  it('stops reading after MAX_DRAIN_BYTES and drops the connection (bounded work)', async () => {
    const { socket, received, closed } = await open();
    await write(socket, head(`Content-Length: ${4 * MAX_DRAIN_BYTES}`));
    await waitFor(() => received().includes('\r\n\r\n'), closed);
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    const chunk = Buffer.alloc(256 * 1024, 'x');
    let accepted = 0;
    let connected = true;
    void closed.then(() => {
      connected = false;
    });
    while (connected && accepted < 4 * MAX_DRAIN_BYTES) {
      if (!(await write(socket, chunk))) break;
      accepted += chunk.length;
    }
    await closed;
    // Everything past the bound was refused; what got through is the bound plus what the
    // kernel's socket buffers held when the server let go.
    expect(accepted).toBeGreaterThanOrEqual(MAX_DRAIN_BYTES);
    expect(accepted).toBeLessThan(2 * MAX_DRAIN_BYTES);
  });
});
