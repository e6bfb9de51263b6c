import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { HttpError, HttpErrorCode, httpErrorStatus } from './errors.js';

/**
 * Returns a constant-time check of a presented token against `expected`, hashing `expected`
 * once up front. Both sides are hashed so neither the length nor any prefix of the expected
 * token leaks through timing.
 */
export function tokenChecker(expected: string): (presented: string | undefined) => boolean {
  const a = createHash('sha256').update(expected).digest();
  return (presented) => {
    if (presented === undefined || expected.length === 0) return false;
    return timingSafeEqual(a, createHash('sha256').update(presented).digest());
  };
}

export function tokensEqual(expected: string, presented: string | undefined): boolean {
  return tokenChecker(expected)(presented);
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

function insecure(message: string): HttpError {
  return new HttpError(
    HttpErrorCode.tokenInsecure,
    httpErrorStatus[HttpErrorCode.tokenInsecure],
    message,
  );
}

/**
 * Reads the token file, refusing a symlink (someone else could point it at a file they control)
 * and a file readable by group or others: such a token may already have leaked, so quietly
 * tightening the mode would hide the exposure. The operator rotates or fixes it deliberately.
 */
function readToken(file: string): string | undefined {
  let fd: number;
  try {
    // O_NOFOLLOW: the check and the read are about the same, non-symlinked file.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'EMLINK')
      throw insecure(
        'the API token file in the data dir is a symbolic link; replace it with a regular file (mode 600)',
      );
    throw error;
  }
  let text: string;
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw insecure('the API token file in the data dir is not a regular file');
    if ((stat.mode & 0o077) !== 0)
      throw insecure(
        'the API token file in the data dir is readable by group or others; anyone who can read it can call the API. Fix it with `chmod 600 token` in the data dir (and consider rotating the token)',
      );
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  const token = text.trim();
  return token === '' ? undefined : token;
}
