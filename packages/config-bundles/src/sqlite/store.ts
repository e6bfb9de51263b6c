import { join } from 'node:path';
import {
  migrate,
  openDatabase,
  packageDir,
  type SqliteDatabase,
  writeTransaction,
} from '@runyard/sqlite';
import { and, asc, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { canonicalJson } from '../digest.js';
import { ConfigBundleError } from '../errors.js';
import { utf8ByteLength } from '../json-safety.js';
import { type BundleProvenance, type ConfigBundle, ConfigBundleRef } from '../schema.js';
import { validateBundle } from '../validate.js';
import { type ConfigBundleRow, configBundles } from './schema.js';

/** What `list()` and availability checks return: everything about a bundle except its content. */
export interface ConfigBundleSummary {
  id: string;
  digest: string;
  revision: number;
  workspaceId: string;
  createdAt: string;
  provenance: BundleProvenance;
  counts: { profiles: number; declarations: number };
  sizeBytes: number;
  /** When this store first accepted the bundle (from the injected clock). */
  storedAt: string;
}

export type BundleAvailability =
  | { available: true; summary: ConfigBundleSummary }
  | {
      available: false;
      code: 'config_bundle_missing' | 'config_bundle_digest_mismatch';
      message: string;
      /** What a headless caller does next: push the bundle to this runtime. */
      nextAction: 'sync_config_bundle';
    };

export interface GcOptions {
  /** Bundles a live worker (or anything else) still references; these are always kept. */
  roots: readonly ConfigBundleRef[];
  /**
   * Only bundles stored before this instant (RFC 3339) are eligible, so a bundle synced a moment
   * ago for a worker that is about to start is not collected in between.
   */
  storedBefore?: string;
}

export interface ConfigBundleStore {
  /** Validates and stores. Same id, revision and digest again is a no-op (`created: false`). */
  put(bundle: unknown): { created: boolean; summary: ConfigBundleSummary };
  list(filter?: { workspaceId?: string }): ConfigBundleSummary[];
  /** The exact bundle `ref` pins, re-verified against its digest, or `undefined`. */
  get(ref: ConfigBundleRef): ConfigBundle | undefined;
  checkAvailability(ref: ConfigBundleRef): BundleAvailability;
  gc(options: GcOptions): { deleted: ConfigBundleRef[] };
  /** Closes the database only when the store opened it from a path. */
  close(): void;
}

export interface ConfigBundleStoreOptions {
  clock?: () => Date;
}

const MIGRATIONS_SCOPE = 'config-bundles';

/**
 * Storage failures (`SqliteStoreError` from `@runyard/sqlite`, better-sqlite3's `SqliteError`)
 * become `config_bundle_store_failed` so callers handle one error type. The message carries the
 * storage code only; the original error (which may name the file) stays in `cause`.
 */
function storeFailed(error: unknown): ConfigBundleError {
  const code = (error as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code) ? ` (${code})` : '';
  return new ConfigBundleError(
    'config_bundle_store_failed',
    `the config bundle store failed${detail}`,
    { cause: error },
  );
}

function guard<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof ConfigBundleError) throw error;
    throw storeFailed(error);
  }
}

function toSummary(row: ConfigBundleRow): ConfigBundleSummary {
  return {
    id: row.id,
    digest: row.digest,
    revision: row.revision,
    workspaceId: row.workspaceId,
    createdAt: row.createdAt,
    provenance:
      row.provenanceDetail === null
        ? { source: row.provenanceSource }
        : { source: row.provenanceSource, detail: row.provenanceDetail },
    counts: { profiles: row.profileCount, declarations: row.declarationCount },
    sizeBytes: row.sizeBytes,
    storedAt: row.storedAt,
  };
}

function parseRef(ref: unknown): ConfigBundleRef {
  const parsed = ConfigBundleRef.safeParse(ref);
  if (parsed.success) return parsed.data;
  const idBad = parsed.error.issues.some((issue) => issue.path[0] !== 'digest');
  throw idBad
    ? new ConfigBundleError('invalid_bundle_id', 'bundle reference has an invalid id', {
        field: 'id',
      })
    : new ConfigBundleError(
        'config_bundle_digest_mismatch',
        'bundle reference digest must be 64 lowercase hex characters',
        { field: 'digest' },
      );
}

/**
 * Opens the bundle store on a SQLite file (created when missing) or on a connection the caller
 * already holds (so the app can share one `runyard.db`), applying this package's migrations.
 */
export function openConfigBundleStore(
  target: string | SqliteDatabase,
  options: ConfigBundleStoreOptions = {},
): ConfigBundleStore {
  const owned = typeof target === 'string';
  const db = guard(() => (owned ? openDatabase(target) : target));
  try {
    migrate(db, MIGRATIONS_SCOPE, join(packageDir(import.meta.url), 'drizzle'));
  } catch (error) {
    if (owned) db.close();
    throw storeFailed(error);
  }
  const orm = drizzle(db);
  const clock = options.clock ?? (() => new Date());

  const findRow = (id: string, digest: string): ConfigBundleRow | undefined =>
    orm
      .select()
      .from(configBundles)
      .where(and(eq(configBundles.id, id), eq(configBundles.digest, digest)))
      .get();

  const anyRevision = (id: string): ConfigBundleRow | undefined =>
    orm.select().from(configBundles).where(eq(configBundles.id, id)).limit(1).get();

  const store: ConfigBundleStore = {
    put(input) {
      const bundle = validateBundle(input);
      const content = canonicalJson(bundle);
      const { metadata } = bundle;
      return writeTransaction(db, () => {
        const existing = orm
          .select()
          .from(configBundles)
          .where(
            and(eq(configBundles.id, metadata.id), eq(configBundles.revision, metadata.revision)),
          )
          .get();
        if (existing) {
          if (existing.digest === metadata.digest) {
            return { created: false, summary: toSummary(existing) };
          }
          throw new ConfigBundleError(
            'config_bundle_immutable',
            `config bundle ${metadata.id} revision ${metadata.revision} already exists with different content; publish changes under a new id or revision`,
            { field: 'metadata.digest' },
          );
        }
        const row: ConfigBundleRow = {
          id: metadata.id,
          revision: metadata.revision,
          digest: metadata.digest,
          workspaceId: metadata.workspaceId,
          createdAt: metadata.createdAt,
          provenanceSource: metadata.provenance.source,
          provenanceDetail: metadata.provenance.detail ?? null,
          profileCount: bundle.profiles.length,
          declarationCount: bundle.declarations.length,
          sizeBytes: utf8ByteLength(content),
          content,
          storedAt: clock().toISOString(),
        };
        orm.insert(configBundles).values(row).run();
        return { created: true, summary: toSummary(row) };
      });
    },

    list(filter = {}) {
      const columns = {
        id: configBundles.id,
        revision: configBundles.revision,
        digest: configBundles.digest,
        workspaceId: configBundles.workspaceId,
        createdAt: configBundles.createdAt,
        provenanceSource: configBundles.provenanceSource,
        provenanceDetail: configBundles.provenanceDetail,
        profileCount: configBundles.profileCount,
        declarationCount: configBundles.declarationCount,
        sizeBytes: configBundles.sizeBytes,
        storedAt: configBundles.storedAt,
      };
      // Content is never selected: listing many bundles must stay cheap and reveal no detail.
      const query = orm.select(columns).from(configBundles);
      const rows =
        filter.workspaceId === undefined
          ? query.orderBy(asc(configBundles.id), asc(configBundles.revision)).all()
          : query
              .where(eq(configBundles.workspaceId, filter.workspaceId))
              .orderBy(asc(configBundles.id), asc(configBundles.revision))
              .all();
      return rows.map((row) => toSummary({ ...row, content: '' }));
    },

    get(ref) {
      const { id, digest } = parseRef(ref);
      const row = findRow(id, digest);
      if (!row) return undefined;
      let content: unknown;
      try {
        content = JSON.parse(row.content);
      } catch (error) {
        throw new ConfigBundleError(
          'config_bundle_store_failed',
          `the stored content of config bundle ${id} is damaged`,
          { cause: error },
        );
      }
      // Re-validated on every read: a row edited on disk fails its digest instead of launching.
      return validateBundle(content);
    },

    checkAvailability(ref) {
      const { id, digest } = parseRef(ref);
      const row = findRow(id, digest);
      if (row) return { available: true, summary: toSummary(row) };
      return anyRevision(id)
        ? {
            available: false,
            code: 'config_bundle_digest_mismatch',
            message: `config bundle ${id} is stored with a different digest`,
            nextAction: 'sync_config_bundle',
          }
        : {
            available: false,
            code: 'config_bundle_missing',
            message: `config bundle ${id} is not stored on this runtime`,
            nextAction: 'sync_config_bundle',
          };
    },

    gc({ roots, storedBefore }) {
      const keep = new Set(
        roots.map((root) => {
          const { id, digest } = parseRef(root);
          return `${id}\u0000${digest}`;
        }),
      );
      const cutoff = storedBefore === undefined ? undefined : Date.parse(storedBefore);
      if (cutoff !== undefined && Number.isNaN(cutoff)) {
        throw new ConfigBundleError('invalid_bundle', 'storedBefore must be an RFC 3339 date-time');
      }
      return writeTransaction(db, () => {
        const rows = orm
          .select({
            id: configBundles.id,
            revision: configBundles.revision,
            digest: configBundles.digest,
            storedAt: configBundles.storedAt,
          })
          .from(configBundles)
          .orderBy(asc(configBundles.id), asc(configBundles.revision))
          .all();
        const deleted: ConfigBundleRef[] = [];
        for (const row of rows) {
          if (keep.has(`${row.id}\u0000${row.digest}`)) continue;
          if (cutoff !== undefined && Date.parse(row.storedAt) >= cutoff) continue;
          orm
            .delete(configBundles)
            .where(and(eq(configBundles.id, row.id), eq(configBundles.revision, row.revision)))
            .run();
          deleted.push({ id: row.id, digest: row.digest });
        }
        return { deleted };
      });
    },

    close() {
      if (owned) db.close();
    },
  };
  return {
    put: (input) => guard(() => store.put(input)),
    list: (filter) => guard(() => store.list(filter)),
    get: (ref) => guard(() => store.get(ref)),
    checkAvailability: (ref) => guard(() => store.checkAvailability(ref)),
    gc: (gcOptions) => guard(() => store.gc(gcOptions)),
    close: () => guard(() => store.close()),
  };
}
