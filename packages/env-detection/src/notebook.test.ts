import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EnvDetectionError } from './errors.js';
import { parseNotebook, parseNotebookJson, readInlineDependencies } from './notebook.js';

describe('parseNotebookJson', () => {
  it('keeps unknown keys everywhere', () => {
    const notebook = parseNotebookJson(
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        cells: [{ cell_type: 'code', source: '1+1', outputs: [] }],
        metadata: { kernelspec: { name: 'python3', extra: 1 }, custom: { a: [1] } },
        top: true,
      }),
    );
    expect(notebook).toMatchObject({ top: true, metadata: { custom: { a: [1] } } });
    expect(notebook.metadata.kernelspec).toEqual({ name: 'python3', extra: 1 });
  });

  it.each([
    ['not JSON', '{', 'notebook_invalid'],
    ['an array', '[]', 'notebook_invalid'],
    ['a string', '"x"', 'notebook_invalid'],
    ['null', 'null', 'notebook_invalid'],
    ['wrong types', '{"metadata":{"kernelspec":{"name":5}}}', 'notebook_invalid'],
    ['dependencies not a list', '{"metadata":{"uv":{"dependencies":"numpy"}}}', 'notebook_invalid'],
    ['non-string entries', '{"metadata":{"uv":{"dependencies":[1]}}}', 'notebook_invalid'],
    ['deep nesting', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, 'notebook_invalid'],
  ])('refuses %s', (_label, text, code) => {
    expect(() => parseNotebookJson(text)).toThrowError(expect.objectContaining({ code }));
  });

  it('refuses oversized input before parsing it', () => {
    expect(() => parseNotebookJson('{}'.padEnd(101, ' '), 100)).toThrowError(
      expect.objectContaining({ code: 'notebook_too_large' }),
    );
  });

  it('refuses 100k dependency entries', () => {
    const notebook = { metadata: { uv: { dependencies: Array(100_000).fill('numpy') } } };
    expect(() => parseNotebook(notebook)).toThrowError(
      expect.objectContaining({ code: 'notebook_invalid' }),
    );
  });

  it('never throws anything but a typed error for arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        try {
          parseNotebookJson(text);
        } catch (error) {
          expect(error).toBeInstanceOf(EnvDetectionError);
        }
      }),
    );
  });
});

describe('readInlineDependencies', () => {
  it('parses uv and conda sections', () => {
    const notebook = parseNotebook({
      metadata: {
        uv: { dependencies: ['NumPy>=1', 'pandas'], 'requires-python': '>=3.10' },
        conda: { dependencies: ['conda-forge::scipy'], channels: ['conda-forge'], python: '3.11' },
      },
    });
    expect(readInlineDependencies(notebook)).toEqual({
      uv: {
        dependencies: [
          { ecosystem: 'pypi', name: 'numpy', spec: 'NumPy>=1' },
          { ecosystem: 'pypi', name: 'pandas', spec: 'pandas' },
        ],
        requiresPython: '>=3.10',
        declaredIn: 'metadata.uv',
      },
      conda: {
        dependencies: [{ ecosystem: 'conda', name: 'scipy', spec: 'conda-forge::scipy' }],
        channels: ['conda-forge'],
        python: '3.11',
        declaredIn: 'metadata.conda',
      },
      sections: notebook.metadata,
      warnings: [],
    });
  });

  it('has no sections for a notebook without inline dependencies', () => {
    // The section is in effect (its keys are signed) but declares no dependency list.
    expect(readInlineDependencies(parseNotebook({ metadata: { uv: {} } }))).toEqual({
      sections: { uv: {} },
      warnings: [],
    });
  });

  it('refuses an injection attempt with a typed error', () => {
    const notebook = parseNotebook({ metadata: { uv: { dependencies: ['numpy; rm -rf /'] } } });
    expect(() => readInlineDependencies(notebook)).toThrowError(
      expect.objectContaining({ code: 'invalid_dependency' }),
    );
  });
});
