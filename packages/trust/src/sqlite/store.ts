import { join } from 'node:path';
import {
  migrate,
  openDatabase,
  packageDir,
  type SqliteDatabase,
  SqliteStoreError,
  toStoreError,
  writeTransaction,
} from '@runyard/sqlite';
import { and, asc, desc, eq, inArray } from 'drizzle-orm';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { TrustError } from '../errors.js';
import {
  type AuditAction,
  type AuditEffect,
  type AuditEntry,
  checkAuditFields,
  checkSource,
  DEFAULT_TRUSTED_PACKAGES,
  type PackageChange,
  type PackageRef,
  packageKey,
  type TrustedPackage,
  type TrustStore,
  toPackageRefs,
} from '../store.js';
import { trustAudit, trustedPackages, trustSeededDefaults } from './schema.js';

export type OpenTrustStoreTarget = { file: string } | { db: SqliteDatabase };

export interface OpenTrustStoreOptions {
  /** Seeded into both ecosystems on open (default `DEFAULT_TRUSTED_PACKAGES`). */
  defaultTrustedPackages?: readonly string[];
  now?: () => Date;
}

export interface SqliteTrustStore extends TrustStore {
  readonly db: SqliteDatabase;
  /** Closes the connection if this store opened it; a shared connection stays open. */
  close(): void;
}

function toTrustStoreError(error: unknown, db?: SqliteDatabase): unknown {
  if (error instanceof TrustError) return error;
  const mapped =
    error instanceof SqliteStoreError ? error : toStoreError(error, db?.name ?? 'database');
  if (mapped instanceof SqliteStoreError) {
    if (mapped.code === 'database_corrupt') {
      return new TrustError(
        'trust_store_corrupt',
        `the trust database is damaged and was left untouched so no approval is lost: ${mapped.message}`,
        { cause: mapped },
      );
    }
    if (mapped.code === 'database_busy') {
      return new TrustError(
        'trust_store_busy',
        'the trust database stayed locked by another process',
        {
          cause: mapped,
        },
      );
    }
    return new TrustError('trust_store_failed', `the trust database failed: ${mapped.message}`, {
      cause: mapped,
    });
  }
  return new TrustError('trust_store_failed', 'the trust database failed', { cause: error });
}

function guarded<T>(db: SqliteDatabase | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw toTrustStoreError(error, db);
  }
}

/** Names per `IN (...)` query: well under SQLite's bound-parameter limit. */
const CHUNK = 400;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

type PackageRow = typeof trustedPackages.$inferSelect;
type AuditRow = typeof trustAudit.$inferSelect;

const toTrusted = (row: PackageRow): TrustedPackage => ({
  ecosystem: row.ecosystem,
  name: row.name,
  source: row.source,
  approvedAt: row.approvedAt,
});

const toAudit = (row: AuditRow): AuditEntry => ({
  id: row.id,
  at: row.at,
  action: row.action,
  effect: row.effect,
  ecosystem: row.ecosystem,
  name: row.name,
  source: row.source,
  actor: row.actor,
  notebookPath: row.notebookPath,
});

/**
 * The allowlist held in memory, valid while the connection's write count and SQLite's
 * `data_version` (bumped by commits of any other connection) are both unchanged. Checking
 * them is one small query, where a lookup of 50 names cost several hundred microseconds.
 */
interface Snapshot {
  version: string;
  byKey: ReadonlyMap<string, TrustedPackage>;
  list: readonly TrustedPackage[];
}

/** A caller's own copy; spelled out because an object spread cost several times more here. */
const copyOf = (entry: TrustedPackage): TrustedPackage => ({
  ecosystem: entry.ecosystem,
  name: entry.name,
  source: entry.source,
  approvedAt: entry.approvedAt,
});

class SqliteStore implements SqliteTrustStore {
  readonly db: SqliteDatabase;
  readonly #orm: BetterSQLite3Database;
  readonly #owned: boolean;
  readonly #now: () => Date;

  constructor(db: SqliteDatabase, owned: boolean, now: () => Date) {
    this.db = db;
    this.#orm = drizzle(db);
    this.#owned = owned;
    this.#now = now;
  }

  #versionQueries: { dataVersion: { get(): unknown }; changes: { get(): unknown } } | undefined;
  #snapshot: Snapshot | undefined;

  /**
   * Any write on this connection (to any table: a reload is cheap next to a stale answer)
   * raises `total_changes()`; a commit by any other connection or process changes
   * `data_version`. Either one drops the snapshot, so a revocation is seen at once.
   */
  #current(): Snapshot {
    // Two plain statements: the pragma's table-valued form cost half as much again.
    this.#versionQueries ??= {
      dataVersion: this.db.prepare('PRAGMA data_version').pluck(),
      changes: this.db.prepare('SELECT total_changes()').pluck(),
    };
    const version = `${this.#versionQueries.dataVersion.get()}:${this.#versionQueries.changes.get()}`;
    if (this.#snapshot?.version === version) return this.#snapshot;
    const list = this.#orm
      .select()
      .from(trustedPackages)
      .orderBy(asc(trustedPackages.ecosystem), asc(trustedPackages.name))
      .all()
      .map((row) => Object.freeze(toTrusted(row)));
    const byKey = new Map(list.map((entry) => [packageKey(entry), entry]));
    this.#snapshot = { version, byKey, list };
    return this.#snapshot;
  }

  #find(refs: readonly PackageRef[]): TrustedPackage[] {
    const { byKey } = this.#current();
    // PyPI entries first, then conda, each once, in the order asked.
    const found = {
      pypi: new Map<string, TrustedPackage>(),
      conda: new Map<string, TrustedPackage>(),
    };
    for (const ref of refs) {
      const into = found[ref.ecosystem];
      if (into.has(ref.name)) continue;
      const entry = byKey.get(packageKey(ref));
      if (entry) into.set(ref.name, copyOf(entry));
    }
    return [...found.pypi.values(), ...found.conda.values()];
  }

  findTrusted(packages: readonly PackageRef[]): TrustedPackage[] {
    const refs = toPackageRefs(packages);
    return guarded(this.db, () => this.#find(refs));
  }

  listTrusted(): TrustedPackage[] {
    return guarded(this.db, () => this.#current().list.map(copyOf));
  }

  #audit(
    action: AuditAction,
    effect: AuditEffect,
    ref: PackageRef,
    fields: {
      at: string;
      source: AuditEntry['source'];
      actor: string | null;
      notebookPath: string | null;
    },
  ): void {
    this.#orm
      .insert(trustAudit)
      .values({ action, effect, ecosystem: ref.ecosystem, name: ref.name, ...fields })
      .run();
  }

  allow(
    packages: readonly PackageRef[],
    context: Parameters<TrustStore['allow']>[1],
  ): PackageChange[] {
    const refs = toPackageRefs(packages);
    const source = checkSource(context.source);
    const { actor, notebookPath } = checkAuditFields(context);
    const action: AuditAction = source === 'user-approval' ? 'approve' : 'seed';
    return guarded(this.db, () =>
      writeTransaction(this.db, () => {
        const at = this.#now().toISOString();
        return refs.map((ref) => {
          // ON CONFLICT DO NOTHING: an earlier approval and its source are never overwritten.
          const inserted = this.#orm
            .insert(trustedPackages)
            .values({ ...ref, source, approvedAt: at })
            .onConflictDoNothing()
            .run();
          const effect: AuditEffect = inserted.changes > 0 ? 'added' : 'already_trusted';
          if (effect === 'added' || context.auditUnchanged !== false) {
            this.#audit(action, effect, ref, { at, source, actor, notebookPath });
          }
          return { ...ref, effect };
        });
      }),
    );
  }

  /**
   * Seeds each default name at most once per database, recording it in
   * `trust_seeded_defaults` in the same transaction, so revoking a default survives reopening
   * and concurrent opens seed a name once. Existing entries keep their source (ON CONFLICT DO
   * NOTHING); only rows actually inserted are audited.
   */
  seedDefaultsOnce(names: readonly string[]): PackageChange[] {
    if (!Array.isArray(names)) {
      throw new TrustError(
        'trust_input_invalid',
        'default trusted packages must be a list of names',
      );
    }
    const refs = toPackageRefs(
      names.flatMap((name) => [
        { ecosystem: 'pypi' as const, name },
        { ecosystem: 'conda' as const, name },
      ]),
    );
    return guarded(this.db, () =>
      writeTransaction(this.db, () => {
        const at = this.#now().toISOString();
        const seeded = new Set<string>();
        for (const ecosystem of ['pypi', 'conda'] as const) {
          const wanted = [
            ...new Set(refs.filter((r) => r.ecosystem === ecosystem).map((r) => r.name)),
          ];
          for (const chunk of chunks(wanted)) {
            for (const row of this.#orm
              .select({ name: trustSeededDefaults.name })
              .from(trustSeededDefaults)
              .where(
                and(
                  eq(trustSeededDefaults.ecosystem, ecosystem),
                  inArray(trustSeededDefaults.name, chunk),
                ),
              )
              .all())
              seeded.add(`${ecosystem}\u0000${row.name}`);
          }
        }
        const changes: PackageChange[] = [];
        for (const ref of refs) {
          const key = `${ref.ecosystem}\u0000${ref.name}`;
          if (seeded.has(key)) continue;
          seeded.add(key);
          this.#orm
            .insert(trustSeededDefaults)
            .values({ ...ref, seededAt: at })
            .onConflictDoNothing()
            .run();
          const inserted = this.#orm
            .insert(trustedPackages)
            .values({ ...ref, source: 'default-seed', approvedAt: at })
            .onConflictDoNothing()
            .run();
          const effect: AuditEffect = inserted.changes > 0 ? 'added' : 'already_trusted';
          if (effect === 'added') {
            this.#audit('seed', effect, ref, {
              at,
              source: 'default-seed',
              actor: null,
              notebookPath: null,
            });
          }
          changes.push({ ...ref, effect });
        }
        return changes;
      }),
    );
  }

  revoke(
    packages: readonly PackageRef[],
    context: Parameters<TrustStore['revoke']>[1] = {},
  ): PackageChange[] {
    const refs = toPackageRefs(packages);
    const { actor, notebookPath } = checkAuditFields(context);
    return guarded(this.db, () =>
      writeTransaction(this.db, () => {
        const at = this.#now().toISOString();
        return refs.map((ref) => {
          const removed = this.#orm
            .delete(trustedPackages)
            .where(
              and(eq(trustedPackages.ecosystem, ref.ecosystem), eq(trustedPackages.name, ref.name)),
            )
            .run();
          const effect: AuditEffect = removed.changes > 0 ? 'removed' : 'not_trusted';
          this.#audit('revoke', effect, ref, { at, source: null, actor, notebookPath });
          return { ...ref, effect };
        });
      }),
    );
  }

  auditLog(options: { limit?: number } = {}): AuditEntry[] {
    return guarded(this.db, () => {
      if (options.limit === undefined) {
        return this.#orm.select().from(trustAudit).orderBy(asc(trustAudit.id)).all().map(toAudit);
      }
      const limit = Math.max(0, Math.floor(options.limit));
      return this.#orm
        .select()
        .from(trustAudit)
        .orderBy(desc(trustAudit.id))
        .limit(limit)
        .all()
        .reverse()
        .map(toAudit);
    });
  }

  close(): void {
    if (this.#owned && this.db.open) this.db.close();
  }
}

/**
 * Opens the allowlist in a SQLite file (or on a connection the app shares), applies the
 * checked-in migrations and seeds the default packages into both ecosystems. A damaged file
 * is refused with `trust_store_corrupt` and never reset: it holds the user's approvals.
 */
export function openTrustStore(
  target: OpenTrustStoreTarget,
  options: OpenTrustStoreOptions = {},
): SqliteTrustStore {
  const owned = 'file' in target;
  const db = guarded(undefined, () => (owned ? openDatabase(target.file) : target.db));
  try {
    guarded(db, () => migrate(db, 'trust', join(packageDir(import.meta.url), 'drizzle')));
    const store = new SqliteStore(db, owned, options.now ?? (() => new Date()));
    store.seedDefaultsOnce(options.defaultTrustedPackages ?? DEFAULT_TRUSTED_PACKAGES);
    return store;
  } catch (error) {
    if (owned) db.close();
    throw error;
  }
}
