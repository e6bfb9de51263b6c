import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, SqliteStoreError } from '@runyard/sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveWorkerSpec } from '../resolve.js';
import { createEnvSecretResolver, resolveSecretGrants } from '../secrets.js';
import { clone, sampleBundle } from '../test-support/bundles.js';
import { expectCode } from '../test-support/expect-code.js';
import { type ConfigBundleStore, openConfigBundleStore } from './index.js';

let dir: string;
let file: string;
const open: ConfigBundleStore[] = [];
let now = new Date('2025-01-01T00:00:00Z');

function openStore(target: Parameters<typeof openConfigBundleStore>[0] = file): ConfigBundleStore {
  const store = openConfigBundleStore(target, { clock: () => now });
  open.push(store);
  return store;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runyard-config-bundles-'));
  file = join(dir, 'runyard.db');
  now = new Date('2025-01-01T00:00:00Z');
});
afterEach(() => {
  for (const store of open.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

const bundle = sampleBundle();
const ref = { id: bundle.metadata.id, digest: bundle.metadata.digest };
const revised = sampleBundle((b) => {
  b.metadata.revision = 4;
  b.profiles[1]!.label = 'Code reviewer v2';
});
const other = sampleBundle((b) => {
  b.metadata.id = 'ws-2.agents';
  b.metadata.workspaceId = 'ws-2';
  b.metadata.provenance = { source: 'cli' };
});

describe('put', () => {
  it('stores a bundle once and is idempotent for the same id and digest', () => {
    const store = openStore();
    const first = store.put(clone(bundle));
    expect(first.created).toBe(true);
    expect(first.summary).toEqual({
      id: 'ws-1.agents',
      digest: bundle.metadata.digest,
      revision: 3,
      workspaceId: 'ws-1',
      createdAt: '2025-01-02T03:04:05Z',
      provenance: bundle.metadata.provenance,
      counts: { profiles: 2, declarations: 5 },
      sizeBytes: expect.any(Number),
      storedAt: '2025-01-01T00:00:00.000Z',
    });
    now = new Date('2025-02-01T00:00:00Z');
    const second = store.put(clone(bundle));
    expect(second).toEqual({ created: false, summary: first.summary });
    expect(store.list()).toHaveLength(1);
  });

  it('refuses the same id and revision with different content', () => {
    const store = openStore();
    store.put(bundle);
    const changed = sampleBundle((b) => {
      b.profiles[1]!.label = 'Changed';
    });
    const error = expectCode(() => store.put(changed), 'config_bundle_immutable');
    expect(error.message).toMatch(/new id or revision/);
    expect(store.get(ref)).toEqual(bundle);
  });

  it('accepts a changed bundle under a new revision or a new id', () => {
    const store = openStore();
    store.put(bundle);
    expect(store.put(revised).created).toBe(true);
    expect(store.put(other).created).toBe(true);
    expect(store.list().map((s) => [s.id, s.revision])).toEqual([
      ['ws-1.agents', 3],
      ['ws-1.agents', 4],
      ['ws-2.agents', 3],
    ]);
  });

  it('validates before storing anything', () => {
    const store = openStore();
    const tampered = clone(bundle);
    tampered.profiles[1]!.label = 'password=hunter2';
    expectCode(() => store.put(tampered), 'config_bundle_forbidden_content');
    expectCode(
      () => store.put({ ...clone(bundle), extra: 'x'.repeat(2_000_000) }),
      'config_bundle_too_large',
    );
    expect(store.list()).toEqual([]);
  });
});

describe('list, get and checkAvailability', () => {
  it('lists summaries without content, optionally by workspace', () => {
    const store = openStore();
    store.put(bundle);
    store.put(other);
    const summaries = store.list();
    expect(summaries).toHaveLength(2);
    for (const summary of summaries) {
      expect(Object.keys(summary).sort()).toEqual([
        'counts',
        'createdAt',
        'digest',
        'id',
        'provenance',
        'revision',
        'sizeBytes',
        'storedAt',
        'workspaceId',
      ]);
      expect(JSON.stringify(summary)).not.toContain('github_token');
    }
    expect(store.list({ workspaceId: 'ws-2' }).map((s) => s.id)).toEqual(['ws-2.agents']);
    expect(store.list({ workspaceId: 'nope' })).toEqual([]);
  });

  it('gets exactly the pinned bundle', () => {
    const store = openStore();
    store.put(bundle);
    store.put(revised);
    expect(store.get(ref)).toEqual(bundle);
    expect(store.get({ id: ref.id, digest: revised.metadata.digest })).toEqual(revised);
    expect(store.get({ id: ref.id, digest: '0'.repeat(64) })).toBeUndefined();
    expect(store.get({ id: 'unknown', digest: ref.digest })).toBeUndefined();
  });

  it('reports availability with a typed code and a next action', () => {
    const store = openStore();
    expect(store.checkAvailability(ref)).toEqual({
      available: false,
      code: 'config_bundle_missing',
      message: expect.any(String),
      nextAction: 'sync_config_bundle',
    });
    store.put(bundle);
    expect(store.checkAvailability(ref)).toEqual({
      available: true,
      summary: store.list()[0],
    });
    expect(store.checkAvailability({ id: ref.id, digest: 'f'.repeat(64) })).toMatchObject({
      available: false,
      code: 'config_bundle_digest_mismatch',
    });
  });

  it('refuses malformed refs instead of querying with them', () => {
    const store = openStore();
    for (const id of ['../x', 'bundle/1?x', "x' OR 1=1 --", '%2e%2e']) {
      expectCode(() => store.checkAvailability({ id, digest: ref.digest }), 'invalid_bundle_id');
      expectCode(() => store.get({ id, digest: ref.digest }), 'invalid_bundle_id');
    }
    expectCode(
      () => store.checkAvailability({ id: ref.id, digest: 'ABC' }),
      'config_bundle_digest_mismatch',
    );
  });

  it('detects a row edited on disk', () => {
    const store = openStore();
    store.put(bundle);
    const db = openDatabase(file);
    const row = db.prepare('SELECT content FROM config_bundles').get() as { content: string };
    db.prepare('UPDATE config_bundles SET content = ?').run(
      row.content.replace('mount:workspace-data', 'mount:everything'),
    );
    db.close();
    expectCode(() => store.get(ref), 'config_bundle_digest_mismatch');
  });
});

describe('gc', () => {
  it('deletes every bundle no root references', () => {
    const store = openStore();
    store.put(bundle);
    store.put(revised);
    store.put(other);
    const { deleted } = store.gc({ roots: [ref] });
    expect(deleted).toEqual([
      { id: ref.id, digest: revised.metadata.digest },
      { id: 'ws-2.agents', digest: other.metadata.digest },
    ]);
    expect(store.list().map((s) => s.digest)).toEqual([ref.digest]);
    expect(store.gc({ roots: [ref] }).deleted).toEqual([]);
    expect(store.gc({ roots: [] }).deleted).toEqual([ref]);
    expect(store.list()).toEqual([]);
  });

  it('keeps bundles stored at or after storedBefore', () => {
    const store = openStore();
    store.put(bundle);
    now = new Date('2025-01-02T00:00:00Z');
    store.put(other);
    const { deleted } = store.gc({ roots: [], storedBefore: '2025-01-02T00:00:00Z' });
    expect(deleted).toEqual([ref]);
    expect(store.list().map((s) => s.id)).toEqual(['ws-2.agents']);
    expectCode(() => store.gc({ roots: [], storedBefore: 'yesterday' }), 'invalid_bundle');
  });

  it('only matches a root by id and digest together', () => {
    const store = openStore();
    store.put(bundle);
    expect(store.gc({ roots: [{ id: ref.id, digest: '0'.repeat(64) }] }).deleted).toEqual([ref]);
  });
});

describe('persistence', () => {
  it('survives close and reopen', () => {
    const first = openStore();
    first.put(bundle);
    first.close();
    open.splice(0);
    const second = openStore();
    expect(second.get(ref)).toEqual(bundle);
    expect(second.put(bundle).created).toBe(false);
    expectCode(
      () =>
        second.put(
          sampleBundle((b) => {
            b.profiles[1]!.label = 'Changed';
          }),
        ),
      'config_bundle_immutable',
    );
  });

  it('survives a process restart', async () => {
    const child = fileURLToPath(new URL('../test-support/put-child.ts', import.meta.url));
    const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const proc = spawn(process.execPath, ['--import', 'tsx', child, file], {
          cwd: packageRoot,
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        proc.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
        });
        proc.on('error', reject);
        proc.on('exit', (code) =>
          code === 0 ? resolve(out) : reject(new Error(`child exited ${code}`)),
        );
      });
    expect(JSON.parse(await run())).toEqual({ created: true });
    expect(JSON.parse(await run())).toEqual({ created: false });
    const store = openStore();
    expect(store.get(ref)).toEqual(bundle);
    expect(store.list()[0]?.storedAt).toBe('2025-03-01T00:00:00.000Z');
  });

  it('shares a connection the caller opened and leaves it open', () => {
    const db = openDatabase(file);
    try {
      const store = openStore(db);
      store.put(bundle);
      store.close();
      expect(db.open).toBe(true);
      expect(openStore(db).get(ref)).toEqual(bundle);
      // Migrating again on the same connection is a no-op.
      expect(
        db
          .prepare("SELECT count(*) AS n FROM __runyard_migrations WHERE scope = 'config-bundles'")
          .get(),
      ).toEqual({ n: 1 });
    } finally {
      for (const store of open.splice(0)) store.close();
      db.close();
    }
  });

  it('refuses a file that is not a database and leaves it untouched', () => {
    writeFileSync(file, 'not a database, just some bytes that are long enough to matter');
    const error = expectCode(() => openStore(), 'config_bundle_store_failed');
    expect(error.cause).toBeInstanceOf(SqliteStoreError);
    expect(error.message).not.toContain(dir);
    expect(readFileSync(file, 'utf8')).toMatch(/^not a database/);
  });

  it('maps a damaged row and a failing database to config_bundle_store_failed', () => {
    const store = openStore();
    store.put(bundle);
    const db = openDatabase(file);
    db.prepare('UPDATE config_bundles SET content = ?').run('{"metadata": trunc');
    const damaged = expectCode(() => store.get(ref), 'config_bundle_store_failed');
    expect(damaged.cause).toBeInstanceOf(SyntaxError);
    expect(damaged.message).not.toContain(dir);
    // A table that vanished under the store: better-sqlite3 throws its own SqliteError.
    db.exec('DROP TABLE config_bundles');
    db.close();
    for (const run of [() => store.list(), () => store.get(ref), () => store.put(other)]) {
      const failed = expectCode(run, 'config_bundle_store_failed');
      expect(failed.message).not.toContain(dir);
      expect(failed.message).not.toContain('runyard.db');
    }
  });
});

describe('secret values', () => {
  it('never reach the store file', async () => {
    const value = 'sup3r-secret-Value-7731';
    const store = openStore();
    store.put(bundle);
    const spec = resolveWorkerSpec({
      request: { profile: { kind: 'named', value: 'reviewer' }, configBundle: ref },
      bundle: store.get(ref),
    });
    const resolver = createEnvSecretResolver({ env: { RUNYARD_SECRET_GITHUB_TOKEN: value } });
    const secrets = await resolveSecretGrants(spec.grants.secrets, resolver);
    expect(secrets.get('github')?.reveal()).toBe(value);
    store.put(bundle);
    store.close();
    open.splice(0);
    for (const name of ['runyard.db', 'runyard.db-wal']) {
      let bytes = '';
      try {
        bytes = readFileSync(join(dir, name), 'latin1');
      } catch {
        continue;
      }
      expect(bytes).not.toContain(value);
      if (name === 'runyard.db') expect(bytes).toContain('secret:github_token');
    }
    expect(JSON.stringify(spec)).not.toContain(value);
  });
});
