import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SkillsError } from './errors.js';
import { skillNameSchema } from './skill.js';

const storedSourceSchema = z.union([
  z.strictObject({
    type: z.literal('tarball'),
    url: z.string(),
    sha256: z.string().optional(),
    subpath: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('git'),
    url: z.string(),
    ref: z.string(),
    subpath: z.string().optional(),
  }),
]);

export const inventoryRecordSchema = z.strictObject({
  name: skillNameSchema,
  scope: z.enum(['user', 'project']),
  sourceId: z.string().min(1),
  source: storedSourceSchema,
  /** `sha256:<hex>` of the archive, or `git:<commit>`. */
  resolved: z.string().min(1),
  /** Digest of the installed folder's content (see `digestTree`). */
  contentDigest: z.string().min(1),
  installedAt: z.string().min(1),
});

export type InventoryRecord = z.infer<typeof inventoryRecordSchema>;

/**
 * What the reconciler owns, per skills root. Only names recorded here are ever updated or
 * removed. Synchronous on purpose: both stores (a JSON file, SQLite) are synchronous, and a
 * write must land between two renames without yielding.
 */
export interface InventoryStore {
  list(root: string): InventoryRecord[];
  get(root: string, name: string): InventoryRecord | undefined;
  put(root: string, record: InventoryRecord): void;
  delete(root: string, name: string): void;
}

export const INVENTORY_FILE = '.runyard-inventory.json';

const inventoryFileSchema = z.strictObject({
  version: z.literal(1),
  skills: z.array(inventoryRecordSchema),
});

/**
 * The default store: a JSON file in each skills root, replaced atomically (write + rename).
 * A file that does not parse is refused with `inventory_corrupt` and never reset: resetting
 * would turn every managed skill into a "user" skill that can never be updated or removed.
 */
export function createFileInventory(): InventoryStore {
  function read(root: string): InventoryRecord[] {
    let text: string;
    try {
      text = readFileSync(join(root, INVENTORY_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new SkillsError('inventory_corrupt', 'the skills inventory could not be read', {
        cause: error,
      });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new SkillsError('inventory_corrupt', 'the skills inventory is not valid JSON', {
        cause: error,
      });
    }
    const parsed = inventoryFileSchema.safeParse(data);
    if (!parsed.success) {
      throw new SkillsError('inventory_corrupt', 'the skills inventory has an unexpected shape');
    }
    return parsed.data.skills;
  }
  function write(root: string, records: InventoryRecord[]): void {
    mkdirSync(root, { recursive: true });
    const sorted = [...records].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const tmp = join(root, `${INVENTORY_FILE}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      writeFileSync(tmp, `${JSON.stringify({ version: 1, skills: sorted }, null, 2)}\n`, {
        mode: 0o644,
      });
      renameSync(tmp, join(root, INVENTORY_FILE));
    } catch (error) {
      rmSync(tmp, { force: true });
      throw error;
    }
  }
  return {
    list: read,
    get: (root, name) => read(root).find((record) => record.name === name),
    put(root, record) {
      const valid = inventoryRecordSchema.parse(record);
      write(root, [...read(root).filter((r) => r.name !== record.name), valid]);
    },
    delete(root, name) {
      const records = read(root);
      if (records.some((r) => r.name === name))
        write(
          root,
          records.filter((r) => r.name !== name),
        );
    },
  };
}
