import {
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from 'drizzle-orm/sqlite-core';

/**
 * One row per bundle revision. `(id, revision)` is immutable once written; `content` is the
 * canonical JSON the digest was computed over (plus the digest), so reads can re-verify it.
 */
export const configBundles = sqliteTable(
  'config_bundles',
  {
    id: text('id').notNull(),
    revision: integer('revision').notNull(),
    digest: text('digest').notNull(),
    workspaceId: text('workspace_id').notNull(),
    createdAt: text('created_at').notNull(),
    provenanceSource: text('provenance_source').notNull(),
    provenanceDetail: text('provenance_detail'),
    profileCount: integer('profile_count').notNull(),
    declarationCount: integer('declaration_count').notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    content: text('content').notNull(),
    storedAt: text('stored_at').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.id, table.revision] }),
    uniqueIndex('config_bundles_id_digest').on(table.id, table.digest),
    index('config_bundles_workspace').on(table.workspaceId),
  ],
);

export type ConfigBundleRow = typeof configBundles.$inferSelect;
