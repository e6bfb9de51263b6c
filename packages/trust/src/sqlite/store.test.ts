import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '@runyard/sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_TRUSTED_PACKAGES, TrustError } from '../index.js';
import { tempDir } from '../test-support/notebooks.js';
import { openTrustStore } from './index.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('store'));
});
afterEach(() => cleanup());

function openError(file: string): TrustError {
  try {
    openTrustStore({ file }).close();
  } catch (error) {
    expect(error).toBeInstanceOf(TrustError);
    return error as TrustError;
  }
  throw new Error('expected the store to refuse the file');
}

describe('openTrustStore', () => {
  it('migrates once and seeds the defaults into both ecosystems', () => {
    const file = join(dir, 'runyard.db');
    const store = openTrustStore({ file });
    const trusted = store.listTrusted();
    expect(trusted).toHaveLength(DEFAULT_TRUSTED_PACKAGES.length * 2);
    for (const name of DEFAULT_TRUSTED_PACKAGES) {
      for (const ecosystem of ['pypi', 'conda'] as const) {
        expect(trusted).toContainEqual(
          expect.objectContaining({ ecosystem, name, source: 'default-seed' }),
        );
      }
    }
    expect(
      store.auditLog().every((entry) => entry.action === 'seed' && entry.effect === 'added'),
    ).toBe(true);
    store.close();
    // Reopening writes nothing new: seeding is ON CONFLICT DO NOTHING and unchanged rows are not audited.
    const again = openTrustStore({ file });
    expect(again.auditLog()).toHaveLength(DEFAULT_TRUSTED_PACKAGES.length * 2);
    const migrations = again.db
      .prepare("SELECT tag FROM __runyard_migrations WHERE scope = 'trust'")
      .all();
    expect(migrations).toEqual([
      { tag: '0000_init' },
      { tag: '0001_audit_append_only' },
      { tag: '0002_seeded_defaults' },
    ]);
    again.close();
  });

  it('never overwrites an earlier approval and its source, and revokes nothing when defaults shrink', () => {
    const file = join(dir, 'runyard.db');
    const first = openTrustStore({ file }, { defaultTrustedPackages: ['scipy'] });
    first.allow([{ ecosystem: 'pypi', name: 'NumPy' }], { source: 'user-approval', actor: 'me' });
    first.close();
    const second = openTrustStore({ file }, { defaultTrustedPackages: ['numpy'] });
    const numpy = second.findTrusted([{ ecosystem: 'pypi', name: 'numpy' }]);
    expect(numpy).toEqual([expect.objectContaining({ source: 'user-approval' })]);
    // scipy was a default before and is not any more: still trusted.
    expect(second.findTrusted([{ ecosystem: 'conda', name: 'scipy' }])).toHaveLength(1);
    expect(second.findTrusted([{ ecosystem: 'conda', name: 'numpy' }])).toEqual([
      expect.objectContaining({ source: 'default-seed' }),
    ]);
    second.close();
  });

  it('seeds each default once per database: a revoked default stays revoked, a new default is seeded', () => {
    const file = join(dir, 'runyard.db');
    const first = openTrustStore({ file }, { defaultTrustedPackages: ['numpy', 'scipy'] });
    first.revoke([{ ecosystem: 'pypi', name: 'numpy' }], { actor: 'me' });
    first.close();

    const second = openTrustStore(
      { file },
      { defaultTrustedPackages: ['numpy', 'scipy', 'polars'] },
    );
    expect(second.findTrusted([{ ecosystem: 'pypi', name: 'numpy' }])).toEqual([]);
    // The other ecosystem's numpy was never revoked.
    expect(second.findTrusted([{ ecosystem: 'conda', name: 'numpy' }])).toHaveLength(1);
    // A default added later is seeded (and audited) on the next open.
    expect(
      second.findTrusted([
        { ecosystem: 'pypi', name: 'polars' },
        { ecosystem: 'conda', name: 'polars' },
      ]),
    ).toEqual([
      expect.objectContaining({ name: 'polars', source: 'default-seed' }),
      expect.objectContaining({ name: 'polars', source: 'default-seed' }),
    ]);
    const seeds = second.auditLog().filter((entry) => entry.action === 'seed');
    expect(seeds.filter((entry) => entry.name === 'numpy')).toHaveLength(2);
    expect(seeds.filter((entry) => entry.name === 'polars')).toHaveLength(2);
    second.close();

    // Still revoked after any number of opens, also over a shared connection.
    const db = openDatabase(file);
    try {
      const shared = openTrustStore({ db }, { defaultTrustedPackages: ['numpy'] });
      expect(shared.findTrusted([{ ecosystem: 'pypi', name: 'numpy' }])).toEqual([]);
      // An explicit approval still works after the revocation.
      shared.allow([{ ecosystem: 'pypi', name: 'numpy' }], { source: 'user-approval' });
      expect(shared.findTrusted([{ ecosystem: 'pypi', name: 'numpy' }])).toEqual([
        expect.objectContaining({ source: 'user-approval' }),
      ]);
    } finally {
      db.close();
    }
  });

  it('does not re-seed defaults revoked before the seeded-defaults table existed', () => {
    const file = join(dir, 'runyard.db');
    openTrustStore({ file }, { defaultTrustedPackages: ['numpy'] }).close();
    const store = openTrustStore({ file }, { defaultTrustedPackages: [] });
    store.revoke([{ ecosystem: 'conda', name: 'numpy' }]);
    // Simulate a database from before migration 0002: no record of seeded names, no migration row.
    store.db.exec('DROP TABLE trust_seeded_defaults');
    store.db.exec(
      "DELETE FROM __runyard_migrations WHERE scope = 'trust' AND tag = '0002_seeded_defaults'",
    );
    store.close();
    const upgraded = openTrustStore({ file }, { defaultTrustedPackages: ['numpy'] });
    expect(upgraded.findTrusted([{ ecosystem: 'conda', name: 'numpy' }])).toEqual([]);
    expect(upgraded.findTrusted([{ ecosystem: 'pypi', name: 'numpy' }])).toHaveLength(1);
    upgraded.close();
  });

  it('records approvals, seeds and revocations in an append-only audit log', () => {
    const store = openTrustStore({ file: join(dir, 'runyard.db') }, { defaultTrustedPackages: [] });
    store.allow([{ ecosystem: 'conda', name: 'R-Base' }], {
      source: 'project-file',
      notebookPath: 'x.ipynb',
    });
    store.allow([{ ecosystem: 'conda', name: 'r-base' }], { source: 'user-approval', actor: 'me' });
    store.revoke([{ ecosystem: 'conda', name: 'r-base' }], { actor: 'admin' });
    store.revoke([{ ecosystem: 'conda', name: 'r-base' }], { actor: 'admin' });
    expect(
      store.auditLog().map(({ action, effect, source, actor, notebookPath, name }) => ({
        action,
        effect,
        source,
        actor,
        notebookPath,
        name,
      })),
    ).toEqual([
      {
        action: 'seed',
        effect: 'added',
        source: 'project-file',
        actor: null,
        notebookPath: 'x.ipynb',
        name: 'r-base',
      },
      {
        action: 'approve',
        effect: 'already_trusted',
        source: 'user-approval',
        actor: 'me',
        notebookPath: null,
        name: 'r-base',
      },
      {
        action: 'revoke',
        effect: 'removed',
        source: null,
        actor: 'admin',
        notebookPath: null,
        name: 'r-base',
      },
      {
        action: 'revoke',
        effect: 'not_trusted',
        source: null,
        actor: 'admin',
        notebookPath: null,
        name: 'r-base',
      },
    ]);
    expect(store.auditLog({ limit: 1 })).toHaveLength(1);
    expect(() => store.db.prepare("UPDATE trust_audit SET actor = 'someone else'").run()).toThrow(
      /append-only/,
    );
    expect(() => store.db.prepare('DELETE FROM trust_audit').run()).toThrow(/append-only/);
    expect(store.auditLog()).toHaveLength(4);
    store.close();
  });

  it('handles a thousand packages in one atomic call', () => {
    const store = openTrustStore({ file: join(dir, 'runyard.db') }, { defaultTrustedPackages: [] });
    const refs = Array.from({ length: 1000 }, (_, i) => ({
      ecosystem: 'pypi' as const,
      name: `p${i}`,
    }));
    store.allow(refs, { source: 'user-approval' });
    expect(store.findTrusted(refs)).toHaveLength(1000);
    // A bad entry at the end rolls back nothing because it is refused before any write.
    expect(() =>
      store.allow(
        [...refs.map((r) => ({ ...r, name: `q${r.name}` })), { ecosystem: 'pypi', name: '../x' }],
        {
          source: 'user-approval',
        },
      ),
    ).toThrowError(expect.objectContaining({ code: 'trust_input_invalid' }));
    expect(store.findTrusted([{ ecosystem: 'pypi', name: 'qp0' }])).toEqual([]);
    store.close();
  });

  it('works on a connection the app shares, and leaves it open', () => {
    const db = openDatabase(join(dir, 'runyard.db'));
    const store = openTrustStore({ db });
    expect(store.listTrusted().length).toBeGreaterThan(0);
    store.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT count(*) AS n FROM trust_trusted_packages').get()).toEqual({
      n: DEFAULT_TRUSTED_PACKAGES.length * 2,
    });
    db.close();
  });

  it('refuses a file that is not a database, without resetting it or naming its path', () => {
    const file = join(dir, 'runyard.db');
    const garbage = Buffer.from(
      'definitely not sqlite, but maybe someone’s approvals '.repeat(200),
    );
    writeFileSync(file, garbage);
    const error = openError(file);
    expect(error.code).toBe('trust_store_corrupt');
    expect(error.message).not.toContain(dir);
    expect(readFileSync(file).equals(garbage)).toBe(true);
  });

  it('refuses a truncated database, without resetting it', () => {
    const file = join(dir, 'runyard.db');
    const store = openTrustStore({ file });
    store.allow(
      Array.from({ length: 3000 }, (_, i) => ({
        ecosystem: 'pypi' as const,
        name: `package-number-${i}`,
      })),
      {
        source: 'user-approval',
        actor: 'someone with a long name',
        notebookPath: 'notebooks/analysis.ipynb',
      },
    );
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.close();
    const bytes = readFileSync(file);
    const truncated = bytes.subarray(0, Math.floor(bytes.length / 2));
    writeFileSync(file, truncated);
    const error = openError(file);
    expect(error.code).toBe('trust_store_corrupt');
    expect(readFileSync(file).equals(truncated)).toBe(true);
  });

  it('refuses hostile default lists', () => {
    const file = join(dir, 'runyard.db');
    for (const defaults of [
      ['ok', '../../etc'],
      'numpy' as unknown as string[],
      [42 as unknown as string],
    ]) {
      expect(() => openTrustStore({ file }, { defaultTrustedPackages: defaults })).toThrowError(
        expect.objectContaining({ code: 'trust_input_invalid' }),
      );
    }
  });
});

describe('the in-memory allowlist snapshot', () => {
  const ref = { ecosystem: 'pypi' as const, name: 'cachedpkg' };
  const context = { source: 'user-approval' as const, actor: 'test' };

  it('sees a revocation through another store on the same connection at once', () => {
    const db = openDatabase(join(dir, 'runyard.db'));
    const a = openTrustStore({ db });
    const b = openTrustStore({ db });
    a.allow([ref], context);
    expect(b.findTrusted([ref])).toHaveLength(1);
    a.revoke([ref]);
    expect(b.findTrusted([ref])).toEqual([]);
    expect(b.listTrusted()).not.toContainEqual(expect.objectContaining(ref));
    db.prepare(
      "INSERT INTO trust_trusted_packages (ecosystem, name, source, approved_at) VALUES ('pypi', 'cachedpkg', 'user-approval', '2025-01-01T00:00:00.000Z')",
    ).run();
    expect(b.findTrusted([ref])).toHaveLength(1);
    db.close();
  });

  it('sees a revocation committed by another connection (another process) at once', () => {
    const file = join(dir, 'runyard.db');
    const a = openTrustStore({ file });
    const b = openTrustStore({ file });
    a.allow([ref], context);
    expect(b.findTrusted([ref])).toHaveLength(1);
    a.revoke([ref]);
    expect(b.findTrusted([ref])).toEqual([]);
    a.allow([ref], context);
    expect(b.findTrusted([ref])).toHaveLength(1);
    a.close();
    b.close();
  });

  it('hands out copies: a caller changing an entry changes nothing for the next', () => {
    const store = openTrustStore({ file: join(dir, 'runyard.db') });
    store.allow([ref], context);
    const [found] = store.findTrusted([ref]);
    if (!found) throw new Error('not found');
    found.name = 'mutated';
    const listed = store.listTrusted();
    for (const entry of listed) entry.name = 'mutated';
    expect(store.findTrusted([ref])).toEqual([expect.objectContaining(ref)]);
    store.close();
  });
});
