// Dependency edits keep the notebook's own layout; every result is read back the way nteract's
// docs describe (`metadata.runt.<manager>` first, the top-level key as the fallback, else a PEP
// 723 block), so what the edit wrote is what nteract would install.
import { readInlineDependencies } from '@runyard/env-detection';
import { layoutFixture, type NotebookLayout } from '@runyard/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dependencyEditTarget, editDependencies } from './dependency-edit.js';
import { parseDocument } from './notebook-file.js';

type Json = Record<string, unknown>;

/** nteract's read: runt first, then the legacy top-level key (`from_metadata_value`). */
function nteractUv(text: string): string[] | undefined {
  const metadata = (JSON.parse(text) as { metadata: Json }).metadata;
  const runt = metadata.runt as Json | undefined;
  const section = (runt?.uv ?? metadata.uv) as { dependencies?: string[] } | undefined;
  return section?.dependencies;
}

const doc = (layout: NotebookLayout) => parseDocument(layoutFixture(layout));
const specs = (text: string) =>
  readInlineDependencies(parseDocument(text).notebook).uv?.dependencies.map((d) => d.spec);

describe('dependency edits keep the layout', () => {
  it('runt-only: edited under metadata.runt.uv; nteract reads the new list; nothing at the top level', () => {
    const edit = editDependencies(doc('runt-only'), 'uv', { add: ['httpx>=0.27'] });
    expect(edit?.declaredIn).toBe('metadata.runt.uv');
    const text = edit?.text as string;
    expect(nteractUv(text)).toEqual(['runtpkg', 'httpx>=0.27']);
    expect((JSON.parse(text) as { metadata: Json }).metadata.uv).toBeUndefined();
    // Other runt keys and every other byte are kept.
    expect(text.replace('"runtpkg",\n     "httpx>=0.27"', '"runtpkg"')).toBe(
      layoutFixture('runt-only'),
    );
  });

  it('legacy-only: edited at the top level, where it lives', () => {
    const edit = editDependencies(doc('legacy-only'), 'uv', { add: ['httpx'] });
    expect(edit?.declaredIn).toBe('metadata.uv');
    expect(nteractUv(edit?.text as string)).toEqual(['legacypkg', 'httpx']);
  });

  it('both: runt is edited (a top-level edit would be invisible to nteract); the ignored section is untouched', () => {
    const edit = editDependencies(doc('both'), 'uv', { remove: ['bothpkg'], add: ['new'] });
    const metadata = (JSON.parse(edit?.text as string) as { metadata: Json }).metadata;
    expect(nteractUv(edit?.text as string)).toEqual(['new']);
    expect(metadata.uv).toEqual({ dependencies: ['stalepkg'] });
  });

  it('pep723-first: the block is rewritten inside its cell, in its multi-line style', () => {
    const edit = editDependencies(doc('pep723-first'), 'conda', { add: ['httpx'] });
    expect(edit?.declaredIn).toBe('cells[0].source');
    const notebook = JSON.parse(edit?.text as string) as {
      metadata: Json;
      cells: { source: string[] }[];
    };
    expect(notebook.cells[0]?.source).toEqual([
      '# /// script\n',
      '# requires-python = ">=3.9"\n',
      '# dependencies = [\n',
      '#   "pepfirst",\n',
      '#   "httpx",\n',
      '# ]\n',
      '# ///',
    ]);
    // No second declaration anywhere: the metadata holds no dependency section.
    expect(notebook.metadata).toEqual({
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
    });
    expect(specs(edit?.text as string)).toEqual(['pepfirst', 'httpx']);
  });

  it('pep723-later: removing the last entry leaves an empty list in the block; code around it is kept', () => {
    const edit = editDependencies(doc('pep723-later'), 'uv', { remove: ['PepLater'] });
    const cell = (JSON.parse(edit?.text as string) as { cells: { source: string[] }[] }).cells[2];
    expect(cell?.source).toEqual([
      'import sys\n',
      '# /// script\n',
      '# requires-python = ">=3.9"\n',
      '# dependencies = [\n',
      '# ]\n',
      '# ///\n',
      'print(sys.version)',
    ]);
    expect(specs(edit?.text as string)).toEqual([]);
  });

  it('a one-line array stays on one line, its comment kept; a string source stays a string (CRLF kept)', () => {
    const text = JSON.stringify({
      cells: [
        {
          cell_type: 'code',
          source:
            '# /// script\r\n# dependencies = ["a"]  # pinned later\r\n# [tool.uv]\r\n# dependencies = "x"\r\n# ///\r\nprint(1)',
        },
      ],
      metadata: {},
    });
    const edit = editDependencies(parseDocument(text), 'uv', { add: ['b'] });
    const cell = (JSON.parse(edit?.text as string) as { cells: { source: string }[] }).cells[0];
    expect(cell?.source).toBe(
      '# /// script\r\n# dependencies = ["a", "b"]  # pinned later\r\n# [tool.uv]\r\n# dependencies = "x"\r\n# ///\r\nprint(1)',
    );
  });

  it('a block without a dependencies key gets one as its first line', () => {
    const text = JSON.stringify({
      cells: [
        { cell_type: 'code', source: ['# /// script\n', '# requires-python = ">=3.9"\n', '# ///'] },
      ],
      metadata: {},
    });
    const edit = editDependencies(parseDocument(text), 'uv', { add: ['a'] });
    expect(specs(edit?.text as string)).toEqual(['a']);
    const cell = (JSON.parse(edit?.text as string) as { cells: { source: string[] }[] }).cells[0];
    expect(cell?.source).toEqual([
      '# /// script\n',
      '# dependencies = [\n',
      '#     "a",\n',
      '# ]\n',
      '# requires-python = ">=3.9"\n',
      '# ///',
    ]);
  });

  it('a block it cannot rewrite is refused with a typed error saying how to proceed', () => {
    const text = JSON.stringify({
      cells: [
        {
          cell_type: 'code',
          id: 'deps',
          source: ['# /// script\n', '# "dependencies" = ["a"]\n', '# ///'],
        },
      ],
      metadata: { runt: { env_id: 'x' } },
    });
    const document = parseDocument(text);
    expect(() => editDependencies(document, 'uv', { add: ['b'] })).toThrowError(
      expect.objectContaining({
        code: 'dependency_edit_unsupported',
        message: expect.stringMatching(/cell 1 \(id deps\).*Edit the block's dependencies array/),
      }),
    );
  });

  it('a hostile spec is refused before anything is written', () => {
    expect(() =>
      editDependencies(doc('pep723-first'), 'uv', { add: ['x; rm -rf /'] }),
    ).toThrowError(expect.objectContaining({ code: 'invalid_dependency' }));
  });

  it('a notebook that declares nothing: under runt when it has that namespace, else at the top level', () => {
    const withRunt = parseDocument(
      JSON.stringify({ cells: [], metadata: { runt: { schema_version: '1', env_id: 'e' } } }),
    );
    expect(dependencyEditTarget(withRunt.notebook, 'uv')).toMatchObject({
      path: ['metadata', 'runt', 'uv', 'dependencies'],
    });
    expect(nteractUv(editDependencies(withRunt, 'uv', { add: ['a'] })?.text as string)).toEqual([
      'a',
    ]);
    const plain = parseDocument(JSON.stringify({ cells: [], metadata: {} }));
    expect(dependencyEditTarget(plain.notebook, 'conda')).toMatchObject({
      path: ['metadata', 'conda', 'dependencies'],
    });
  });

  it('runt-pixi: conda specs go to runt.pixi.dependencies; a removal covers the PyPI list too', () => {
    const added = editDependencies(doc('runt-pixi'), 'uv', { add: ['scipy'] });
    expect(added?.declaredIn).toBe('metadata.runt.pixi');
    const removed = editDependencies(parseDocument(added?.text as string), 'uv', {
      remove: ['pixipkg'],
    });
    const pixi = (JSON.parse(removed?.text as string) as { metadata: { runt: { pixi: Json } } })
      .metadata.runt.pixi;
    expect(pixi).toMatchObject({ dependencies: ['numpy>=1.26', 'scipy'], pypi_dependencies: [] });
  });

  it('an edit that changes nothing writes nothing', () => {
    expect(editDependencies(doc('pep723-first'), 'uv', { add: ['pepfirst'] })).toBeUndefined();
    expect(editDependencies(doc('runt-only'), 'uv', { remove: ['absent'] })).toBeUndefined();
  });
});

describe('property: a PEP 723 edit is the new list in one block, or a typed refusal', () => {
  it('never writes a second or contradicting declaration, whatever the block looks like', () => {
    const line = fc.constantFrom(
      'dependencies = [',
      'dependencies = ["a"]',
      'dependencies = ["a", "b"]  # c',
      "dependencies = ['a',",
      '"dependencies" = ["a"]',
      '  "a",',
      '  "b", # ]',
      ']',
      'requires-python = ">=3.9"',
      '[tool.x]',
      'dependencies = "x"',
      '',
      'x = """[',
      ']"""',
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.constantFrom('c', 'a'), (toml, add) => {
        const source = ['# /// script', ...toml.map((l) => (l === '' ? '#' : `# ${l}`)), '# ///'];
        const text = JSON.stringify({
          cells: [{ cell_type: 'code', source: source.join('\n') }],
          metadata: {},
        });
        let document: ReturnType<typeof parseDocument>;
        let before: string[];
        try {
          document = parseDocument(text);
          before =
            readInlineDependencies(document.notebook).uv?.dependencies.map((d) => d.spec) ?? [];
        } catch {
          return; // not a valid block to begin with: the notebook cannot be edited either
        }
        let edit: ReturnType<typeof editDependencies>;
        try {
          edit = editDependencies(document, 'uv', { add: [add] });
        } catch (error) {
          expect(error).toMatchObject({ code: 'dependency_edit_unsupported' });
          return;
        }
        const after = parseDocument(edit?.text ?? text).notebook;
        const inline = readInlineDependencies(after);
        const expected = before.includes(add) ? before : [...before, add];
        expect(inline.uv?.dependencies.map((d) => d.spec)).toEqual(expected);
        expect(inline.uv?.declaredIn).toBe('cells[0].source');
        expect(after.metadata).toEqual({});
      }),
      { numRuns: 400 },
    );
  });
});
