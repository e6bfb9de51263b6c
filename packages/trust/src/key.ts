import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { TrustError } from './errors.js';

export const TRUST_KEY_BYTES = 32;
export const TRUST_KEY_FILE = 'trust-key';

/**
 * The per-machine HMAC key. The bytes are kept in a private field and every way an object
 * usually ends up in a log (JSON, util.inspect, string conversion) prints a placeholder.
 */
export class TrustKey {
  readonly #bytes: Buffer;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** Wraps raw key bytes; anything but exactly 32 bytes is refused with `trust_key_invalid`. */
  static fromBytes(bytes: Uint8Array): TrustKey {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength !== TRUST_KEY_BYTES) {
      throw new TrustError(
        'trust_key_invalid',
        `a trust key must be exactly ${TRUST_KEY_BYTES} bytes`,
      );
    }
    return new TrustKey(Buffer.from(bytes));
  }

  /** A fresh random key (tests and callers that keep the key somewhere else). */
  static generate(): TrustKey {
    return new TrustKey(randomBytes(TRUST_KEY_BYTES));
  }

  /** @internal The raw bytes, for the HMAC. */
  bytes(): Buffer {
    return this.#bytes;
  }

  toJSON(): string {
    return '[TrustKey]';
  }

  toString(): string {
    return '[TrustKey]';
  }

  [inspect.custom](): string {
    return '[TrustKey]';
  }
}

export interface LoadTrustKeyOptions {
  /** Directory holding `trust-key` (`$RUNYARD_CONFIG_DIR` or `$XDG_CONFIG_HOME/runyard`). */
  configDir: string;
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

async function readKeyFile(file: string): Promise<TrustKey | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NOFOLLOW: a symlink planted in place of the key could point at a file someone else
    // knows, which would let them forge signatures.
    handle = await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'EMLINK') {
      throw new TrustError(
        'trust_key_insecure',
        `the ${TRUST_KEY_FILE} file in the config dir is a symlink; replace it with a regular file (mode 600) or delete it to create a new key`,
        { cause: error },
      );
    }
    throw new TrustError('trust_key_unavailable', `the ${TRUST_KEY_FILE} file cannot be read`, {
      cause: error,
    });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new TrustError(
        'trust_key_invalid',
        `the ${TRUST_KEY_FILE} entry in the config dir is not a regular file`,
      );
    }
    // POSIX permission bits mean nothing on Windows, where ACLs decide.
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new TrustError(
        'trust_key_insecure',
        `the ${TRUST_KEY_FILE} file in the config dir is readable by group or others; anyone who can read it can make any notebook look approved. Fix it with \`chmod 600 ${TRUST_KEY_FILE}\` in the config dir`,
      );
    }
    if (stat.size !== TRUST_KEY_BYTES) {
      throw new TrustError(
        'trust_key_invalid',
        `the ${TRUST_KEY_FILE} file holds ${stat.size} bytes instead of ${TRUST_KEY_BYTES}; it was left untouched. Restore it from a backup, or delete it to create a new key (notebooks signed with the old key will then need approval again)`,
      );
    }
    const bytes = Buffer.alloc(TRUST_KEY_BYTES);
    const { bytesRead } = await handle.read(bytes, 0, TRUST_KEY_BYTES, 0);
    if (bytesRead !== TRUST_KEY_BYTES) {
      throw new TrustError('trust_key_invalid', `the ${TRUST_KEY_FILE} file is truncated`);
    }
    return TrustKey.fromBytes(bytes);
  } finally {
    await handle.close();
  }
}

async function createKeyFile(dir: string, file: string): Promise<void> {
  const temp = join(dir, `.${TRUST_KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(randomBytes(TRUST_KEY_BYTES));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // link() fails with EEXIST instead of replacing: when two processes race, the first link
    // wins and both then read that one key. A reader never sees a half-written key.
    await link(temp, file);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') {
      throw new TrustError(
        'trust_key_unavailable',
        `the ${TRUST_KEY_FILE} file cannot be created`,
        {
          cause: error,
        },
      );
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/**
 * Loads `<configDir>/trust-key`, creating it (32 random bytes, mode 0600) on first use.
 * Refuses a key readable by group or others (`trust_key_insecure`) and a key of the wrong
 * length (`trust_key_invalid`); neither is ever overwritten, since signatures depend on it.
 */
export async function loadOrCreateTrustKey(options: LoadTrustKeyOptions): Promise<TrustKey> {
  const file = join(options.configDir, TRUST_KEY_FILE);
  const existing = await readKeyFile(file);
  if (existing) return existing;
  try {
    await mkdir(options.configDir, { recursive: true, mode: 0o700 });
    await createKeyFile(options.configDir, file);
  } catch (error) {
    if (error instanceof TrustError) throw error;
    throw new TrustError('trust_key_unavailable', `the ${TRUST_KEY_FILE} file cannot be created`, {
      cause: error,
    });
  }
  const created = await readKeyFile(file);
  if (!created) {
    throw new TrustError(
      'trust_key_unavailable',
      `the ${TRUST_KEY_FILE} file vanished after creation`,
    );
  }
  return created;
}
