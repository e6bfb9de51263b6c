import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { layoutFixture } from '@runyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealTestBundle } from './test-support/bundle.js';
import { runCli } from './test-support/cli.js';
import { type Harness, startHarness, TEST_TOKEN, tempDir } from './test-support/harness.js';

let dir: string;
let dirs: string[];

function notebook(metadata: Record<string, unknown>) {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      ...metadata,
    },
    cells: [
      { cell_type: 'code', source: 'print(1)', metadata: {}, outputs: [], execution_count: null },
    ],
  });
}

const bundle = () =>
  sealTestBundle([
    {
      selector: { kind: 'named', value: 'echo' },
      worker: { kind: 'command', argv: ['echo', 'hi'] },
      grants: [],
    },
  ]);

beforeAll(() => {
  dir = tempDir('runyard-cli-');
  dirs = [
    '--data-dir',
    join(dir, 'data'),
    '--config-dir',
    join(dir, 'config'),
    '--cache-dir',
    join(dir, 'cache'),
  ];
  writeFileSync(
    join(dir, 'uv.ipynb'),
    notebook({ uv: { dependencies: ['Requests>=2', 'numpy'], 'requires-python': '>=3.9' } }),
  );
  writeFileSync(
    join(dir, 'downloaded.ipynb'),
    notebook({ uv: { dependencies: ['totally-unknown-pkg==1.0'] } }),
  );
  writeFileSync(join(dir, 'bundle.json'), JSON.stringify(bundle()));
  const tampered = bundle();
  tampered.metadata.revision = 2;
  writeFileSync(join(dir, 'tampered.json'), JSON.stringify(tampered));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('runyard detect', () => {
  it('--json prints the documented shape', async () => {
    const run = await runCli(['detect', 'uv.ipynb', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const result = run.json();
    expect(Object.keys(result).sort()).toEqual(['env', 'runtime', 'runtimeReason', 'warnings']);
    expect(result).toMatchObject({
      runtime: 'python',
      runtimeReason: expect.any(String),
      env: {
        source: 'uv:inline',
        projectFile: null,
        declaredIn: 'metadata.uv',
        channels: [],
        requiresPython: '>=3.9',
        envHash: expect.stringMatching(/^[0-9a-f]{16}$/),
      },
      warnings: [],
    });
    const env = result.env as Record<string, unknown>;
    expect(Object.keys(env).sort()).toEqual(
      [
        'channels',
        'declaredIn',
        'dependencies',
        'envHash',
        'projectFile',
        'requiresPython',
        'source',
      ].sort(),
    );
    expect(env.dependencies).toContainEqual({
      ecosystem: 'pypi',
      name: 'requests',
      spec: 'Requests>=2',
    });
  });

  it('shows where nteract-layout dependencies were read, and why a layout was ignored', async () => {
    for (const layout of ['pep723-later', 'both', 'pep723-duplicate'] as const)
      writeFileSync(join(dir, `${layout}.ipynb`), layoutFixture(layout));
    const pep = await runCli(['detect', 'pep723-later.ipynb'], { cwd: dir });
    expect(pep.code).toBe(0);
    expect(pep.stdout).toContain('environment:  uv:pep723 in cells[2].source');
    expect(pep.stdout).toContain('  peplater  [pypi]');
    const both = await runCli(['detect', 'both.ipynb', '--json'], { cwd: dir });
    expect(both.json()).toMatchObject({
      env: { source: 'uv:inline', declaredIn: 'metadata.runt.uv' },
      warnings: [{ code: 'legacy_metadata_ignored' }],
    });
    const duplicate = await runCli(['detect', 'pep723-duplicate.ipynb', '--json'], { cwd: dir });
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('pep723_duplicate');
  });

  it('a file that is not a notebook fails with exit 1 and a typed code', async () => {
    writeFileSync(join(dir, 'bad.ipynb'), '{"cells": 5}');
    const run = await runCli(['detect', 'bad.ipynb', '--json'], { cwd: dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('notebook_invalid');
  });

  it('usage errors exit 2', async () => {
    expect((await runCli(['detect'], { cwd: dir })).code).toBe(2);
    expect((await runCli(['detect', 'a', '--bogus'], { cwd: dir })).code).toBe(2);
    expect((await runCli(['frobnicate'], { cwd: dir })).code).toBe(2);
  });
});

describe('runyard bundle', () => {
  it('digest prints the sealed digest', async () => {
    const run = await runCli(['bundle', 'digest', 'bundle.json'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(bundle().metadata.digest);
  });

  it('validate --json: valid bundle', async () => {
    const run = await runCli(['bundle', 'validate', 'bundle.json', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.json()).toEqual({ valid: true, digest: bundle().metadata.digest, errors: [] });
  });

  it('validate --json: a tampered bundle reports the digest mismatch, exit 1', async () => {
    const run = await runCli(['bundle', 'validate', 'tampered.json', '--json'], { cwd: dir });
    expect(run.code).toBe(1);
    const result = run.json<{
      valid: boolean;
      digest: string;
      errors: { code: string; path: string | null; message: string }[];
    }>();
    expect(result.valid).toBe(false);
    expect(result.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(result.digest).not.toBe(bundle().metadata.digest);
    expect(result.errors).toEqual([
      {
        code: 'config_bundle_digest_mismatch',
        path: expect.anything(),
        message: expect.any(String),
      },
    ]);
  });

  it('validate --json: hostile JSON (__proto__, not JSON) is invalid, never a crash', async () => {
    writeFileSync(join(dir, 'proto.json'), '{"__proto__": {"polluted": true}, "metadata": {}}');
    writeFileSync(join(dir, 'garbage.json'), 'not json at all');
    for (const file of ['proto.json', 'garbage.json']) {
      const run = await runCli(['bundle', 'validate', file, '--json'], { cwd: dir });
      expect(run.code).toBe(1);
      const result = run.json<{ valid: boolean; errors: { code: string }[] }>();
      expect(result.valid).toBe(false);
      expect(result.errors[0]?.code).toBe('invalid_bundle');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('runyard trust', () => {
  it('status exits 3 for unknown dependencies, approve signs, then status exits 0', async () => {
    const status = await runCli(['trust', 'status', 'downloaded.ipynb', '--json', ...dirs], {
      cwd: dir,
    });
    expect(status.code).toBe(3);
    const summary = status.json<{
      status: string;
      needsApproval: boolean;
      untrusted: { name: string }[];
      fingerprint: string;
    }>();
    expect(summary).toMatchObject({ status: 'untrusted', needsApproval: true });
    expect(summary.untrusted.map((dep) => dep.name)).toEqual(['totally-unknown-pkg']);

    const before = JSON.parse(readFileSync(join(dir, 'downloaded.ipynb'), 'utf8'));
    const approve = await runCli(['trust', 'approve', 'downloaded.ipynb', '--json', ...dirs], {
      cwd: dir,
    });
    expect(approve.code).toBe(0);
    expect(approve.json()).toMatchObject({ needsApproval: false, status: 'trusted' });
    const after = JSON.parse(readFileSync(join(dir, 'downloaded.ipynb'), 'utf8'));
    expect(after.metadata.runyard.trust_signature).toEqual(expect.any(String));
    expect(after.cells).toEqual(before.cells);

    const again = await runCli(['trust', 'status', 'downloaded.ipynb', '--json', ...dirs], {
      cwd: dir,
    });
    expect(again.code).toBe(0);

    const packages = await runCli(['trust', 'packages', '--json', ...dirs], { cwd: dir });
    expect(packages.code).toBe(0);
    expect(
      packages.json<{ packages: { name: string; source: string }[] }>().packages,
    ).toContainEqual(
      expect.objectContaining({ name: 'totally-unknown-pkg', source: 'user-approval' }),
    );
  });
});

describe('runyard env', () => {
  it('ls and gc --json on an empty cache', async () => {
    const ls = await runCli(['env', 'ls', '--json', ...dirs], { cwd: dir });
    expect(ls.code).toBe(0);
    expect(ls.json()).toEqual({ envs: [] });
    const gc = await runCli(['env', 'gc', '--json', '--max-age-days', '1', ...dirs], { cwd: dir });
    expect(gc.code).toBe(0);
    expect(gc.json()).toEqual({ removed: [] });
    expect((await runCli(['env', 'gc', '--max-count', '-1', ...dirs], { cwd: dir })).code).toBe(2);
  });
});

describe('runyard skills (against a running server)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { RUNYARD_SKILLS_POLICY: 'force-off' } });
  });
  afterAll(async () => {
    await h?.close();
  });
  const env = () => ({ RUNYARD_TOKEN: TEST_TOKEN });

  it('status --json and stop --json (the kill switch works under force-off)', async () => {
    const status = await runCli(['skills', 'status', '--json', '--url', h.url], {
      cwd: dir,
      env: env(),
    });
    expect(status.code).toBe(0);
    expect(status.json()).toMatchObject({ policy: 'force-off', stopped: false });
    const stop = await runCli(['skills', 'stop', '--json', '--url', h.url], {
      cwd: dir,
      env: env(),
    });
    expect(stop.code).toBe(0);
    expect(stop.json()).toEqual({ stopped: true, wasRunning: false });
  });

  it('reconcile under force-off fails with the code (exit 1)', async () => {
    const run = await runCli(['skills', 'reconcile', '--url', h.url], { cwd: dir, env: env() });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('skills_policy_force_off');
  });

  it('a wrong token is refused', async () => {
    const run = await runCli(['skills', 'status', '--url', h.url], {
      cwd: dir,
      env: { RUNYARD_TOKEN: 'wrong-token-0123456789abc' },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('unauthorized');
  });
});

describe('help', () => {
  it('prints usage and per-command help with exit 0', async () => {
    const run = await runCli(['--help'], { cwd: dir });
    expect(run.code).toBe(0);
    for (const command of [
      'serve',
      'mcp',
      'runtime serve',
      'detect',
      'trust status',
      'bundle validate',
      'skills',
      'env',
    ])
      expect(run.stdout).toContain(command);
    const serve = await runCli(['serve', '--help'], { cwd: dir });
    expect(serve.code).toBe(0);
    expect(serve.stdout).toContain('--skills-manifest');
  });
});
