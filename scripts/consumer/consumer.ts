// A project outside the workspace that uses Runyard's packages the way another team would: from
// the packed tarballs, installed with npm, type-checked with a strict tsconfig (skipLibCheck off,
// so every published declaration file must resolve with only what the packages bring), then run.
// `scripts/consumer-check.sh` sets it up; it is not part of the workspace build.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { computeBundleDigest, validateBundle } from '@runyard/config-bundles';
import type * as BundlesSqlite from '@runyard/config-bundles/sqlite';
import type * as EmbeddedRuntime from '@runyard/embedded-runtime';
import {
  detectRuntime,
  nodeFs,
  parseNotebookJson,
  resolveEnvironment,
} from '@runyard/env-detection';
import type * as Http from '@runyard/http';
import type * as Kernels from '@runyard/kernels';
import { NotebookDocument } from '@runyard/notebook';
import type * as Registry from '@runyard/runtime-registry';
import type * as RegistryServer from '@runyard/runtime-registry/server';
import type * as Sandbox from '@runyard/sandbox';
import type * as Skills from '@runyard/skills-reconciler';
import type * as SkillsSqlite from '@runyard/skills-reconciler/sqlite';
import type * as Sqlite from '@runyard/sqlite';
import { buildNextAction, createTrustService, loadOrCreateTrustKey } from '@runyard/trust';
import { openTrustStore } from '@runyard/trust/sqlite';
import type * as WorkspaceServer from '@runyard/workspace-server';

// Every public entry point's declarations are part of this program, so tsc checks them all.
export type EveryEntry = [
  typeof BundlesSqlite,
  typeof Http,
  typeof Kernels,
  typeof Registry,
  typeof RegistryServer,
  typeof Sandbox,
  typeof Skills,
  typeof SkillsSqlite,
  typeof Sqlite,
  typeof EmbeddedRuntime,
  typeof WorkspaceServer,
];

const root = await mkdtemp(join(tmpdir(), 'runyard-consumer-'));
try {
  // 1. Env detection on a notebook.
  const notebookText = JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      uv: { dependencies: ['NumPy>=1.26', 'requests'] },
    },
    cells: [],
  });
  const notebook = parseNotebookJson(notebookText);
  assert.equal(detectRuntime(notebook).runtime, 'python');
  const env = await resolveEnvironment({
    notebookPath: join(root, 'analysis.ipynb'),
    notebook,
    fs: nodeFs,
    homeDir: root,
  });
  assert.equal(env.source, 'uv:inline');
  assert.deepEqual(
    env.dependencies.map((dependency) => dependency.name),
    ['numpy', 'requests'],
  );
  assert.match(env.envHash ?? '', /^[0-9a-f]{16}$/);

  // 2. The trust quick start from @runyard/trust's README.
  const key = await loadOrCreateTrustKey({ configDir: join(root, 'config') });
  const store = openTrustStore({ file: join(root, 'runyard.db') });
  try {
    const trust = createTrustService({ store, key });
    const decision = trust.evaluate(notebookText);
    assert.equal(decision.needsApproval, true);
    const nextAction = buildNextAction(decision, { notebookId: 'nb-1' });
    assert.ok(nextAction, 'an untrusted notebook has a next action');
    const { notebook: signed } = trust.approve({
      notebook: notebookText,
      fingerprint: decision.fingerprint,
      actor: 'consumer-check',
    });
    assert.equal(trust.evaluate(signed).status, 'trusted');
  } finally {
    store.close();
  }

  // 3. A bundle digest: test vector 1 from @runyard/config-bundles' README.
  const bundle = {
    metadata: {
      id: 'example',
      revision: 1,
      workspaceId: 'ws',
      createdAt: '2025-01-01T00:00:00Z',
      provenance: { source: 'test' },
    },
    profiles: [],
    declarations: [],
  };
  const digest = computeBundleDigest(bundle);
  assert.equal(digest, '3c3dc9494f3ffef0fe0a8ba2e687418e3d623fb104ae425df794b928457af6bc');
  const validated = validateBundle({ ...bundle, metadata: { ...bundle.metadata, digest } });
  assert.equal(validated.metadata.digest, digest);

  // 4. A notebook document: edit by id, a regular expression run in its worker (from the built
  // ESM output), save, load again.
  const doc = NotebookDocument.create();
  const { cellId } = doc.insertCell({ cellType: 'code', source: 'print(1)' });
  const replaced = await doc.replaceInCell({ cellId, find: '\\d', replace: '2', regex: true });
  assert.equal(replaced.count, 1);
  const saved = doc.serialize();
  assert.equal(NotebookDocument.load(saved.bytes).getCell(cellId).source, 'print(2)');

  console.log(
    'consumer check: env detection, trust quick start, bundle digest and notebook documents all work',
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
