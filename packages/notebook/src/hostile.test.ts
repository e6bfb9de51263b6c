import { describe, expect, it } from 'vitest';
import { NotebookDocument } from './document.js';
import { isNotebookError, type NotebookError, type NotebookErrorCode } from './errors.js';
import { MAX_CELL_SOURCE_BYTES, MAX_CELLS, MAX_JSON_DEPTH } from './limits.js';
import { fixture } from './test-support/nbformat.js';

function caught(fn: () => unknown): NotebookError {
  try {
    fn();
  } catch (error) {
    if (isNotebookError(error)) return error;
    throw error;
  }
  throw new Error('expected a NotebookError');
}

function expectCode(fn: () => unknown, code: NotebookErrorCode): NotebookError {
  const error = caught(fn);
  expect(error.code, error.message).toBe(code);
  return error;
}

const nb = (cells: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cells, metadata: {}, nbformat: 4, nbformat_minor: 5, ...extra }, null, 1);
const code = (id: string, source: string) => ({
  cell_type: 'code',
  execution_count: null,
  id,
  metadata: {},
  outputs: [],
  source,
});

describe('malformed files', () => {
  it('refuses what is not a notebook with notebook_invalid (400), naming the path', () => {
    expect(expectCode(() => NotebookDocument.load('not json'), 'notebook_invalid').status).toBe(
      400,
    );
    expectCode(() => NotebookDocument.load(''), 'notebook_invalid');
    expectCode(() => NotebookDocument.load('[]'), 'notebook_invalid');
    expectCode(
      () => NotebookDocument.load('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}'),
      'notebook_invalid',
    );
    expectCode(() => NotebookDocument.load(nb([], { cells: {} })), 'notebook_invalid');
    expectCode(() => NotebookDocument.load(nb([], { metadata: [] })), 'notebook_invalid');
    expectCode(() => NotebookDocument.load(nb([], { nbformat: '4' })), 'notebook_invalid');
    expectCode(() => NotebookDocument.load(nb([], { nbformat_minor: -1 })), 'notebook_invalid');
    expect(expectCode(() => NotebookDocument.load(nb([42])), 'notebook_invalid').details).toEqual({
      path: 'cells[0]',
    });
    expectCode(
      () => NotebookDocument.load(nb([{ cell_type: 'heading', source: 'x', metadata: {} }])),
      'notebook_invalid',
    );
    expectCode(
      () => NotebookDocument.load(nb([{ cell_type: 'code', source: 3, metadata: {} }])),
      'notebook_invalid',
    );
    expectCode(
      () => NotebookDocument.load(nb([{ ...code('a', 'x'), execution_count: -2 }])),
      'notebook_invalid',
    );
    expectCode(
      () => NotebookDocument.load(nb([{ ...code('a', 'x'), outputs: [1] }])),
      'notebook_invalid',
    );
    // Duplicate top-level keys: JSON.parse would silently keep the last; refuse instead.
    expectCode(
      () =>
        NotebookDocument.load(
          '{"cells": [], "cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        ),
      'notebook_invalid',
    );
  });

  it('a cell with duplicate keys means what JSON.parse (and nbformat) read: the last one', () => {
    const text =
      '{"cells": [{"cell_type": "raw", "id": "r", "source": "first", "source": "last", "metadata": {}}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}';
    const doc = NotebookDocument.load(text);
    expect(doc.getCell('r').source).toBe('last');
    expect(doc.serialize().text).toBe(text);
    doc.setSource({ cellId: 'r', source: 'edited' });
    expect(JSON.parse(doc.serialize().text).cells[0]).toEqual({
      cell_type: 'raw',
      id: 'r',
      source: 'edited',
      metadata: {},
    });
  });

  it('refuses bytes that are not UTF-8 (a lossy decode would rewrite them)', () => {
    const bytes = Buffer.concat([
      Buffer.from('{"cells": [], "metadata": {"x": "'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}, "nbformat": 4, "nbformat_minor": 5}'),
    ]);
    expectCode(() => NotebookDocument.load(bytes), 'notebook_invalid');
  });

  it('keeps a byte-order mark and surrounding whitespace', () => {
    const text = `\uFEFF  ${nb([code('a', 'x')])}\n\n`;
    const doc = NotebookDocument.load(Buffer.from(text));
    expect(doc.serialize().text).toBe(text);
    doc.setSource({ cellId: 'a', source: 'y' });
    const saved = doc.serialize().text;
    expect(saved.startsWith('\uFEFF  {')).toBe(true);
    expect(saved.endsWith('}\n\n')).toBe(true);
  });

  it('checks the size before parsing', () => {
    const error = expectCode(
      () => NotebookDocument.load(nb([]), { maxBytes: 10 }),
      'notebook_too_large',
    );
    expect(error.status).toBe(413);
    expect(error.details).toMatchObject({ limit: 10 });
  });

  it('refuses nbformat 3 with how to upgrade, as data; refuses future majors', () => {
    const v3 = JSON.stringify({
      metadata: { name: 'old' },
      nbformat: 3,
      nbformat_minor: 0,
      worksheets: [{ cells: [] }],
    });
    const error = expectCode(() => NotebookDocument.load(v3), 'notebook_format_unsupported');
    expect(error.status).toBe(422);
    expect(error.message).toContain('nbconvert');
    expect(error.details.nextAction).toEqual({
      kind: 'upgrade_notebook_format',
      fromMajor: 3,
      toMajor: 4,
      command: [
        'jupyter',
        'nbconvert',
        '--to',
        'notebook',
        '--nbformat',
        '4',
        '--inplace',
        '<path>',
      ],
    });
    // Worksheets without a usable version are still reported as the old format.
    expectCode(
      () => NotebookDocument.load('{"worksheets": [], "metadata": {}}'),
      'notebook_format_unsupported',
    );
    const v5 = expectCode(
      () => NotebookDocument.load(nb([], { nbformat: 5 })),
      'notebook_format_unsupported',
    );
    expect(v5.details.nextAction).toBeUndefined();
  });

  it('refuses JSON nested deeper than the limit, wherever it is', () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    // Top-level object (1) > metadata (2) > "x" array chain.
    const ok = `{"cells": [], "metadata": {"x": ${deep(MAX_JSON_DEPTH - 2)}}, "nbformat": 4, "nbformat_minor": 5}`;
    expect(NotebookDocument.load(ok).serialize().text).toBe(ok);
    const tooDeep = `{"cells": [], "metadata": {"x": ${deep(MAX_JSON_DEPTH - 1)}}, "nbformat": 4, "nbformat_minor": 5}`;
    expectCode(() => NotebookDocument.load(tooDeep), 'notebook_invalid');
    const veryDeep = `{"cells": [{"cell_type": "raw", "source": "", "metadata": {"x": ${deep(200_000)}}}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`;
    expectCode(() => NotebookDocument.load(veryDeep), 'notebook_invalid');
    const doc = NotebookDocument.load(nb([code('a', '')]));
    let nested: unknown = 'leaf';
    for (let i = 0; i < 10_000; i++) nested = { a: nested };
    expectCode(
      () =>
        doc.setExecution({
          cellId: 'a',
          outputs: [
            { output_type: 'display_data', data: { 'application/json': nested }, metadata: {} },
          ],
        }),
      'cell_outputs_too_large',
    );
    expectCode(
      () => doc.insertCell({ cellType: 'code', metadata: nested as Record<string, unknown> }),
      'notebook_invalid_request',
    );
  });
});

describe('large inputs', () => {
  it('takes a 10 MB source, refuses one over the per-cell limit', () => {
    const doc = NotebookDocument.create();
    const big = 'x'.repeat(10_000_000);
    const added = doc.insertCell({ cellType: 'code', source: big });
    const saved = doc.serialize();
    const again = NotebookDocument.load(saved.bytes);
    expect(again.getCell(added.cellId).source).toHaveLength(10_000_000);
    const tooBig = expectCode(
      () =>
        doc.setSource({ cellId: added.cellId, source: 'é'.repeat(MAX_CELL_SOURCE_BYTES / 2 + 1) }),
      'cell_source_too_large',
    );
    expect(tooBig.status).toBe(413);
    expectCode(
      () => doc.insertCell({ cellType: 'code', source: 'y'.repeat(MAX_CELL_SOURCE_BYTES + 1) }),
      'cell_source_too_large',
    );
    expect(doc.revision).toBe(1);
  });

  it('refuses a replacement whose result is over the per-cell limit', async () => {
    const doc = NotebookDocument.load(nb([code('a', 'x'.repeat(1_000_000))]));
    const error = await doc.replaceInCell({ cellId: 'a', find: 'x', replace: 'xxxxxxxxxxxx' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isNotebookError(error, 'cell_source_too_large')).toBe(true);
    expect(doc.getCell('a').source).toHaveLength(1_000_000);
    // 1M matches × 1000 characters: refused before a 1 GB string is built, literal or regex.
    for (const regex of [false, true]) {
      const huge = await doc
        .replaceInCell({ cellId: 'a', find: 'x', replace: 'y'.repeat(1000), regex })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isNotebookError(huge, 'cell_source_too_large'), String(huge)).toBe(true);
    }
    expect(doc.revision).toBe(0);
  });

  it('handles 100k cells; refuses more', () => {
    const cells = Array.from({ length: MAX_CELLS }, (_, i) => code(`c${i}`, `print(${i})`));
    const doc = NotebookDocument.load(nb(cells));
    expect(doc.cellCount).toBe(MAX_CELLS);
    expect(doc.getCell(`c${MAX_CELLS - 1}`).index).toBe(MAX_CELLS - 1);
    doc.moveCell({ cellId: 'c0', position: { index: MAX_CELLS - 1 } });
    expect(doc.listCells({ offset: MAX_CELLS - 1 }).cells[0]?.id).toBe('c0');
    expectCode(() => doc.insertCell({ cellType: 'code' }), 'notebook_too_many_cells');
    expect(NotebookDocument.load(doc.serialize().bytes).cellIds().at(-1)).toBe('c0');
    cells.push(code('one-more', ''));
    expect(
      expectCode(() => NotebookDocument.load(nb(cells)), 'notebook_too_many_cells').status,
    ).toBe(413);
  });
});

describe('hostile requests', () => {
  it('answers out-of-range indices and unknown or malformed ids with typed errors', () => {
    const doc = NotebookDocument.load(fixture('jupyter.ipynb'));
    const long = 'z'.repeat(100_000);
    const notFound = expectCode(() => doc.getCell(long), 'cell_not_found');
    expect(notFound.message.length).toBeLessThan(200);
    expectCode(
      () => doc.moveCell({ cellId: 'c0ffee01', position: { index: Number.NaN } }),
      'cell_index_out_of_range',
    );
    expectCode(
      () => doc.moveCell({ cellId: 'c0ffee01', position: { index: 2 ** 53 } }),
      'cell_index_out_of_range',
    );
    expectCode(
      () => doc.insertCell({ cellType: 'code', position: { index: '1' as unknown as number } }),
      'cell_index_out_of_range',
    );
    expectCode(
      () => doc.setSource({ cellId: 'c0ffee01', source: 5 as unknown as string }),
      'notebook_invalid_request',
    );
    expectCode(
      () => doc.setSource({ cellId: null as unknown as string, source: '' }),
      'invalid_cell_id',
    );
    expect(doc.revision).toBe(0);
  });

  it('keeps __proto__ keys as data at every level and never pollutes prototypes', () => {
    const text = `{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": 1,
   "id": "p",
   "metadata": {"__proto__": {"polluted": "cell"}},
   "outputs": [{"output_type": "display_data", "data": {"text/plain": "x", "__proto__": {"polluted": "out"}}, "metadata": {}}],
   "source": "x",
   "__proto__": {"polluted": "cellkey"}
  }
 ],
 "metadata": {"__proto__": {"polluted": "nb"}},
 "nbformat": 4,
 "nbformat_minor": 5,
 "__proto__": {"polluted": "top"}
}
`;
    const doc = NotebookDocument.load(text);
    expect(doc.serialize().text).toBe(text);
    expect(Object.hasOwn(doc.metadata, '__proto__')).toBe(true);
    expect(Object.hasOwn(doc.getCell('p').metadata, '__proto__')).toBe(true);
    doc.setSource({ cellId: 'p', source: 'y' });
    doc.insertCell({
      cellType: 'raw',
      metadata: JSON.parse('{"__proto__": {"polluted": "insert"}}'),
    });
    doc.clearOutputs();
    const saved = doc.serialize().text;
    for (const where of ['cell', 'nb', 'top', 'cellkey', 'insert']) {
      expect(saved).toContain(
        `{"polluted": "${where}"}`.replace('{"polluted": "insert"}', '"polluted": "insert"'),
      );
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});
