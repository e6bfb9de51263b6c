import { join } from 'node:path';
import {
  migrate,
  openDatabase,
  packageDir,
  type SqliteDatabase,
  writeTransaction,
} from '@runyard/sqlite';
import { and, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { SkillsError } from '../errors.js';
import { type InventoryRecord, type InventoryStore, inventoryRecordSchema } from '../inventory.js';
import { skillsInventory } from './schema.js';

export { skillsInventory } from './schema.js';

export interface SqliteInventory extends InventoryStore {
  /** Closes the database when this store opened it (a shared connection is left open). */
  close(): void;
}

/** Applies this package's migrations (scope `skills-reconciler`) to a database. */
export function migrateSkillsInventory(db: SqliteDatabase): void {
  migrate(db, 'skills-reconciler', join(packageDir(import.meta.url), 'drizzle'));
}

/**
 * The inventory in SQLite (table `skills_inventory`), for apps that keep one `runyard.db`.
 * Accepts a file path or an open database (shared connection).
 */
export function openSqliteInventory(database: string | SqliteDatabase): SqliteInventory {
  const owned = typeof database === 'string';
  const db = owned ? openDatabase(database) : database;
  migrateSkillsInventory(db);
  const orm = drizzle(db);

  function toRecord(row: typeof skillsInventory.$inferSelect): InventoryRecord {
    let source: unknown;
    try {
      source = JSON.parse(row.sourceJson);
    } catch (error) {
      throw new SkillsError('inventory_corrupt', `inventory row "${row.name}" is unreadable`, {
        cause: error,
      });
    }
    const parsed = inventoryRecordSchema.safeParse({
      name: row.name,
      scope: row.scope,
      sourceId: row.sourceId,
      source,
      resolved: row.resolved,
      contentDigest: row.contentDigest,
      installedAt: row.installedAt,
    });
    if (!parsed.success) {
      throw new SkillsError(
        'inventory_corrupt',
        `inventory row "${row.name}" has an unexpected shape`,
      );
    }
    return parsed.data;
  }

  return {
    list(root) {
      return orm
        .select()
        .from(skillsInventory)
        .where(eq(skillsInventory.root, root))
        .orderBy(skillsInventory.name)
        .all()
        .map(toRecord);
    },
    get(root, name) {
      const row = orm
        .select()
        .from(skillsInventory)
        .where(and(eq(skillsInventory.root, root), eq(skillsInventory.name, name)))
        .get();
      return row ? toRecord(row) : undefined;
    },
    put(root, record) {
      const valid = inventoryRecordSchema.parse(record);
      const values = {
        root,
        name: valid.name,
        scope: valid.scope,
        sourceId: valid.sourceId,
        sourceJson: JSON.stringify(valid.source),
        resolved: valid.resolved,
        contentDigest: valid.contentDigest,
        installedAt: valid.installedAt,
      };
      writeTransaction(db, () => {
        orm
          .insert(skillsInventory)
          .values(values)
          .onConflictDoUpdate({ target: [skillsInventory.root, skillsInventory.name], set: values })
          .run();
      });
    },
    delete(root, name) {
      writeTransaction(db, () => {
        orm
          .delete(skillsInventory)
          .where(and(eq(skillsInventory.root, root), eq(skillsInventory.name, name)))
          .run();
      });
    },
    close() {
      if (owned) db.close();
    },
  };
}
