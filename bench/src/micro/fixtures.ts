import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalBundleJson, type UnsealedConfigBundle } from '@runyard/config-bundles';

/** A notebook with `cells` small code cells and, when given, inline uv dependencies. */
export function notebook(cells: number, dependencies?: string[]): Record<string, unknown> {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      language_info: { name: 'python', version: '3.11.2' },
      ...(dependencies ? { uv: { dependencies } } : {}),
    },
    cells: Array.from({ length: cells }, (_, i) => ({
      id: `cell-${i}`,
      cell_type: 'code',
      metadata: {},
      execution_count: i + 1,
      source: [`import math\n`, `value_${i} = math.sqrt(${i}) * 2\n`, `value_${i}`],
      outputs: [
        {
          output_type: 'execute_result',
          execution_count: i + 1,
          metadata: {},
          data: { 'text/plain': [String(Math.sqrt(i) * 2)] },
        },
      ],
    })),
  };
}

/** `count` distinct PyPI-style names: the allowlist rows. */
export function packageNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `pkg-${i.toString(36).padStart(4, '0')}-lib`);
}

/**
 * `<home>/project/l01/…/l20/analysis.ipynb` with a pyproject.toml in `<home>/project`, so the
 * project-file walk-up visits all 21 directories before it finds it.
 */
export function deepNotebook(home: string, depth = 20): { path: string; text: string } {
  const project = join(home, 'project');
  let dir = project;
  for (let i = 1; i <= depth; i++) dir = join(dir, `l${String(i).padStart(2, '0')}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(project, 'pyproject.toml'),
    '[project]\nname = "analysis"\nrequires-python = ">=3.11"\ndependencies = ["numpy>=1.26", "pandas~=2.2", "requests"]\n',
  );
  const path = join(dir, 'analysis.ipynb');
  const text = JSON.stringify(notebook(10));
  writeFileSync(path, text);
  return { path, text };
}

/**
 * A config bundle at the size limit: 256 command profiles and 1024 declarations (the count
 * limits), with argv filled until the canonical JSON is just under `bytes` (1 MiB, the
 * bundle size limit, less room for the digest). `validateBundle` would refuse it even so: its cheap
 * size pre-check (`assertPlainJson`) over-counts by a few bytes per JSON value.
 */
export function largeBundle(bytes = 1024 * 1024 - 128): {
  bundle: UnsealedConfigBundle;
  size: number;
} {
  const declarations: UnsealedConfigBundle['declarations'] = Array.from(
    { length: 1024 },
    (_, i) => ({
      kind: i % 2 ? ('network_policy' as const) : ('secret_ref' as const),
      name: `decl-${i}`,
      reference: i % 2 ? `network-policy:host-${i}.example.com` : `secret:token_${i}`,
    }),
  );
  const profiles = Array.from({ length: 256 }, (_, i) => ({
    selector: { kind: 'named' as const, value: `agent-${i}` },
    label: `Agent ${i}`,
    worker: { kind: 'command' as const, argv: ['node', `agents/${i}/main.js`], cwd: `agents/${i}` },
    grants: [`decl-${(2 * i) % 1024}`, `decl-${(2 * i + 1) % 1024}`],
  }));
  const bundle: UnsealedConfigBundle = {
    metadata: {
      id: 'ws-bench.agents',
      revision: 1,
      workspaceId: 'ws-bench',
      createdAt: '2025-01-02T03:04:05Z',
      provenance: { source: 'bench', detail: 'generated at the size limit' },
    },
    profiles,
    declarations,
  };
  const measure = () => Buffer.byteLength(canonicalBundleJson(bundle));
  // Random (not repeated) arguments: realistic content for the hash and the serializer.
  const arg = () => `--opt=${randomBytes(45).toString('base64url')}`;
  const argBytes = arg().length + 3;
  for (let i = 0, size = measure(); size + argBytes < bytes; i++) {
    profiles[i % profiles.length]?.worker.argv.push(arg());
    if (i % 256 === 255) size = measure();
    else size += argBytes;
  }
  while (measure() > bytes) profiles.find((p) => p.worker.argv.length > 2)?.worker.argv.pop();
  return { bundle, size: measure() };
}
