import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * Compares a presented token with the expected one in constant time. Both sides are hashed
 * first so neither the length nor any prefix of the expected token leaks through timing.
 */
export function tokensEqual(expected: string, presented: string | undefined): boolean {
  if (presented === undefined || expected.length === 0) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

export interface LoadTokenOptions {
  dataDir: string;
  /** A token from configuration (e.g. `RUNYARD_TOKEN`) wins over the file. */
  token?: string | undefined;
  fileName?: string;
}

export interface LoadedToken {
  token: string;
  /** Where it came from, for telling the operator how to get it (never the token itself). */
  source: 'configured' | 'file' | 'generated';
  file?: string;
}

/**
 * The API token: the configured one, else `<dataDir>/token`, created at first start with mode
 * 0600. Creation is atomic (temp file + `link`) so two servers starting together agree.
 */
export function loadOrCreateToken(options: LoadTokenOptions): LoadedToken {
  if (options.token !== undefined && options.token !== '') {
    return { token: options.token, source: 'configured' };
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const file = join(options.dataDir, options.fileName ?? 'token');
  const existing = readToken(file);
  if (existing !== undefined) return { token: existing, source: 'file', file };
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, `${generateToken()}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temp);
  }
  const token = readToken(file);
  if (token === undefined) throw new Error('token file is empty');
  return { token, source: 'generated', file };
}

function readToken(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  // A token file others can read is a leaked token: tighten it rather than serve with it open.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const token = text.trim();
  return token === '' ? undefined : token;
}
