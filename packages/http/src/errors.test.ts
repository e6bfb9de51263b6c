import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDiskFull, statusTable } from './errors.js';
import { createHttpServer } from './server.js';

/** What fs.writeFile throws on a full disk: the message names a host path. */
function enospc(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write',
    path,
  });
}

let app: Awaited<ReturnType<typeof createHttpServer>>;
let base: string;
let dir: string;
const TOKEN = 'errors-test-token-0123456789';

beforeAll(async () => {
  dir = mkdtempSync(`${tmpdir()}/runyard-http-errors-`);
  app = await createHttpServer({ token: TOKEN, statusFor: statusTable({}) });
  app.get('/api/full', async () => {
    throw enospc(`${dir}/workspace/.n.ipynb.123.tmp`);
  });
  app.get('/api/full-sqlite', async () => {
    // better-sqlite3's SqliteError, wrapped by a store that adds context.
    const sqlite = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    throw new Error('could not store the bundle', { cause: sqlite });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a full disk', () => {
  it('answers 507 disk_full with a fixed message, never the file path', async () => {
    for (const route of ['/api/full', '/api/full-sqlite']) {
      const response = await fetch(`${base}${route}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(response.status).toBe(507);
      const text = await response.text();
      expect(text).not.toContain(dir);
      expect(JSON.parse(text)).toEqual({
        error: {
          code: 'disk_full',
          message: "no space left on the server's disk: free some space and retry",
        },
      });
    }
  });

  it('is recognised through the cause chain and only for no-space codes', () => {
    expect(isDiskFull(enospc('/x'))).toBe(true);
    expect(isDiskFull(Object.assign(new Error('quota'), { code: 'EDQUOT' }))).toBe(true);
    expect(isDiskFull(new Error('outer', { cause: { code: 'SQLITE_FULL' } }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error('gone'), { code: 'ENOENT' }))).toBe(false);
    expect(isDiskFull(new Error('plain'))).toBe(false);
    expect(isDiskFull(null)).toBe(false);
  });
});
