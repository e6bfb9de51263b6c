import { mkdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStoreError } from './errors.js';

export type SqliteDatabase = Database.Database;

export interface OpenDatabaseOptions {
  /** How long a writer waits for another process's lock before giving up (default 10 s). */
  busyTimeoutMs?: number;
  readonly?: boolean;
}

const CORRUPT_CODES = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_VTAB']);

function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Maps a better-sqlite3 failure to a typed error; lets other errors through untouched. */
export function toStoreError(error: unknown, file: string): unknown {
  const code = sqliteCode(error);
  const name = basename(file);
  if (code && CORRUPT_CODES.has(code)) {
    return new SqliteStoreError(
      'database_corrupt',
      `${name} is not a readable SQLite database; it was left untouched. Move it aside (or restore a backup) to start with a fresh one.`,
      { cause: error },
    );
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new SqliteStoreError('database_busy', `${name} stayed locked by another process.`, {
      cause: error,
    });
  }
  return error;
}

/**
 * Opens (creating when missing) a SQLite file in WAL mode with a busy timeout, so concurrent
 * processes queue for the write lock instead of seeing SQLITE_BUSY. A file that is not a
 * database is refused with `database_corrupt` and never reset: it may hold approvals.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
  const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
  if (file !== ':memory:' && !options.readonly) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  }
  let db: SqliteDatabase;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, timeout: busyTimeoutMs });
  } catch (error) {
    const mapped = toStoreError(error, file);
    if (mapped !== error) throw mapped;
    throw new SqliteStoreError('database_open_failed', `${basename(file)} could not be opened.`, {
      cause: error,
    });
  }
  try {
    // Reading the schema is the first thing that touches the file's header.
    db.pragma('schema_version');
    if (!options.readonly) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') {
      throw Object.assign(new Error(String(check)), { code: 'SQLITE_CORRUPT' });
    }
  } catch (error) {
    db.close();
    throw toStoreError(error, file);
  }
  return db;
}

/**
 * Runs `fn` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so two
 * processes never both read-then-upgrade and deadlock into SQLITE_BUSY.
 */
export function writeTransaction<T>(db: SqliteDatabase, fn: () => T): T {
  try {
    return db.transaction(fn).immediate();
  } catch (error) {
    throw toStoreError(error, db.name);
  }
}
