import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@runyard/sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InventoryRecord } from '../inventory.js';
import { createHarness } from '../test-support/harness.js';
import { skillArchive } from '../test-support/tar-builder.js';
import { openSqliteInventory } from './index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runyard-skills-sqlite-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const record: InventoryRecord = {
  name: 'a',
  scope: 'user',
  sourceId: 'tarball:https://example.com/a.tgz',
  source: { type: 'tarball', url: 'https://example.com/a.tgz' },
  resolved: `sha256:${'0'.repeat(64)}`,
  contentDigest: `sha256:${'1'.repeat(64)}`,
  installedAt: '2024-01-01T00:00:00.000Z',
};

describe('openSqliteInventory', () => {
  it('stores records per root, upserts and deletes, and survives reopening', () => {
    const file = join(dir, 'runyard.db');
    const store = openSqliteInventory(file);
    store.put('/r1', record);
    store.put('/r2', { ...record, scope: 'project' });
    store.put('/r1', { ...record, resolved: `sha256:${'2'.repeat(64)}` });
    expect(store.list('/r1')).toEqual([{ ...record, resolved: `sha256:${'2'.repeat(64)}` }]);
    store.close();

    const again = openSqliteInventory(file);
    expect(again.get('/r2', 'a')?.scope).toBe('project');
    again.delete('/r1', 'a');
    expect(again.list('/r1')).toEqual([]);
    expect(again.get('/r1', 'missing')).toBeUndefined();
    again.close();
  });

  it('shares an open connection and leaves it open', () => {
    const db = openDatabase(join(dir, 'shared.db'));
    const store = openSqliteInventory(db);
    store.put('/r', record);
    store.close();
    expect(db.prepare('SELECT count(*) AS n FROM skills_inventory').get()).toEqual({ n: 1 });
    db.close();
  });

  it('refuses a file that is not a database without resetting it', () => {
    const file = join(dir, 'bad.db');
    writeFileSync(file, 'not sqlite at all, definitely not'.repeat(200));
    expect(() => openSqliteInventory(file)).toThrow(
      expect.objectContaining({ code: 'database_corrupt' }),
    );
  });

  it('backs a reconciler', async () => {
    const h = await createHarness();
    const store = openSqliteInventory(join(h.dir, 'runyard.db'));
    try {
      h.manifest('/manifest.yaml', [
        { source: { type: 'tarball', url: h.archive('/a.tgz', skillArchive('a')) } },
      ]);
      const reconciler = h.reconciler({ inventory: store });
      expect((await reconciler.reconcile()).install.map((i) => i.outcome)).toEqual(['applied']);
      expect(store.list(h.userRoot).map((r) => r.name)).toEqual(['a']);
      expect((await reconciler.reconcile()).unchanged.map((i) => i.name)).toEqual(['a']);
      h.manifest('/manifest.yaml', []);
      expect((await reconciler.reconcile()).remove.map((i) => i.name)).toEqual(['a']);
      expect(store.list(h.userRoot)).toEqual([]);
    } finally {
      store.close();
      await h.close();
    }
  });
});
