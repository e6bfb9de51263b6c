import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalBundleJson, computeBundleDigest, sealBundle } from '@runyard/config-bundles';
import { detectRuntime, nodeFs, resolveEnvironment } from '@runyard/env-detection';
import { NotebookDocument } from '@runyard/notebook';
import {
  evaluateTrust,
  signNotebookDependencies,
  TRUST_KEY_BYTES,
  verifyNotebookDependencies,
} from '@runyard/trust';
import { openTrustStore } from '@runyard/trust/sqlite';
import { Bench } from 'tinybench';
import { deepNotebook, largeBundle, notebook, packageNames } from '../micro/fixtures.js';
import { compare, type Figure, figure, type Target } from '../report.js';
import type { Suite, SuiteContext } from '../suite.js';

const SUITE = 'micro';

interface MicroCase {
  name: string;
  unit: 'ms' | 'µs';
  fn: () => unknown;
  target?: Target;
  note?: string;
}

/**
 * Runs each case with tinybench (warm-up, then at least 15 and usually thousands of samples)
 * and summarises the retained per-call samples with the harness's own median/min/max/p99.
 */
async function runCases(ctx: SuiteContext, cases: MicroCase[]): Promise<Figure[]> {
  const bench = new Bench({
    time: ctx.smoke ? 100 : 2000,
    iterations: 15,
    warmupTime: ctx.smoke ? 20 : 250,
    warmupIterations: 5,
    retainSamples: true,
  });
  for (const c of cases) bench.add(c.name, c.fn);
  await bench.run();
  return cases.map((c) => {
    const result = bench.getTask(c.name)?.result;
    if (result?.state !== 'completed' || !result.latency.samples) {
      const error = result && 'error' in result ? result.error : undefined;
      throw new Error(`micro-benchmark ${c.name} did not complete`, { cause: error });
    }
    const scale = c.unit === 'µs' ? 1000 : 1;
    const samples = Array.from(result.latency.samples, (ms) => ms * scale);
    return compare(
      figure(SUITE, c.name, c.unit, samples, c.note ? { note: c.note } : {}),
      undefined,
      c.target,
    );
  });
}

/** Fails loudly when a fixture does not exercise the path the figure claims to measure. */
function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`micro fixture: ${message}`);
}

/** Issue 9 §5: library hot paths against their absolute targets. */
export const microSuite: Suite = {
  name: SUITE,
  async run(ctx) {
    const root = ctx.tempDir('micro');

    // Runtime detection + environment resolution, 20 directories below the project file.
    const home = join(root, 'home');
    const deep = deepNotebook(home);
    const parsed: unknown = JSON.parse(readFileSync(deep.path, 'utf8'));
    const resolveOnce = async () => {
      detectRuntime(parsed);
      return resolveEnvironment({
        notebookPath: deep.path,
        notebook: parsed,
        fs: nodeFs,
        homeDir: home,
      });
    };
    const resolved = await resolveOnce();
    check(resolved.source === 'uv:pyproject', `resolved ${resolved.source}, not uv:pyproject`);
    check(resolved.projectFile?.split('/').length === 21, 'the project file is not 20 levels up');

    // Trust: a real SQLite store with a 10k-row allowlist.
    const store = openTrustStore({ file: join(root, 'trust.db') });
    const allowlist = packageNames(10_000);
    store.allow(
      allowlist.map((name) => ({ ecosystem: 'pypi' as const, name })),
      { source: 'user-approval', actor: 'bench' },
    );
    const key = new Uint8Array(randomBytes(TRUST_KEY_BYTES));
    const allowed = allowlist.filter((_, i) => i % 200 === 7).map((n) => `${n}>=1.0`);
    check(allowed.length === 50, 'the trust notebook does not have 50 dependencies');
    const trustedNb = notebook(20, allowed);
    // 5 of 50 not on the allowlist, approved by the notebook's signature instead.
    const mixedNb = signNotebookDependencies(
      notebook(20, [...allowed.slice(5), 'leftpad-x', 'tinyutil', 'fooba', 'qux-tools', 'zzlib']),
      key,
    );
    check(evaluateTrust({ notebook: trustedNb, store, key }).status === 'trusted', 'not trusted');
    check(
      evaluateTrust({ notebook: mixedNb, store, key }).status === 'trusted',
      'mixed not trusted',
    );

    // Config bundle at the 1 MiB limit.
    const { bundle, size } = largeBundle();
    check(
      Buffer.byteLength(canonicalBundleJson(sealBundle(bundle))) <= 1024 * 1024,
      'the sealed bundle is over 1 MiB',
    );

    // HMAC verify of signed notebooks.
    const signedSmall = signNotebookDependencies(
      notebook(20, ['numpy>=1.26', 'pandas', 'requests', 'scipy', 'matplotlib']),
      key,
    );
    const signed50 = signNotebookDependencies(trustedNb, key);
    check(verifyNotebookDependencies(signedSmall, key) === 'valid', 'small signature invalid');
    check(verifyNotebookDependencies(signed50, key) === 'valid', '50-dep signature invalid');

    // Notebook documents (@runyard/notebook): a 1000-cell notebook, and one with 10 MB of outputs.
    const thousand = NotebookDocument.create();
    for (let i = 0; i < 1000; i++) {
      thousand.insertCell({
        cellType: 'code',
        id: `cell-${i}`,
        source: `x${i} = ${i}\nprint(x${i})`,
      });
    }
    const reloaded = NotebookDocument.load(thousand.serialize().bytes);
    check(reloaded.cellCount === 1000, 'the notebook does not have 1000 cells');
    const heavy = NotebookDocument.create();
    const line = `${'0123456789'.repeat(10)}\n`;
    for (let i = 0; i < 100; i++) {
      const { cellId } = heavy.insertCell({ cellType: 'code', source: `print(${i})` });
      heavy.setExecution({
        cellId,
        executionCount: i + 1,
        outputs: [{ output_type: 'stream', name: 'stdout', text: line.repeat(1000) }],
      });
    }
    const heavyIds = heavy.cellIds();
    const heavyBytes = heavy.serialize().bytes.byteLength;
    check(heavyBytes > 10_000_000, `the outputs notebook is ${heavyBytes} bytes, not > 10 MB`);
    let flip = 0;
    const saveAfterRun = () => {
      flip++;
      heavy.setExecution({
        cellId: heavyIds[0] as string,
        executionCount: flip,
        outputs: [{ output_type: 'stream', name: 'stdout', text: line.repeat(1000 + (flip % 2)) }],
      });
      return heavy.serialize();
    };
    const saveEverything = () => {
      flip++;
      for (const cellId of heavyIds) heavy.setSource({ cellId, source: `print(${flip})` });
      return heavy.serialize();
    };

    try {
      const figures = await runCases(ctx, [
        {
          name: 'get_cell on a 1000-cell notebook',
          unit: 'µs',
          fn: () => reloaded.getCell('cell-500'),
          target: { of: 'median', op: '<=', value: 1000 },
          note: '@runyard/notebook NotebookDocument.getCell by id (index lookup included), loaded from bytes',
        },
        {
          name: 'serialize a notebook with 10 MB of outputs, after a run',
          unit: 'ms',
          fn: saveAfterRun,
          target: { of: 'median', op: '<=', value: 50 },
          note: `100 code cells × 100 KB stream output (${(heavyBytes / 1e6).toFixed(1)} MB file); one cell's outputs replaced, then serialize: text, UTF-8 bytes, sha256`,
        },
        {
          name: 'serialize a notebook with 10 MB of outputs, every cell re-rendered',
          unit: 'ms',
          fn: saveEverything,
          note: 'informational worst case: all 100 cells edited, so every cell and its outputs are re-rendered as JSON before the bytes and sha256',
        },
        {
          name: 'detectRuntime + resolveEnvironment, 20 dirs deep',
          unit: 'ms',
          fn: resolveOnce,
          target: { of: 'median', op: '<=', value: 2 },
          note: 'real fs (nodeFs): walk-up through 21 directories to a pyproject.toml, parse it, hash the env',
        },
        {
          name: 'evaluateTrust, 50 deps, all allowlisted',
          unit: 'µs',
          fn: () => evaluateTrust({ notebook: trustedNb, store, key }),
          target: { of: 'median', op: '<=', value: 100 },
          note: '10k-row allowlist in SQLite (@runyard/trust/sqlite); unsigned notebook, 20 cells',
        },
        {
          name: 'evaluateTrust, 50 deps, 5 signed not allowlisted',
          unit: 'µs',
          fn: () => evaluateTrust({ notebook: mixedNb, store, key }),
          note: 'informational, not an issue target: 5 deps off the allowlist make it scan all 10k allowlisted names for typosquats',
        },
        {
          name: 'computeBundleDigest, 1 MiB bundle',
          unit: 'ms',
          fn: () => computeBundleDigest(bundle),
          target: { of: 'median', op: '<=', value: 25 },
          note: `RFC 8785 canonical JSON + SHA-256 of a ${(size / 1024).toFixed(0)} KiB bundle (256 profiles, 1024 declarations)`,
        },
        {
          name: 'HMAC verify, notebook with 5 deps',
          unit: 'µs',
          fn: () => verifyNotebookDependencies(signedSmall, key),
          target: { of: 'median', op: '<=', value: 50 },
          note: 'verifyNotebookDependencies: schema check, canonical dependency payload, HMAC-SHA256, constant-time compare; 20 cells',
        },
        {
          name: 'HMAC verify, notebook with 50 deps',
          unit: 'µs',
          fn: () => verifyNotebookDependencies(signed50, key),
          target: { of: 'median', op: '<=', value: 50 },
          note: 'as above with 50 dependencies',
        },
      ]);
      return { figures, skipped: [] };
    } finally {
      store.close();
    }
  },
};
