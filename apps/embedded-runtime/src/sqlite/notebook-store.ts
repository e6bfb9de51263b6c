import { join } from 'node:path';
import { migrate, packageDir, type SqliteDatabase } from '@runyard/sqlite';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { type RuntimeNotebookRow, runtimeNotebooks } from './schema.js';

export interface NotebookRecordStore {
  list(): RuntimeNotebookRow[];
  upsert(record: { id: string; path: string; runtime: 'python' | 'deno' }): void;
  remove(id: string): void;
}

export function openNotebookRecordStore(db: SqliteDatabase, now: () => Date): NotebookRecordStore {
  migrate(db, 'embedded-runtime', join(packageDir(import.meta.url), 'drizzle'));
  const orm = drizzle(db);
  return {
    list: () => orm.select().from(runtimeNotebooks).all(),
    upsert(record) {
      const updatedAt = now().toISOString();
      orm
        .insert(runtimeNotebooks)
        .values({ ...record, updatedAt })
        .onConflictDoUpdate({
          target: runtimeNotebooks.id,
          set: { path: record.path, runtime: record.runtime, updatedAt },
        })
        .run();
    },
    remove(id) {
      orm.delete(runtimeNotebooks).where(eq(runtimeNotebooks.id, id)).run();
    },
  };
}
