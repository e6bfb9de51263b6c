import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotebookDocument } from './document.js';
import { fixture, validateWithNbformat } from './test-support/nbformat.js';

// Random sequences of cell operations, checked against a plain-array model after every step;
// every saved file is then validated by Debian's python3-nbformat (one interpreter for all).

type Op =
  | {
      op: 'insert';
      type: 'code' | 'markdown' | 'raw';
      source: string;
      at: number;
      anchor: 'index' | 'after' | 'before';
    }
  | { op: 'delete'; pick: number }
  | { op: 'move'; pick: number; at: number; anchor: 'index' | 'after' | 'before' }
  | { op: 'set'; pick: number; source: string }
  | { op: 'replace'; pick: number; find: string; replace: string }
  | { op: 'clear'; pick: number; all: boolean }
  | { op: 'run'; pick: number; count: number; text: string };

const text = fc.string({
  unit: fc.constantFrom('a', 'b', '\n', 'é', '"', '\\', '\u001b', '🚀', ' ', '$1'),
  maxLength: 12,
});
const anchor = fc.constantFrom('index' as const, 'after' as const, 'before' as const);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('insert' as const),
    type: fc.constantFrom('code' as const, 'markdown' as const, 'raw' as const),
    source: text,
    at: fc.nat(),
    anchor,
  }),
  fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('move' as const), pick: fc.nat(), at: fc.nat(), anchor }),
  fc.record({ op: fc.constant('set' as const), pick: fc.nat(), source: text }),
  fc.record({
    op: fc.constant('replace' as const),
    pick: fc.nat(),
    find: fc.constantFrom('a', 'b\n', 'é', 'print'),
    replace: text,
  }),
  fc.record({ op: fc.constant('clear' as const), pick: fc.nat(), all: fc.boolean() }),
  fc.record({
    op: fc.constant('run' as const),
    pick: fc.nat(),
    count: fc.nat({ max: 1000 }),
    text,
  }),
);

interface ModelCell {
  id: string;
  type: string;
  source: string;
}

/** Applies one op to the document and the model; returns false when it does not apply. */
async function apply(doc: NotebookDocument, model: ModelCell[], op: Op): Promise<void> {
  const n = model.length;
  const pick = (k: number) => model[k % n] as ModelCell;
  switch (op.op) {
    case 'insert': {
      let index = op.at % (n + 1);
      let position: Parameters<NotebookDocument['insertCell']>[0]['position'] = { index };
      if (n > 0 && op.anchor !== 'index') {
        const anchorCell = pick(op.at);
        const at = model.indexOf(anchorCell);
        position =
          op.anchor === 'after' ? { afterCellId: anchorCell.id } : { beforeCellId: anchorCell.id };
        index = op.anchor === 'after' ? at + 1 : at;
      }
      const r = doc.insertCell({
        cellType: op.type,
        source: op.source,
        position,
        baseRevision: doc.revision,
      });
      model.splice(index, 0, { id: r.cellId, type: op.type, source: op.source });
      return;
    }
    case 'delete': {
      if (n === 0) return;
      const cell = pick(op.pick);
      doc.deleteCell({ cellId: cell.id });
      model.splice(model.indexOf(cell), 1);
      return;
    }
    case 'move': {
      if (n < 2) return;
      const cell = pick(op.pick);
      const rest = model.filter((c) => c !== cell);
      let to = op.at % n;
      let position: Parameters<NotebookDocument['moveCell']>[0]['position'] = { index: to };
      if (op.anchor !== 'index') {
        const anchorCell = rest[op.at % rest.length] as ModelCell;
        const at = rest.indexOf(anchorCell);
        position =
          op.anchor === 'after' ? { afterCellId: anchorCell.id } : { beforeCellId: anchorCell.id };
        to = op.anchor === 'after' ? at + 1 : at;
      }
      doc.moveCell({ cellId: cell.id, position });
      rest.splice(to, 0, cell);
      model.splice(0, model.length, ...rest);
      return;
    }
    case 'set': {
      if (n === 0) return;
      const cell = pick(op.pick);
      doc.setSource({ cellId: cell.id, source: op.source, baseRevision: doc.revision });
      cell.source = op.source;
      return;
    }
    case 'replace': {
      if (n === 0) return;
      const cell = pick(op.pick);
      const r = await doc.replaceInCell({ cellId: cell.id, find: op.find, replace: op.replace });
      expect(r.count).toBe(cell.source.split(op.find).length - 1);
      cell.source = cell.source.split(op.find).join(op.replace);
      return;
    }
    case 'clear': {
      if (op.all || n === 0) doc.clearOutputs();
      else doc.clearOutputs({ cellId: pick(op.pick).id });
      return;
    }
    case 'run': {
      const cell =
        model.find((c, i) => c.type === 'code' && i >= op.pick % Math.max(n, 1)) ??
        model.find((c) => c.type === 'code');
      if (!cell) return;
      doc.setExecution({
        cellId: cell.id,
        executionCount: op.count,
        outputs: [
          { output_type: 'stream', name: 'stdout', text: op.text },
          {
            output_type: 'execute_result',
            execution_count: op.count,
            data: { 'text/plain': op.text },
            metadata: { x_unknown: 1 },
          },
          { output_type: 'error', ename: 'E', evalue: op.text, traceback: [op.text] },
        ],
      });
      return;
    }
  }
}

const BASES = [
  'jupyter.ipynb',
  'jupyter-4.4.ipynb',
  'vscode.ipynb',
  'colab.ipynb',
  'nteract.ipynb',
  'crlf-tabs.ipynb',
  'compact.ipynb',
];

describe('random operation sequences', () => {
  it('match the model, keep ids unique and stable, keep unknown metadata, and save valid nbformat', async () => {
    const saved: string[] = [];
    const expectedIds: string[][] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...BASES),
        fc.array(opArb, { maxLength: 25 }),
        async (base, ops) => {
          const original = fixture(base).toString('utf8');
          const doc = NotebookDocument.load(original);
          const model: ModelCell[] = doc.cellIds().map((id) => {
            const c = doc.getCell(id);
            return { id, type: c.cellType, source: c.source };
          });
          for (const op of ops) {
            await apply(doc, model, op);
            expect(doc.cellIds()).toEqual(model.map((c) => c.id));
            expect(new Set(doc.cellIds()).size).toBe(model.length);
          }
          for (const cell of model) expect(doc.getCell(cell.id).source).toBe(cell.source);
          const out = doc.serialize();
          // Notebook metadata (unknown keys included) is never touched by cell operations: same bytes.
          const originalJson = JSON.parse(original);
          const savedJson = JSON.parse(out.text);
          expect(savedJson.metadata).toEqual(originalJson.metadata);
          for (const cell of savedJson.cells) {
            const before = originalJson.cells.find((c: { id?: string }) => c.id === cell.id);
            if (before) expect(cell.metadata).toEqual(before.metadata);
          }
          const again = NotebookDocument.load(out.bytes);
          expect(again.cellIds()).toEqual(model.map((c) => c.id));
          expect(again.pendingRepairs).toEqual([]);
          expect(again.serialize().text).toBe(out.text);
          saved.push(out.text);
          expectedIds.push(model.map((c) => c.id));
        },
      ),
      { numRuns: 60 },
    );
    expect(saved).toHaveLength(60);
    // A control the validator must reject, so a validator that accepts anything fails the test.
    const broken =
      saved[0]?.replace(/"nbformat":\s*4/, '"nbformat": 4, "bogus_top_level": 1') ?? '';
    const verdicts = validateWithNbformat([...saved, broken]);
    expect(verdicts.pop()?.ok).toBe(false);
    verdicts.forEach((verdict, i) => {
      expect(verdict.error, saved[i]).toBeUndefined();
      expect(verdict.cells?.map((c) => c[0])).toEqual(expectedIds[i]);
    });
  });

  it('unknown fields at notebook, cell and output level survive every operation', async () => {
    const base = {
      cells: [
        {
          cell_type: 'code',
          execution_count: 1,
          id: 'k1',
          metadata: { x_meta: 1.5 },
          outputs: [{ output_type: 'stream', name: 'stdout', text: 'o', x_output: { keep: true } }],
          source: 'a',
          x_cell: [1, 2],
        },
        { cell_type: 'markdown', id: 'k2', metadata: {}, source: ['b\n', 'c'], x_cell: 'md' },
      ],
      metadata: { x_nb: { deep: [1, { z: null }] } },
      nbformat: 4,
      nbformat_minor: 5,
      x_top: 'top',
    };
    const input = `${JSON.stringify(base, null, 1)}\n`;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 20 }), async (ops) => {
        const doc = NotebookDocument.load(input);
        const model: ModelCell[] = [
          { id: 'k1', type: 'code', source: 'a' },
          { id: 'k2', type: 'markdown', source: 'b\nc' },
        ];
        let outputsReplaced = false;
        for (const op of ops) {
          await apply(doc, model, op);
          if (op.op === 'clear' || op.op === 'run') outputsReplaced = true;
        }
        const json = JSON.parse(doc.serialize().text);
        expect(json.x_top).toBe('top');
        expect(json.metadata).toEqual(base.metadata);
        const k1 = json.cells.find((c: { id: string }) => c.id === 'k1');
        const k2 = json.cells.find((c: { id: string }) => c.id === 'k2');
        if (k1) {
          expect(k1.x_cell).toEqual([1, 2]);
          expect(k1.metadata).toEqual({ x_meta: 1.5 });
          if (!outputsReplaced) expect(k1.outputs[0].x_output).toEqual({ keep: true });
        }
        if (k2) expect(k2.x_cell).toBe('md');
      }),
      { numRuns: 100 },
    );
  });
});
