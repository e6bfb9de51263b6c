import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateTrustKey, TrustError, TrustKey } from './index.js';
import { tempDir } from './test-support/notebooks.js';
import { runFixture } from './test-support/spawn.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('key'));
});
afterEach(() => cleanup());

async function caught(promise: Promise<unknown>): Promise<TrustError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TrustError);
    return error as TrustError;
  }
  throw new Error('expected a TrustError');
}

describe('loadOrCreateTrustKey', () => {
  it('creates 32 random bytes with mode 0600 in a new config dir, then reuses them', async () => {
    const configDir = join(dir, 'config', 'runyard');
    const key = await loadOrCreateTrustKey({ configDir });
    const file = join(configDir, 'trust-key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(file).size).toBe(32);
    const again = await loadOrCreateTrustKey({ configDir });
    expect(again.bytes().equals(key.bytes())).toBe(true);
    expect(readFileSync(file).equals(key.bytes())).toBe(true);
  });

  it('ends with one key when many loads race in one process', async () => {
    const keys = await Promise.all(
      Array.from({ length: 16 }, () => loadOrCreateTrustKey({ configDir: dir })),
    );
    for (const key of keys) expect(key.bytes().equals(keys[0]!.bytes())).toBe(true);
  });

  it('ends with one key when two processes start together', async () => {
    const results = await Promise.all([
      runFixture('key-child.ts', [dir]),
      runFixture('key-child.ts', [dir]),
    ]);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    expect(results[0]!.stdout).toMatch(/^[0-9a-f]{64}$/);
    expect(results[0]!.stdout).toBe(results[1]!.stdout);
  });

  it('refuses a key readable by group or others and says how to fix it', async () => {
    await loadOrCreateTrustKey({ configDir: dir });
    chmodSync(join(dir, 'trust-key'), 0o644);
    const error = await caught(loadOrCreateTrustKey({ configDir: dir }));
    expect(error.code).toBe('trust_key_insecure');
    expect(error.message).toContain('chmod 600');
    expect(error.message).not.toContain(dir);
    chmodSync(join(dir, 'trust-key'), 0o640);
    expect((await caught(loadOrCreateTrustKey({ configDir: dir }))).code).toBe(
      'trust_key_insecure',
    );
  });

  it('refuses a key of the wrong length and leaves the file alone', async () => {
    const file = join(dir, 'trust-key');
    for (const size of [0, 16, 31, 33, 64]) {
      writeFileSync(file, Buffer.alloc(size, 7), { mode: 0o600 });
      chmodSync(file, 0o600);
      const error = await caught(loadOrCreateTrustKey({ configDir: dir }));
      expect(error.code).toBe('trust_key_invalid');
      expect(error.message).not.toContain(dir);
      expect(readFileSync(file).length).toBe(size);
    }
  });

  it('refuses a symlink planted in place of the key', async () => {
    const target = join(dir, 'elsewhere');
    writeFileSync(target, Buffer.alloc(32, 1), { mode: 0o600 });
    symlinkSync(target, join(dir, 'trust-key'));
    expect((await caught(loadOrCreateTrustKey({ configDir: dir }))).code).toBe(
      'trust_key_insecure',
    );
  });

  it('refuses a directory in place of the key', async () => {
    mkdirSync(join(dir, 'trust-key'), { mode: 0o700 });
    expect((await caught(loadOrCreateTrustKey({ configDir: dir }))).code).toBe('trust_key_invalid');
  });
});

describe('TrustKey', () => {
  it('refuses raw keys of the wrong length', () => {
    expect(() => TrustKey.fromBytes(new Uint8Array(31))).toThrowError(
      expect.objectContaining({ code: 'trust_key_invalid' }),
    );
    expect(() => TrustKey.fromBytes('x'.repeat(32) as unknown as Uint8Array)).toThrowError(
      expect.objectContaining({ code: 'trust_key_invalid' }),
    );
  });

  it('never prints its bytes', () => {
    const key = TrustKey.fromBytes(Buffer.alloc(32, 0xab));
    const hex = 'ab'.repeat(32);
    expect(JSON.stringify({ key })).not.toContain(hex);
    expect(inspect(key)).not.toContain('ab, ab');
    expect(`${key}`).toBe('[TrustKey]');
  });
});
