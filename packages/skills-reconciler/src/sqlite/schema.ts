import { primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** What the reconciler owns, per skills root (`root` is the absolute skills folder). */
export const skillsInventory = sqliteTable(
  'skills_inventory',
  {
    root: text('root').notNull(),
    name: text('name').notNull(),
    scope: text('scope', { enum: ['user', 'project'] }).notNull(),
    sourceId: text('source_id').notNull(),
    sourceJson: text('source_json').notNull(),
    resolved: text('resolved').notNull(),
    contentDigest: text('content_digest').notNull(),
    installedAt: text('installed_at').notNull(),
  },
  (table) => [primaryKey({ columns: [table.root, table.name] })],
);
