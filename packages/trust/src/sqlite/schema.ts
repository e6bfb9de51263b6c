import { sql } from 'drizzle-orm';
import { check, index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** The package allowlist (`trusted_packages` in the design), names normalised per ecosystem. */
export const trustedPackages = sqliteTable(
  'trust_trusted_packages',
  {
    ecosystem: text('ecosystem', { enum: ['pypi', 'conda'] }).notNull(),
    name: text('name').notNull(),
    source: text('source', {
      enum: ['default-seed', 'user-approval', 'create-notebook', 'project-file'],
    }).notNull(),
    approvedAt: text('approved_at').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.ecosystem, table.name] }),
    check('trust_trusted_packages_ecosystem', sql`${table.ecosystem} in ('pypi', 'conda')`),
    check(
      'trust_trusted_packages_source',
      sql`${table.source} in ('default-seed', 'user-approval', 'create-notebook', 'project-file')`,
    ),
  ],
);

/** Every approval, revocation and seeding. Triggers in the migration make it append-only. */
export const trustAudit = sqliteTable(
  'trust_audit',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: text('at').notNull(),
    action: text('action', { enum: ['seed', 'approve', 'revoke'] }).notNull(),
    effect: text('effect', {
      enum: ['added', 'already_trusted', 'removed', 'not_trusted'],
    }).notNull(),
    ecosystem: text('ecosystem', { enum: ['pypi', 'conda'] }).notNull(),
    name: text('name').notNull(),
    source: text('source', {
      enum: ['default-seed', 'user-approval', 'create-notebook', 'project-file'],
    }),
    actor: text('actor'),
    notebookPath: text('notebook_path'),
  },
  (table) => [
    index('trust_audit_package').on(table.ecosystem, table.name),
    check('trust_audit_action', sql`${table.action} in ('seed', 'approve', 'revoke')`),
  ],
);

/**
 * Default names already seeded into this database, per ecosystem. Seeding happens once per name:
 * a default the user revoked stays revoked on the next open, while a name added to the defaults
 * later is still seeded.
 */
export const trustSeededDefaults = sqliteTable(
  'trust_seeded_defaults',
  {
    ecosystem: text('ecosystem', { enum: ['pypi', 'conda'] }).notNull(),
    name: text('name').notNull(),
    seededAt: text('seeded_at').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.ecosystem, table.name] }),
    check('trust_seeded_defaults_ecosystem', sql`${table.ecosystem} in ('pypi', 'conda')`),
  ],
);
