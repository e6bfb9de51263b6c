import { sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * The notebooks this runtime knows, so a restart lists them again (as `not_started`: their
 * kernels died with the previous process). Ephemeral notebooks are never stored.
 */
export const runtimeNotebooks = sqliteTable('runtime_notebooks', {
  id: text('id').primaryKey(),
  /** Relative to the workspace root, `/`-separated. */
  path: text('path').notNull().unique(),
  runtime: text('runtime', { enum: ['python', 'deno'] }).notNull(),
  updatedAt: text('updated_at').notNull(),
});

export type RuntimeNotebookRow = typeof runtimeNotebooks.$inferSelect;
