// The notebooks nteract writes today, opened in the embedded runtime with real kernels: every
// layout stops at awaiting_trust, approval starts a kernel on an environment built (offline,
// from a wheelhouse) with the dependencies read from wherever the notebook declares them, and
// the import works. Edits are written where the notebook declares its dependencies and read back
// the way nteract reads them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPep723Blocks, parsePep723Block } from '@runyard/env-detection';
import type { RuntimeInfo } from '@runyard/runtime-registry';
import { layoutFixture, NOTEBOOK_LAYOUTS, type NotebookLayout } from '@runyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from './runtime.js';
import {
  buildTinyWheel,
  closeAndRemove,
  type Dirs,
  dirsUnder,
  plainResult,
  runtimeFor,
  tempRoot,
} from './test-support/helpers.js';

let dirs: Dirs;
let runtime: Runtime;

beforeAll(async () => {
  dirs = dirsUnder(tempRoot('layouts'));
  for (const { package: name } of Object.values(NOTEBOOK_LAYOUTS))
    if (name) buildTinyWheel(dirs.wheelhouse, name);
  // Would be installed only if the ignored top-level section of `both` were read.
  buildTinyWheel(dirs.wheelhouse, 'stalepkg');
  buildTinyWheel(dirs.wheelhouse, 'addedpkg');
  runtime = await runtimeFor(dirs);
});

afterAll(() => closeAndRemove(runtime, dirs));

function place(layout: NotebookLayout, text = layoutFixture(layout)): string {
  const path = `${layout}.ipynb`;
  writeFileSync(join(dirs.workspaceRoot, path), text);
  return path;
}

const saved = (path: string) =>
  JSON.parse(readFileSync(join(dirs.workspaceRoot, path), 'utf8')) as {
    metadata: Record<string, Record<string, unknown> | undefined>;
    cells: { cell_type: string; source: string[] }[];
  };

async function approve(info: RuntimeInfo): Promise<RuntimeInfo> {
  return runtime.manageDependencies(info.notebookId, {
    trust: true,
    fingerprint: info.trust.fingerprint,
  });
}

async function imports(notebookId: string, name: string): Promise<string | undefined> {
  const result = await runtime.execute(notebookId, { code: `import ${name}; ${name}.VALUE` });
  return plainResult(result);
}

describe('open → awaiting_trust → approve → idle → import, in every layout', () => {
  it.each([
    ['legacy-only', 'uv:inline'],
    ['both', 'uv:inline'],
    ['pep723-first', 'uv:pep723'],
    ['pep723-later', 'uv:pep723'],
  ] as const)('%s (%s)', async (layout, source) => {
    const pkg = NOTEBOOK_LAYOUTS[layout].package;
    const info = await runtime.openNotebook(place(layout));
    expect(info).toMatchObject({ lifecycle: 'awaiting_trust', envSource: source });
    expect(info.trust.untrusted).toEqual([{ ecosystem: 'pypi', name: pkg, spec: pkg }]);
    const approved = await approve(info);
    expect(approved).toMatchObject({ lifecycle: 'idle', trust: { status: 'trusted' } });
    expect(await imports(info.notebookId, pkg)).toBe('42');
    if (layout === 'both') {
      const stale = await runtime.execute(info.notebookId, {
        code: "__import__('importlib.util').util.find_spec('stalepkg') is None",
      });
      expect(plainResult(stale)).toBe('True');
    }
    await runtime.shutdown(info.notebookId);
  });

  it('runt-only signed by nteract: signature_invalid (signed elsewhere or modified), then approved, runs, and an edit lands under runt', async () => {
    const fixture = JSON.parse(layoutFixture('runt-only')) as {
      metadata: { runt: Record<string, unknown> };
    };
    fixture.metadata.runt.trust_signature = `hmac-sha256:${'5a'.repeat(32)}`;
    fixture.metadata.runt.trust_timestamp = '2026-01-01T00:00:00Z';
    const path = place('runt-only', `${JSON.stringify(fixture, null, 1)}\n`);
    const info = await runtime.openNotebook(path);
    expect(info).toMatchObject({
      lifecycle: 'awaiting_trust',
      envSource: 'uv:inline',
      trust: { status: 'signature_invalid', needsApproval: true },
    });
    expect(info.nextAction?.message).toContain('signed elsewhere or modified');
    expect(await approve(info)).toMatchObject({ lifecycle: 'idle' });
    expect(await imports(info.notebookId, 'runtpkg')).toBe('42');

    // Add a package (approving it in the same call) and move to the env with it.
    const edited = await runtime.manageDependencies(info.notebookId, {
      add: ['addedpkg'],
      trust: true,
      fingerprint: (await runtime.getNotebook(info.notebookId)).trust.fingerprint,
      apply: 'sync',
    });
    expect(edited).toMatchObject({ lifecycle: 'idle', trust: { status: 'trusted' } });
    expect(await imports(info.notebookId, 'addedpkg')).toBe('42');
    // Read back as nteract does: runt first, the top level only as a fallback.
    const file = saved(path);
    const runt = file.metadata.runt as { uv: { dependencies: string[] }; trust_signature: string };
    expect(runt.uv.dependencies).toEqual(['runtpkg', 'addedpkg']);
    expect(file.metadata.uv).toBeUndefined();
    // nteract's signature is left as it was; Runyard's own is under metadata.runyard.
    expect(runt.trust_signature).toBe(`hmac-sha256:${'5a'.repeat(32)}`);
    expect(file.metadata.runyard?.trust_signature).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    await runtime.shutdown(info.notebookId);
  });

  it('pep723-first: an edit rewrites the block inside its cell, never a second declaration', async () => {
    const path = place('pep723-first');
    let info = await runtime.openNotebook(path);
    // pepfirst is on the allowlist when the scenario above ran; alone, approve it here.
    if (info.lifecycle === 'awaiting_trust') info = await approve(info);
    expect(info.lifecycle).toBe('idle');
    const edited = await runtime.manageDependencies(info.notebookId, {
      add: ['addedpkg'],
      trust: true,
      fingerprint: info.trust.fingerprint,
      apply: 'sync',
    });
    expect(edited.lifecycle).toBe('idle');
    expect(await imports(info.notebookId, 'addedpkg')).toBe('42');
    // nteract's order: metadata first (none here), then the PEP 723 block of the code cells.
    const file = saved(path);
    expect(file.metadata.uv).toBeUndefined();
    expect(file.metadata.runt).toBeUndefined();
    const cells = file.cells.map((cell) => ({ ...cell, source: cell.source.join('') }));
    const [block, ...more] = findPep723Blocks(cells);
    expect(more).toEqual([]);
    expect(block && parsePep723Block(block).dependencies).toEqual(['pepfirst', 'addedpkg']);
    await runtime.shutdown(info.notebookId);
  });
});

describe('layouts that cannot start say why', () => {
  it('pep723-duplicate: error naming both cells', async () => {
    const info = await runtime.openNotebook(place('pep723-duplicate'));
    expect(info).toMatchObject({ lifecycle: 'error', error: { reason: 'pep723_duplicate' } });
    expect(info.error?.details).toContain('cell 1 (id first) and cell 3 (id third)');
  });

  it('pep723-malformed: error naming the cell and the line', async () => {
    const info = await runtime.openNotebook(place('pep723-malformed'));
    expect(info).toMatchObject({ lifecycle: 'error', error: { reason: 'pep723_invalid' } });
    expect(info.error?.details).toMatch(/cell 2 \(id broken\) is not valid TOML at line 3/);
  });

  it('runt-deno: a Deno notebook without a kernelspec', async () => {
    const info = await runtime.openNotebook(place('runt-deno'));
    expect(info).toMatchObject({ runtime: 'deno', envSource: 'deno', envHash: null });
  });

  it('runt-pixi: awaiting_trust for the PyPI package, then pixi builds it — a typed error without pixi', async () => {
    const info = await runtime.openNotebook(place('runt-pixi'));
    expect(info).toMatchObject({ lifecycle: 'awaiting_trust', envSource: 'pixi:inline' });
    // numpy is a default-trusted conda package; the PyPI one needs approval.
    expect(info.trust.untrusted).toEqual([{ ecosystem: 'pypi', name: 'pixipkg', spec: 'pixipkg' }]);
    const approved = await approve(info);
    expect(approved).toMatchObject({
      lifecycle: 'error',
      error: { reason: 'env_manager_unavailable', details: 'No pixi on PATH' },
    });
  });
});
