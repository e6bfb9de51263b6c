// The layouts nteract writes today (`metadata.runt.*`, PEP 723 cells) and the legacy top-level
// keys, through runtime detection and environment resolution, on the project's own fixtures.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layoutFixture, uvLayouts } from '@runyard/testing';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  computeCondaEnvHash,
  computeUvEnvHash,
  detectRuntime,
  EnvDetectionError,
  nodeFs,
  parseNotebookJson,
  readInlineDependencies,
  resolveEnvironment,
  toDependency,
} from './index.js';
import { findScriptBlocks, readPep723 } from './pep723.js';

// An empty directory tree of its own: no project file anywhere up to homeDir.
const root = mkdtempSync(join(tmpdir(), 'runyard-layouts-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function resolveNotebook(notebook: unknown, preferences = {}) {
  return resolveEnvironment({
    notebookPath: join(root, 'nb.ipynb'),
    notebook,
    fs: nodeFs,
    homeDir: root,
    preferences,
  });
}

const fixture = (name: Parameters<typeof layoutFixture>[0]) =>
  parseNotebookJson(layoutFixture(name));
const pypi = (spec: string) => toDependency(spec, 'pypi');

describe('nteract layouts through resolveEnvironment', () => {
  it('runt-only: reads metadata.runt.uv with its requires-python', async () => {
    const env = await resolveNotebook(fixture('runt-only'));
    expect(env).toMatchObject({
      runtime: 'python',
      source: 'uv:inline',
      declaredIn: 'metadata.runt.uv',
      dependencies: [pypi('runtpkg')],
      requiresPython: '>=3.9',
      warnings: [],
    });
    expect(env.envHash).toBe(
      computeUvEnvHash({ dependencies: [pypi('runtpkg')], requiresPython: '>=3.9' }),
    );
  });

  it('legacy-only: the top-level metadata.uv is the fallback', async () => {
    expect(await resolveNotebook(fixture('legacy-only'))).toMatchObject({
      source: 'uv:inline',
      declaredIn: 'metadata.uv',
      dependencies: [pypi('legacypkg')],
      warnings: [],
    });
  });

  it('both: runt wins and a warning says the top-level section was ignored', async () => {
    const env = await resolveNotebook(fixture('both'));
    expect(env).toMatchObject({
      source: 'uv:inline',
      declaredIn: 'metadata.runt.uv',
      dependencies: [pypi('bothpkg')],
    });
    expect(env.warnings.map((w) => w.code)).toEqual(['legacy_metadata_ignored']);
    expect(env.warnings[0]?.message).toContain('metadata.runt.uv');
  });

  it('pep723-first: one block in the first code cell is a uv source', async () => {
    expect(await resolveNotebook(fixture('pep723-first'))).toMatchObject({
      source: 'uv:pep723',
      declaredIn: 'cells[0].source',
      dependencies: [pypi('pepfirst')],
      requiresPython: '>=3.9',
      warnings: [],
    });
  });

  it('pep723-later: a block in a later cell; markdown cells are not scanned', async () => {
    expect(await resolveNotebook(fixture('pep723-later'))).toMatchObject({
      source: 'uv:pep723',
      declaredIn: 'cells[2].source',
      dependencies: [pypi('peplater')],
      requiresPython: '>=3.9',
    });
  });

  it('pep723-duplicate: a typed error naming both cells', async () => {
    const error = await resolveNotebook(fixture('pep723-duplicate')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvDetectionError);
    expect(error).toMatchObject({ code: 'pep723_duplicate', details: { cells: [1, 3] } });
    expect((error as Error).message).toContain('cell 1 (id first) and cell 3 (id third)');
  });

  it('pep723-malformed: a typed error with the cell and the line in the cell', async () => {
    const error = await resolveNotebook(fixture('pep723-malformed')).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'pep723_invalid',
      details: { cell: 2, cellId: 'broken', line: 3 },
    });
    expect((error as Error).message).toMatch(/cell 2 \(id broken\) is not valid TOML at line 3/);
  });

  it('runt-deno: a Deno notebook without a kernelspec', async () => {
    expect(detectRuntime(fixture('runt-deno'))).toMatchObject({
      runtime: 'deno',
      reason: 'runt_deno',
    });
    expect(await resolveNotebook(fixture('runt-deno'))).toMatchObject({
      runtime: 'deno',
      source: 'deno',
      envHash: null,
    });
  });

  it('a kernelspec beats runt.deno', () => {
    const notebook = fixture('runt-deno');
    notebook.metadata.kernelspec = { name: 'python3' };
    expect(detectRuntime(notebook)).toMatchObject({ runtime: 'python' });
  });

  it('runt-pixi: an inline pixi source, conda first then PyPI, hashed like a pixi project', async () => {
    const env = await resolveNotebook(fixture('runt-pixi'));
    const dependencies = [toDependency('numpy>=1.26', 'conda'), pypi('pixipkg')];
    expect(env).toMatchObject({
      source: 'pixi:inline',
      declaredIn: 'metadata.runt.pixi',
      dependencies,
      channels: ['conda-forge'],
    });
    expect(env.envHash).toBe(computeCondaEnvHash({ dependencies, channels: ['conda-forge'] }));
  });

  it('a PEP 723 block beside metadata dependencies is ignored with a warning', async () => {
    const notebook = fixture('pep723-later');
    notebook.metadata.runt = { uv: { dependencies: ['other'] } };
    const env = await resolveNotebook(notebook);
    expect(env).toMatchObject({ source: 'uv:inline', dependencies: [pypi('other')] });
    expect(env.warnings.map((w) => w.code)).toEqual(['pep723_ignored']);
    expect(env.warnings[0]?.message).toContain('cell 3 (id deps)');
  });

  it('a Deno notebook ignores Python declarations without parsing them', async () => {
    const notebook = fixture('runt-deno');
    notebook.metadata.runt = {
      ...notebook.metadata.runt,
      uv: { dependencies: ['numpy; rm -rf /'] },
    };
    const env = await resolveNotebook(notebook);
    expect(env.warnings.map((w) => w.code)).toEqual(['inline_dependencies_ignored']);
  });

  it('several managers: the preferred one when declared, else uv, conda, pixi in order', async () => {
    const notebook = fixture('runt-pixi');
    notebook.metadata.runt = { ...notebook.metadata.runt, conda: { dependencies: ['scipy'] } };
    expect((await resolveNotebook(notebook)).source).toBe('conda:inline');
    expect((await resolveNotebook(notebook, { preferredManager: 'uv' })).source).toBe(
      'conda:inline',
    );
    delete notebook.metadata.runt?.conda;
    expect((await resolveNotebook(notebook, { preferredManager: 'conda' })).source).toBe(
      'pixi:inline',
    );
  });

  it('a hostile channel under runt.pixi is an invalid_dependency naming where it was', async () => {
    const notebook = fixture('runt-pixi');
    notebook.metadata.runt = { pixi: { dependencies: ['numpy'], channels: ['--index-url=x'] } };
    await expect(resolveNotebook(notebook)).rejects.toMatchObject({
      code: 'invalid_dependency',
      message: expect.stringContaining('metadata.runt.pixi.channels'),
    });
  });

  it('runt.env_id keys an environment without dependencies', async () => {
    const a = await resolveNotebook({ metadata: { runt: { env_id: 'a' } } });
    const b = await resolveNotebook({ metadata: { runt: { env_id: 'b' } } });
    expect(a.envHash).toBe(computeUvEnvHash({ dependencies: [], envId: 'a' }));
    expect(a.envHash).not.toBe(b.envHash);
  });

  it('odd values under runt keys Runyard only looks at never make the notebook unreadable', async () => {
    const env = await resolveNotebook({
      metadata: { runt: { env_id: 5, trust_signature: [1], deno: 'yes', extra: { a: 1 } } },
    });
    expect(env).toMatchObject({ runtime: 'python', source: 'uv:prewarmed' });
  });
});

describe('PEP 723 block scanning', () => {
  const block = (lines: string[]) => lines.join('\n');

  it('follows the PEP: the last `# ///` of the comment run closes the block', () => {
    const source = block(['# /// script', '# dependencies = ["a"]', '# ///', '# ///', 'x = 1']);
    expect(findScriptBlocks(source)).toEqual([
      { startLine: 1, endLine: 4, toml: 'dependencies = ["a"]\n///' },
    ]);
  });

  it('an unclosed block is no block; other block types are not script blocks', () => {
    expect(findScriptBlocks(block(['# /// script', '# dependencies = []', 'x = 1']))).toEqual([]);
    expect(findScriptBlocks(block(['# /// pyproject', '# a = 1', '# ///']))).toEqual([]);
    expect(findScriptBlocks(block(['#/// script', '# ///']))).toEqual([]);
  });

  it('reads CRLF sources, lone `#` lines and source given as a string', () => {
    const cells = [
      {
        cell_type: 'code',
        source: '# /// script\r\n#\r\n# dependencies = ["a"]\r\n# ///\r\n',
      },
    ];
    expect(readPep723(cells)).toMatchObject({ dependencies: ['a'] });
  });

  it('two blocks in one cell are a duplicate naming that cell', () => {
    const source = block(['# /// script', '# ///', '', '# /// script', '# ///']);
    expect(() => readPep723([{ cell_type: 'code', source, id: 'c' }])).toThrowError(
      expect.objectContaining({
        code: 'pep723_duplicate',
        details: { cells: [1, 1], line: 4, cellId: 'c' },
      }),
    );
  });

  it('a block of the wrong shape is pep723_invalid', () => {
    const source = block(['# /// script', '# dependencies = "httpx"', '# ///']);
    expect(() => readPep723([{ cell_type: 'code', source }])).toThrowError(
      expect.objectContaining({ code: 'pep723_invalid', details: { cell: 1, line: 1 } }),
    );
  });

  it('a hostile dependency in a block is an invalid_dependency naming the cell', () => {
    const source = block(['# /// script', '# dependencies = ["numpy; rm -rf /"]', '# ///']);
    expect(() =>
      readInlineDependencies(
        parseNotebookJson(JSON.stringify({ cells: [{ cell_type: 'code', source }] })),
      ),
    ).toThrowError(
      expect.objectContaining({ code: 'invalid_dependency', details: { cell: 1, line: 1 } }),
    );
  });

  it('never throws anything but a typed error, whatever the cells hold', () => {
    const line = fc.oneof(
      fc.constantFrom('# /// script', '# ///', '#', '# dependencies = ["a"]', '# [', 'x = 1', ''),
      fc.string({ maxLength: 20 }).map((s) => `# ${s}`),
    );
    const cell = fc.record({
      cell_type: fc.constantFrom('code', 'markdown', 5),
      source: fc.oneof(
        fc.array(line, { maxLength: 8 }).map((l) => l.join('\n')),
        fc.array(line),
      ),
    });
    fc.assert(
      fc.property(fc.array(cell, { maxLength: 4 }), (cells) => {
        try {
          readPep723(cells);
        } catch (error) {
          expect(error).toBeInstanceOf(EnvDetectionError);
        }
      }),
    );
  });

  it('a long source without a block costs one substring search', () => {
    const source = 'x = 1\n'.repeat(200_000);
    expect(findScriptBlocks(source)).toEqual([]);
  });
});

const specArb = fc
  .array(
    fc.record({
      name: fc.constantFrom('numpy', 'NumPy', 'scikit_learn', 'requests', 'httpx', 'Pandas'),
      version: fc.constantFrom('', '>=1', ' >= 2.0', '==1.2.3', '<3,>=2'),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((entries) => entries.map(({ name, version }) => `${name}${version}`));

describe('property: the layout never changes the environment', () => {
  it('the same dependencies in any layout give the same env hash', async () => {
    await fc.assert(
      fc.asyncProperty(
        specArb,
        fc.option(fc.constantFrom('>=3.9', '>= 3.10, <4'), { nil: undefined }),
        fc.nat(10),
        async (specs, requiresPython, seed) => {
          const hashes = new Set<string | null>();
          for (const notebook of Object.values(uvLayouts(specs, requiresPython, seed)))
            hashes.add((await resolveNotebook(notebook)).envHash);
          expect(hashes.size).toBe(1);
        },
      ),
      { numRuns: 60 },
    );
  });
});
