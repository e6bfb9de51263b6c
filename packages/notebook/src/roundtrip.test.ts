import { describe, expect, it } from 'vitest';
import { NotebookDocument } from './document.js';
import { FIXTURES, fixture, validateWithNbformat } from './test-support/nbformat.js';

const text = (name: string) => fixture(name).toString('utf8');

describe('byte preservation', () => {
  it.each(FIXTURES.filter((f) => f !== 'jupyter-4.4.ipynb' && f !== 'colab.ipynb'))(
    '%s: an unedited document serializes to the bytes it was loaded from',
    (name) => {
      const bytes = fixture(name);
      const doc = NotebookDocument.load(bytes);
      expect(doc.pendingRepairs).toEqual([]);
      const saved = doc.serialize();
      expect(Buffer.from(saved.bytes).equals(bytes)).toBe(true);
      expect(saved.hash).toBe(doc.knownHash);
      expect(doc.dirty).toBe(false);
    },
  );

  it('detects each writer’s layout', () => {
    const style = (name: string) => NotebookDocument.load(fixture(name)).style;
    expect(style('jupyter.ipynb')).toEqual({ indent: ' ', eol: '\n', colon: ': ' });
    expect(style('colab.ipynb')).toEqual({ indent: '  ', eol: '\n', colon: ': ' });
    expect(style('nteract.ipynb')).toEqual({ indent: '    ', eol: '\n', colon: ': ' });
    expect(style('crlf-tabs.ipynb')).toEqual({ indent: '\t', eol: '\r\n', colon: ': ' });
    expect(style('compact.ipynb')).toEqual({ indent: undefined, eol: '\n', colon: ':' });
  });

  it('an edit rewrites only the edited cell; Python float spellings elsewhere survive', () => {
    const original = text('jupyter.ipynb');
    const doc = NotebookDocument.load(original);
    doc.setSource({ cellId: 'c0ffee01', source: 'print("changed")\n1 + 1' });
    const saved = doc.serialize().text;
    const cellStart = original.indexOf('  {\n   "cell_type": "code",\n   "execution_count": 1');
    const nextCell = original.indexOf('  {\n   "cell_type": "code",\n   "execution_count": 2');
    expect(saved.slice(0, cellStart)).toBe(original.slice(0, cellStart));
    const tail = original.slice(nextCell);
    expect(saved.endsWith(tail)).toBe(true);
    expect(saved).toContain('"width": 1.0');
    expect(saved).toContain('"base_numbering": 1.0');
    expect(saved).toContain('    "print(\\"changed\\")\\n",\n    "1 + 1"\n   ]');
  });

  it('an edited cell keeps its untouched members byte for byte (outputs with 1.0)', () => {
    const original = text('jupyter.ipynb');
    const doc = NotebookDocument.load(original);
    doc.setSource({ cellId: 'c0ffee02', source: 'display(img2)' });
    const saved = doc.serialize().text;
    expect(saved).toContain('"height": 2.5,\n       "width": 1.0');
    expect(saved).toContain('"source": [\n    "display(img2)"\n   ]');
  });

  it('keeps each cell’s source form: string-form cells stay strings when edited', () => {
    const doc = NotebookDocument.load(fixture('nteract.ipynb'));
    doc.setSource({ cellId: 'c0ffee01', source: 'a\nb\n' });
    const added = doc.insertCell({ cellType: 'code', source: 'x\ny' });
    const saved = doc.serialize().text;
    expect(saved).toContain('"source": "a\\nb\\n"');
    // A document whose cells are all string-form gets string-form new cells.
    expect(saved).toContain(
      `"id": "${added.cellId}",\n            "metadata": {},\n            "outputs": [],\n            "source": "x\\ny"`,
    );
  });

  it.each(FIXTURES)(
    '%s: edits are written in the file’s own layout and nbformat accepts them',
    (name) => {
      const doc = NotebookDocument.load(fixture(name));
      const [first] = doc.cellIds();
      const added = doc.insertCell({
        cellType: 'code',
        source: 'print("é")\n',
        position: { afterCellId: first as string },
      });
      doc.setExecution({
        cellId: added.cellId,
        executionCount: 7,
        outputs: [{ output_type: 'stream', name: 'stdout', text: 'é\n' }],
      });
      const saved = doc.serialize();
      const style = doc.style;
      if (style.indent !== undefined) {
        expect(saved.text).toContain(
          `${style.eol}${style.indent.repeat(2)}{${style.eol}${style.indent.repeat(3)}"cell_type": "code"`,
        );
      } else expect(saved.text).not.toContain('\n');
      if (style.eol === '\r\n') expect(saved.text.replace(/\r\n/g, '')).not.toContain('\n');
      const [verdict] = validateWithNbformat([saved.text]);
      expect(verdict?.error).toBeUndefined();
      expect(verdict?.cells?.map((c) => c[0])).toEqual(doc.cellIds());
      // Loading what was saved shows the same cells, and saving again changes nothing.
      const again = NotebookDocument.load(saved.bytes);
      expect(again.cellIds()).toEqual(doc.cellIds());
      expect(again.getCell(added.cellId).outputs).toEqual([
        { output_type: 'stream', name: 'stdout', text: 'é\n' },
      ]);
      expect(again.serialize().text).toBe(saved.text);
    },
  );
});

describe('cell ids (nbformat 4.5)', () => {
  it('gives a 4.4 notebook deterministic ids and upgrades it on save', () => {
    const bytes = fixture('jupyter-4.4.ipynb');
    const a = NotebookDocument.load(bytes);
    const b = NotebookDocument.load(bytes);
    expect(a.cellIds()).toEqual(b.cellIds());
    expect(a.cellIds().every((id) => /^[0-9a-f]{8}(-\d+)?$/.test(id))).toBe(true);
    expect(new Set(a.cellIds()).size).toBe(a.cellCount);
    expect(a.pendingRepairs.filter((r) => r.kind === 'cell_id_added')).toHaveLength(a.cellCount);
    expect(a.pendingRepairs.at(-1)).toEqual({ kind: 'format_upgraded', from: '4.4', to: '4.5' });
    expect(a.dirty).toBe(false);
    const saved = a.serialize();
    expect(saved.text).toContain('"nbformat_minor": 5');
    expect(saved.text).not.toBe(bytes.toString('utf8'));
    // Only ids and the minor version differ from the file.
    const strip = (t: string) => {
      const v = JSON.parse(t);
      for (const c of v.cells) delete c.id;
      v.nbformat_minor = 0;
      return v;
    };
    expect(strip(saved.text)).toEqual(strip(bytes.toString('utf8')));
    const [verdict] = validateWithNbformat([saved.text]);
    expect(verdict?.error).toBeUndefined();
    expect(verdict?.cells?.map((c) => c[0])).toEqual(a.cellIds());
    a.markSaved(saved);
    expect(a.pendingRepairs).toEqual([]);
    expect(NotebookDocument.load(saved.bytes).pendingRepairs).toEqual([]);
  });

  it('repairs duplicate and invalid ids deterministically and reports them', () => {
    const nb = JSON.parse(text('jupyter.ipynb'));
    nb.cells[1].id = 'intro-md';
    nb.cells[2].id = 'not valid!';
    nb.cells[3].id = 42;
    nb.cells[4].id = 'x'.repeat(65);
    const input = JSON.stringify(nb, null, 1);
    const doc = NotebookDocument.load(input);
    expect(doc.cellIds()[0]).toBe('intro-md');
    expect(new Set(doc.cellIds()).size).toBe(doc.cellCount);
    expect(doc.pendingRepairs).toEqual([
      { kind: 'cell_id_replaced', index: 1, cellId: doc.cellIds()[1], reason: 'duplicate' },
      { kind: 'cell_id_replaced', index: 2, cellId: doc.cellIds()[2], reason: 'invalid' },
      { kind: 'cell_id_replaced', index: 3, cellId: doc.cellIds()[3], reason: 'invalid' },
      { kind: 'cell_id_replaced', index: 4, cellId: doc.cellIds()[4], reason: 'invalid' },
    ]);
    expect(NotebookDocument.load(input).cellIds()).toEqual(doc.cellIds());
    const [verdict] = validateWithNbformat([doc.serialize().text]);
    expect(verdict?.error).toBeUndefined();
  });

  it('cells with equal content get distinct ids in document order', () => {
    const nb = {
      cells: [0, 1, 2].map(() => ({
        cell_type: 'code',
        source: '',
        metadata: {},
        outputs: [],
        execution_count: null,
      })),
      metadata: {},
      nbformat: 4,
      nbformat_minor: 4,
    };
    const ids = NotebookDocument.load(JSON.stringify(nb)).cellIds();
    expect(ids[1]).toBe(`${ids[0]}-2`);
    expect(ids[2]).toBe(`${ids[0]}-3`);
  });

  it('adds missing required cell fields as reported repairs', () => {
    const nb = {
      cells: [{ cell_type: 'code', source: 'x', id: 'a' }],
      metadata: {},
      nbformat: 4,
      nbformat_minor: 5,
    };
    const doc = NotebookDocument.load(JSON.stringify(nb, null, 1));
    expect(doc.pendingRepairs.map((r) => r.kind === 'cell_field_added' && r.field)).toEqual([
      'metadata',
      'outputs',
      'execution_count',
    ]);
    const [verdict] = validateWithNbformat([doc.serialize().text]);
    expect(verdict?.error).toBeUndefined();
  });
});
