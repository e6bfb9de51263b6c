// The scenario table, each against a real SQLite file and a real key file in its own
// temporary directory.
import { join } from 'node:path';
import { parseNotebook, readInlineDependencies } from '@runyard/env-detection';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildNextAction,
  createTrustService,
  DEFAULT_TRUSTED_PACKAGES,
  loadOrCreateTrustKey,
  signNotebookDependencies,
  TrustError,
  TrustKey,
  type TrustService,
} from './index.js';
import { openTrustStore, type SqliteTrustStore } from './sqlite/index.js';
import { makeNotebook, tempDir } from './test-support/notebooks.js';
import { runFixture } from './test-support/spawn.js';

let dir: string;
let cleanup: () => void;
let store: SqliteTrustStore;
let service: TrustService;
let key: TrustKey;

beforeEach(async () => {
  ({ dir, cleanup } = tempDir('scenario'));
  key = await loadOrCreateTrustKey({ configDir: join(dir, 'config') });
  store = openTrustStore({ file: join(dir, 'data', 'runyard.db') });
  service = createTrustService({ store, key });
});
afterEach(() => {
  store.close();
  cleanup();
});

const depsOf = (notebook: unknown) => {
  const inline = readInlineDependencies(parseNotebook(notebook));
  return [...(inline.uv?.dependencies ?? []), ...(inline.conda?.dependencies ?? [])];
};

describe('trust scenarios', () => {
  it('create with explicit deps, none approved before: seeded, trusted, runnable', () => {
    const notebook = makeNotebook({ uv: ['canhazpassword==1.0', 'Requests'], conda: ['r-base'] });
    expect(service.evaluate(notebook).needsApproval).toBe(true);
    const changes = service.seedFromCreate(depsOf(notebook), {
      freshlyCreated: true,
      actor: 'mcp:agent',
      notebookPath: 'new.ipynb',
    });
    expect(changes.map((c) => c.effect)).toEqual(['added', 'added', 'added']);
    const decision = service.evaluate(notebook);
    expect(decision).toMatchObject({ status: 'trusted', needsApproval: false, untrusted: [] });
    expect(store.findTrusted([{ ecosystem: 'pypi', name: 'requests' }])).toEqual([
      expect.objectContaining({ source: 'create-notebook' }),
    ]);
    expect(store.auditLog().filter((a) => a.source === 'create-notebook')).toHaveLength(3);
  });

  it('create with no deps: no_dependencies, nothing written to the allowlist', () => {
    const before = { trusted: store.listTrusted(), audit: store.auditLog() };
    const notebook = makeNotebook();
    expect(service.seedFromCreate(depsOf(notebook), { freshlyCreated: true })).toEqual([]);
    const decision = service.evaluate(notebook);
    expect(decision).toMatchObject({ status: 'no_dependencies', needsApproval: false });
    expect(store.listTrusted()).toEqual(before.trusted);
    expect(store.auditLog()).toEqual(before.audit);
    expect(before.trusted).toHaveLength(DEFAULT_TRUSTED_PACKAGES.length * 2);
  });

  it('create with deps already approved: seeding is a no-op, runnable', () => {
    const notebook = makeNotebook({ uv: ['numpy', 'pandas>=2'], conda: ['scipy'] });
    const before = store.listTrusted();
    const changes = service.seedFromCreate(depsOf(notebook), { freshlyCreated: true });
    expect(changes.map((c) => c.effect)).toEqual([
      'already_trusted',
      'already_trusted',
      'already_trusted',
    ]);
    expect(store.listTrusted()).toEqual(before);
    expect(service.evaluate(notebook)).toMatchObject({ status: 'trusted', needsApproval: false });
  });

  it('create that restores an existing non-empty notebook: no seeding, decision from allowlist/signature only', () => {
    const existing = makeNotebook({ uv: ['canhazpassword', 'numpy'] });
    const before = store.listTrusted();
    expect(
      service.seedFromCreate(depsOf(existing), { freshlyCreated: false, actor: 'mcp:agent' }),
    ).toEqual([]);
    expect(store.listTrusted()).toEqual(before);
    const decision = service.evaluate(existing);
    expect(decision).toMatchObject({ status: 'untrusted', needsApproval: true });
    expect(decision.untrusted.map((d) => d.name)).toEqual(['canhazpassword']);
    // The same restored file, signed on this machine earlier, is runnable on its signature.
    expect(service.evaluate(service.sign(existing))).toMatchObject({
      status: 'trusted',
      signature: 'valid',
    });
  });

  it('open a downloaded notebook with an unknown dep: untrusted or signature_invalid, needsApproval, next action', () => {
    const unsigned = makeNotebook({ uv: ['numpy', 'canhazpassword'] });
    const signedElsewhere = signNotebookDependencies(unsigned, TrustKey.generate());
    for (const [notebook, status] of [
      [unsigned, 'untrusted'],
      [signedElsewhere, 'signature_invalid'],
    ] as const) {
      const decision = service.evaluate(notebook);
      expect(decision).toMatchObject({ status, needsApproval: true });
      const action = buildNextAction(decision, { notebookId: 'downloads/x.ipynb' });
      expect(action).toMatchObject({
        kind: 'approve_dependencies',
        untrusted: [{ ecosystem: 'pypi', name: 'canhazpassword', spec: 'canhazpassword' }],
        mcp: {
          tool: 'manage_dependencies',
          arguments: {
            notebook_id: 'downloads/x.ipynb',
            trust: true,
            fingerprint: decision.fingerprint,
          },
        },
        http: {
          method: 'POST',
          path: '/api/notebooks/downloads%2Fx.ipynb/dependencies',
          body: { trust: true, fingerprint: decision.fingerprint },
        },
      });
      // Following the hint unblocks the notebook: no dead end for a headless caller.
      const fingerprint = action!.mcp.arguments.fingerprint;
      const approved = service.approve({ notebook, fingerprint, actor: 'mcp:agent' });
      expect(approved.decision).toMatchObject({
        status: 'trusted',
        needsApproval: false,
        signature: 'valid',
      });
      store.revoke([{ ecosystem: 'pypi', name: 'canhazpassword' }], { actor: 'test' });
    }
  });

  it('open a notebook signed on another machine whose deps are all allowlisted: runnable', () => {
    const notebook = signNotebookDependencies(
      makeNotebook({ uv: ['numpy', 'polars'], conda: ['pyarrow'] }),
      TrustKey.generate(),
    );
    const decision = service.evaluate(notebook);
    expect(decision).toMatchObject({
      status: 'trusted',
      needsApproval: false,
      signature: 'invalid',
    });
    expect(buildNextAction(decision, { notebookId: 'x' })).toBeNull();
  });

  it('approve with a stale fingerprint: trust_fingerprint_mismatch, nothing approved', () => {
    const shown = makeNotebook({ uv: ['canhazpassword'] });
    const { fingerprint } = service.evaluate(shown);
    const edited = makeNotebook({ uv: ['canhazpassword', 'evilpackage'] });
    const before = { trusted: store.listTrusted(), audit: store.auditLog() };
    let caught: unknown;
    try {
      service.approve({ notebook: edited, fingerprint, actor: 'user' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TrustError);
    expect((caught as TrustError).code).toBe('trust_fingerprint_mismatch');
    expect(store.listTrusted()).toEqual(before.trusted);
    expect(store.auditLog()).toEqual(before.audit);
    expect(service.evaluate(edited).needsApproval).toBe(true);
  });

  it('keeps approvals across reopening the database', () => {
    const notebook = makeNotebook({ conda: ['r-base'] });
    const { fingerprint } = service.evaluate(notebook);
    service.approve({ notebook, fingerprint, actor: 'me' });
    store.close();
    store = openTrustStore({ file: join(dir, 'data', 'runyard.db') });
    service = createTrustService({ store, key });
    expect(service.evaluate(notebook)).toMatchObject({ status: 'trusted' });
  });

  it('two processes approving and seeding at the same time on one database: no lost rows, no SQLITE_BUSY', async () => {
    store.close();
    const file = join(dir, 'shared', 'runyard.db');
    const configDir = join(dir, 'shared-config');
    const count = 100;
    const results = await Promise.all([
      runFixture('trust-child.ts', [file, configDir, 'approve', String(count)]),
      runFixture('trust-child.ts', [file, configDir, 'seed', String(count)]),
    ]);
    for (const result of results) {
      expect(result.stderr).not.toMatch(/SQLITE_BUSY|database is locked/);
      expect(result.code, result.stderr).toBe(0);
    }
    store = openTrustStore({ file });
    const trusted = new Set(store.listTrusted().map((p) => `${p.ecosystem}:${p.name}`));
    for (let i = 0; i < count; i++) {
      for (const name of [`pypi:shared-${i}`, `pypi:approved-${i}`, `conda:seeded-${i}`]) {
        expect(trusted.has(name), name).toBe(true);
      }
    }
    expect(trusted.size).toBe(DEFAULT_TRUSTED_PACKAGES.length * 2 + count * 3);
    const audit = store.auditLog();
    expect(audit.filter((a) => a.source === 'default-seed')).toHaveLength(
      DEFAULT_TRUSTED_PACKAGES.length * 2,
    );
    expect(audit.filter((a) => a.action === 'approve')).toHaveLength(count * 2);
    expect(audit.filter((a) => a.source === 'create-notebook')).toHaveLength(count * 2);
    for (let i = 0; i < count; i++) {
      const added = audit.filter((a) => a.name === `shared-${i}` && a.effect === 'added');
      expect(added).toHaveLength(1);
    }
  });
});
