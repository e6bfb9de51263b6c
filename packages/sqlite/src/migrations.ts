import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type SqliteDatabase, writeTransaction } from './database.js';
import { SqliteStoreError } from './errors.js';

interface Journal {
  entries: { idx: number; tag: string }[];
}

export interface MigrationFile {
  tag: string;
  hash: string;
  statements: string[];
}

/** Reads a drizzle-kit migrations folder (`meta/_journal.json` + `<tag>.sql`) in journal order. */
export function readMigrations(folder: string): MigrationFile[] {
  const journal = JSON.parse(
    readFileSync(join(folder, 'meta', '_journal.json'), 'utf8'),
  ) as Journal;
  return [...journal.entries]
    .sort((a, b) => a.idx - b.idx)
    .map(({ tag }) => {
      const sql = readFileSync(join(folder, `${tag}.sql`), 'utf8');
      return {
        tag,
        hash: createHash('sha256').update(sql).digest('hex'),
        statements: sql
          .split('--> statement-breakpoint')
          .map((part) => part.trim())
          .filter((part) => part.length > 0),
      };
    });
}

/**
 * Applies the checked-in migrations of one package (`scope`) to a shared database file.
 * Each package keeps its own rows in `__runyard_migrations`, so several packages can own
 * tables in one `runyard.db`. Runs under `BEGIN IMMEDIATE`: two processes opening the same
 * new file at once apply each migration exactly once.
 */
export function migrate(db: SqliteDatabase, scope: string, folder: string): void {
  const migrations = readMigrations(folder);
  writeTransaction(db, () => {
    db.exec(`CREATE TABLE IF NOT EXISTS __runyard_migrations (
      scope TEXT NOT NULL,
      tag TEXT NOT NULL,
      hash TEXT NOT NULL,
      applied_at TEXT NOT NULL,
      PRIMARY KEY (scope, tag)
    )`);
    const applied = new Set(
      (
        db.prepare('SELECT tag FROM __runyard_migrations WHERE scope = ?').all(scope) as {
          tag: string;
        }[]
      ).map((row) => row.tag),
    );
    const record = db.prepare(
      'INSERT INTO __runyard_migrations (scope, tag, hash, applied_at) VALUES (?, ?, ?, ?)',
    );
    for (const migration of migrations) {
      if (applied.has(migration.tag)) continue;
      try {
        for (const statement of migration.statements) db.exec(statement);
      } catch (error) {
        throw new SqliteStoreError(
          'migration_failed',
          `migration ${scope}/${migration.tag} failed: ${(error as Error).message}`,
          { cause: error },
        );
      }
      record.run(scope, migration.tag, migration.hash, new Date().toISOString());
    }
  });
}

/**
 * The directory of the package that contains `moduleUrl` (the nearest `package.json` above it).
 * Works from `src/` in tests and from `dist/` (whatever chunking tsup chose) once built.
 */
export function packageDir(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json above the module');
    dir = parent;
  }
}
