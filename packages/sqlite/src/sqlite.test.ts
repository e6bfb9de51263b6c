import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase, packageDir, readMigrations, SqliteStoreError } from './index.js';

const fixtures = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
const migrations = join(fixtures, 'migrations');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runyard-sqlite-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function runChild(file: string, prefix: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(fixtures, 'migrate-child.ts'), file, migrations, prefix],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

describe('openDatabase', () => {
  it('creates the file in WAL mode with a busy timeout', () => {
    const db = openDatabase(join(dir, 'nested', 'runyard.db'));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('busy_timeout', { simple: true })).toBe(10_000);
    db.close();
  });

  it('refuses a file that is not a database, names it without its path, and leaves it alone', () => {
    const file = join(dir, 'runyard.db');
    const garbage = 'this is not sqlite '.repeat(400);
    writeFileSync(file, garbage);
    let caught: unknown;
    try {
      openDatabase(file);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SqliteStoreError);
    expect((caught as SqliteStoreError).code).toBe('database_corrupt');
    expect((caught as SqliteStoreError).message).toContain('runyard.db');
    expect((caught as SqliteStoreError).message).not.toContain(dir);
    expect(readFileSync(file, 'utf8')).toBe(garbage);
  });

  it('refuses a truncated database', () => {
    const file = join(dir, 'runyard.db');
    const db = openDatabase(file);
    migrate(db, 'fixture', migrations);
    for (let i = 0; i < 500; i++) db.prepare('INSERT INTO items (name) VALUES (?)').run(`n${i}`);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(() => {
      const reopened = openDatabase(file);
      reopened.prepare('SELECT count(*) FROM items').get();
      reopened.close();
    }).toThrowError(expect.objectContaining({ code: 'database_corrupt' }));
  });
});

describe('migrate', () => {
  it('applies each migration once and records it per scope', () => {
    const db = openDatabase(join(dir, 'runyard.db'));
    migrate(db, 'fixture', migrations);
    migrate(db, 'fixture', migrations);
    const rows = db.prepare('SELECT scope, tag FROM __runyard_migrations').all();
    expect(rows).toEqual([
      { scope: 'fixture', tag: '0000_init' },
      { scope: 'fixture', tag: '0001_more' },
    ]);
    db.prepare('INSERT INTO items (name, note) VALUES (?, ?)').run('a', 'b');
    db.close();
  });

  it('splits statements on drizzle breakpoints', () => {
    const [first] = readMigrations(migrations);
    expect(first?.statements).toHaveLength(2);
    expect(first?.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rolls back a failing migration and reports it with a typed error', () => {
    const db = openDatabase(join(dir, 'runyard.db'));
    db.exec('CREATE TABLE items (id integer)');
    expect(() => migrate(db, 'fixture', migrations)).toThrowError(
      expect.objectContaining({ code: 'migration_failed' }),
    );
    // The whole pass rolled back: not even the bookkeeping table was left behind.
    const table = db
      .prepare("SELECT name FROM sqlite_master WHERE name = '__runyard_migrations'")
      .get();
    expect(table).toBeUndefined();
    db.close();
  });

  it('lets two processes migrate and write one new file at the same time without losing rows', async () => {
    const file = join(dir, 'runyard.db');
    const codes = await Promise.all([runChild(file, 'a'), runChild(file, 'b')]);
    expect(codes).toEqual([0, 0]);
    const db = openDatabase(file);
    const count = db.prepare('SELECT count(*) AS n FROM items').get() as { n: number };
    expect(count.n).toBe(100);
    db.close();
  });
});

describe('packageDir', () => {
  it('finds the package that holds a module', () => {
    expect(packageDir(import.meta.url)).toBe(
      fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, ''),
    );
  });
});
