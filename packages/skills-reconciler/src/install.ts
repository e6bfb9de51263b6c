import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { digestTreeIfExists } from './digest.js';
import { SkillsError } from './errors.js';
import {
  INVENTORY_FILE,
  type InventoryRecord,
  type InventoryStore,
  inventoryRecordSchema,
} from './inventory.js';
import { isAlive, lockLeftoverOwner, ownerTag, parseOwnerTag } from './root-lock.js';
import { skillNameSchema } from './skill.js';

/** Staging folders live next to the skills, on the same filesystem, so `rename` is atomic. */
export const STAGING_PREFIX = '.runyard-staging-';

/**
 * Fault-injection hook for crash tests: awaited at each step of a swap. Production code
 * passes nothing.
 */
export type Checkpoint = (point: SwapPoint) => void | Promise<void>;

export type SwapPoint =
  | 'staged'
  | 'intent-written'
  | 'old-moved-aside'
  | 'new-in-place'
  | 'inventory-written';

const intentSchema = z.strictObject({
  op: z.enum(['install', 'update', 'remove']),
  name: skillNameSchema,
  record: inventoryRecordSchema.optional(),
});

type Intent = z.infer<typeof intentSchema>;

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A staging folder named after its owner (`<prefix><pid>-<start>-<random>`). */
export async function createStaging(root: string): Promise<string> {
  await mkdir(root, { recursive: true });
  return mkdtemp(join(root, `${STAGING_PREFIX}${ownerTag()}`));
}

/**
 * Whether a leftover staging folder may be recovered and deleted. The caller holds the root's
 * lock, so no pass of this process is mid-swap in this root; a folder of another process that
 * is still alive is left alone all the same (it may be a pass that does not take the lock).
 * Untagged names come from older versions and are treated as abandoned.
 */
function abandoned(entry: string): boolean {
  const owner = parseOwnerTag(entry.slice(STAGING_PREFIX.length));
  if (!owner || owner.pid === process.pid) return true;
  return !isAlive(owner);
}

function writeIntent(staging: string, intent: Intent): void {
  writeFileSync(join(staging, 'intent.json'), JSON.stringify(intent));
}

/**
 * Puts `<staging>/new` in place of `<root>/<name>` and records it. The intent file written
 * first is the journal `recoverRoot` reads after a crash: whatever instant the process dies,
 * the next start finds the old skill or the new one, and an inventory that owns what is there.
 */
export async function swapIn(options: {
  root: string;
  staging: string;
  record: InventoryRecord;
  inventory: InventoryStore;
  checkpoint?: Checkpoint | undefined;
}): Promise<void> {
  const { root, staging, record, inventory, checkpoint } = options;
  const target = join(root, record.name);
  const replacing = exists(target);
  await checkpoint?.('staged');
  writeIntent(staging, { op: replacing ? 'update' : 'install', name: record.name, record });
  await checkpoint?.('intent-written');
  if (replacing) {
    renameSync(target, join(staging, 'old'));
    await checkpoint?.('old-moved-aside');
  }
  renameSync(join(staging, 'new'), target);
  await checkpoint?.('new-in-place');
  inventory.put(root, record);
  await checkpoint?.('inventory-written');
}

/** Moves `<root>/<name>` into the staging folder (atomic) and forgets it. */
export async function swapOut(options: {
  root: string;
  staging: string;
  name: string;
  inventory: InventoryStore;
  checkpoint?: Checkpoint | undefined;
}): Promise<void> {
  const { root, staging, name, inventory, checkpoint } = options;
  writeIntent(staging, { op: 'remove', name });
  await checkpoint?.('intent-written');
  const target = join(root, name);
  if (exists(target)) renameSync(target, join(staging, 'old'));
  await checkpoint?.('old-moved-aside');
  inventory.delete(root, name);
  await checkpoint?.('inventory-written');
}

function readIntent(staging: string): Intent | undefined {
  try {
    const parsed = intentSchema.safeParse(
      JSON.parse(readFileSync(join(staging, 'intent.json'), 'utf8')),
    );
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Finishes or rolls back swaps a killed process left behind, then deletes their staging
 * folders, stray inventory temp files and lock temp files in `root`. Runs at the start of every applying pass,
 * under the root's lock (`acquireRootLock`); staging folders of live processes are kept.
 */
export async function recoverRoot(root: string, inventory: InventoryStore): Promise<number> {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new SkillsError('install_failed', 'the skills folder could not be read', {
      cause: error,
    });
  }
  let recovered = 0;
  for (const entry of names) {
    if (entry.startsWith(`${INVENTORY_FILE}.`) && entry.endsWith('.tmp')) {
      await rm(join(root, entry), { force: true });
      continue;
    }
    const lockOwner = lockLeftoverOwner(entry);
    if (lockOwner !== null) {
      // A lock temp file of a process killed while taking or breaking the lock.
      if (lockOwner && lockOwner.pid !== process.pid && !isAlive(lockOwner))
        await rm(join(root, entry), { force: true });
      continue;
    }
    if (!entry.startsWith(STAGING_PREFIX)) continue;
    if (!abandoned(entry)) continue;
    recovered++;
    const staging = join(root, entry);
    const intent = readIntent(staging);
    if (intent) {
      const target = join(root, intent.name);
      const old = join(staging, 'old');
      if (intent.op === 'remove') {
        if (!exists(target)) inventory.delete(root, intent.name);
      } else if (!exists(target)) {
        // Died between the two renames: put the old skill back.
        if (existsSync(old)) renameSync(old, target);
      } else if (intent.record) {
        // Died after the new skill was in place but before it was recorded.
        const digest = await digestTreeIfExists(target);
        if (digest === intent.record.contentDigest) inventory.put(root, intent.record);
      }
    }
    await rm(staging, { recursive: true, force: true });
  }
  return recovered;
}
