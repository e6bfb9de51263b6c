import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NotebookDocument } from './document.js';
import { isNotebookError, type NotebookErrorCode } from './errors.js';
import { RegexRunner } from './regex.js';
import { fixture } from './test-support/nbformat.js';

const runner = new RegexRunner();
afterAll(() => runner.close());

function expectCode(fn: () => unknown, code: NotebookErrorCode, status?: number): void {
  try {
    fn();
  } catch (error) {
    expect(isNotebookError(error, code), String(error)).toBe(true);
    if (status !== undefined) expect((error as { status: number }).status).toBe(status);
    return;
  }
  throw new Error(`expected ${code}`);
}

async function expectRejects(promise: Promise<unknown>, code: NotebookErrorCode): Promise<unknown> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isNotebookError(error, code), String(error)).toBe(true);
  return error;
}

const load = () => NotebookDocument.load(fixture('jupyter.ipynb'), { regexRunner: runner });

describe('reading cells', () => {
  it('lists cells in pages with summaries', () => {
    const doc = load();
    const page = doc.listCells({ offset: 1, limit: 2 });
    expect(page.total).toBe(6);
    expect(page.nextOffset).toBe(3);
    expect(page.cells.map((c) => [c.id, c.index, c.cellType, c.executionCount])).toEqual([
      ['c0ffee01', 1, 'code', 1],
      ['c0ffee02', 2, 'code', 2],
    ]);
    expect(page.cells[0]?.outputs).toEqual({
      counts: { stream: 1, execute_result: 1 },
      preview: 'hello\n',
      hasError: false,
    });
    const last = doc.listCells({ offset: 3 });
    expect(last.nextOffset).toBeUndefined();
    expect(last.cells[0]?.outputs).toMatchObject({
      counts: { error: 1 },
      hasError: true,
      error: 'ZeroDivisionError: division by zero',
    });
    expect(doc.listCells({ offset: 99 }).cells).toEqual([]);
    expectCode(() => doc.listCells({ offset: -1 }), 'cell_index_out_of_range', 400);
    expectCode(() => doc.listCells({ limit: 0 }), 'cell_index_out_of_range');
    expectCode(() => doc.listCells({ limit: 501 }), 'cell_index_out_of_range');
    expectCode(() => doc.listCells({ offset: 1.5 }), 'cell_index_out_of_range');
  });

  it('gets one cell in full, and says which id is unknown', () => {
    const doc = load();
    const cell = doc.getCell('c0ffee03');
    expect(cell).toMatchObject({
      id: 'c0ffee03',
      index: 3,
      cellType: 'code',
      source: '1/0',
      executionCount: 3,
    });
    expect(cell.outputs[0]).toMatchObject({ output_type: 'error', ename: 'ZeroDivisionError' });
    expect(doc.getCell('intro-md').attachments).toHaveProperty(['a.png']);
    expectCode(() => doc.getCell('nope'), 'cell_not_found', 404);
    expectCode(() => doc.getCell(7 as unknown as string), 'invalid_cell_id', 400);
  });
});

describe('mutations by id', () => {
  it('inserts at an index, after or before a cell, with an optional validated id', () => {
    const doc = load();
    const a = doc.insertCell({ cellType: 'markdown', source: 'top', position: { index: 0 } });
    expect(a.index).toBe(0);
    const b = doc.insertCell({
      cellType: 'raw',
      id: 'my-raw_1',
      position: { afterCellId: 'c0ffee01' },
    });
    expect(b.cellId).toBe('my-raw_1');
    expect(doc.cellIds().indexOf('my-raw_1')).toBe(doc.cellIds().indexOf('c0ffee01') + 1);
    const c = doc.insertCell({ cellType: 'code', position: { beforeCellId: 'c0ffee01' } });
    expect(doc.cellIds().indexOf(c.cellId)).toBe(doc.cellIds().indexOf('c0ffee01') - 1);
    const end = doc.insertCell({ cellType: 'code', source: 'last' });
    expect(end.index).toBe(doc.cellCount - 1);
    expect(doc.revision).toBe(4);
    expectCode(() => doc.insertCell({ cellType: 'code', id: 'my-raw_1' }), 'invalid_cell_id');
    expectCode(() => doc.insertCell({ cellType: 'code', id: 'has space' }), 'invalid_cell_id');
    expectCode(() => doc.insertCell({ cellType: 'code', id: '' }), 'invalid_cell_id');
    expectCode(() => doc.insertCell({ cellType: 'heading' as 'code' }), 'notebook_invalid_request');
    expectCode(
      () => doc.insertCell({ cellType: 'code', position: { index: 99 } }),
      'cell_index_out_of_range',
    );
    expectCode(
      () => doc.insertCell({ cellType: 'code', position: { index: -1 } }),
      'cell_index_out_of_range',
    );
    expectCode(
      () => doc.insertCell({ cellType: 'code', position: { afterCellId: 'gone' } }),
      'cell_not_found',
    );
    expect(doc.revision).toBe(4);
  });

  it('sets source, deletes, moves by id; ids are stable across moves', () => {
    const doc = load();
    doc.setSource({ cellId: 'c0ffee01', source: 'x = 1' });
    expect(doc.getCell('c0ffee01').source).toBe('x = 1');
    const same = doc.setSource({ cellId: 'c0ffee01', source: 'x = 1' });
    expect(same.events).toEqual([]);
    const moved = doc.moveCell({ cellId: 'empty-1', position: { index: 0 } });
    expect([moved.from, moved.to]).toEqual([5, 0]);
    expect(doc.cellIds()).toEqual([
      'empty-1',
      'intro-md',
      'c0ffee01',
      'c0ffee02',
      'c0ffee03',
      'raw-1',
    ]);
    doc.moveCell({ cellId: 'empty-1', position: { afterCellId: 'raw-1' } });
    expect(doc.cellIds().at(-1)).toBe('empty-1');
    doc.moveCell({ cellId: 'raw-1', position: { beforeCellId: 'intro-md' } });
    expect(doc.cellIds()[0]).toBe('raw-1');
    expectCode(
      () => doc.moveCell({ cellId: 'raw-1', position: { afterCellId: 'raw-1' } }),
      'notebook_invalid_request',
    );
    expectCode(
      () => doc.moveCell({ cellId: 'raw-1', position: { index: 6 } }),
      'cell_index_out_of_range',
    );
    const removed = doc.deleteCell({ cellId: 'c0ffee02' });
    expect(removed.index).toBe(3);
    expectCode(() => doc.getCell('c0ffee02'), 'cell_not_found');
    expectCode(() => doc.deleteCell({ cellId: 'c0ffee02' }), 'cell_not_found');
  });

  it('clears outputs of one cell or all, resetting execution_count', () => {
    const doc = load();
    const one = doc.clearOutputs({ cellId: 'c0ffee01' });
    expect(one.cellIds).toEqual(['c0ffee01']);
    expect(doc.getCell('c0ffee01')).toMatchObject({ outputs: [], executionCount: null });
    expect(doc.getCell('c0ffee02').outputs).toHaveLength(1);
    const all = doc.clearOutputs();
    expect(all.cellIds).toEqual(['c0ffee02', 'c0ffee03']);
    expect(doc.clearOutputs().events).toEqual([]);
    expect(doc.serialize().text).not.toContain('output_type');
  });

  it('records a run: outputs and execution count, validated', () => {
    const doc = load();
    doc.setExecution({
      cellId: 'empty-1',
      executionCount: 4,
      outputs: [
        { output_type: 'stream', name: 'stdout', text: ['a\n', 'b\n'] },
        {
          output_type: 'execute_result',
          execution_count: 4,
          data: { 'text/plain': '2' },
          metadata: {},
        },
      ],
    });
    expect(doc.getCell('empty-1')).toMatchObject({ executionCount: 4 });
    expectCode(
      () => doc.setExecution({ cellId: 'intro-md', executionCount: 1 }),
      'not_a_code_cell',
    );
    expectCode(
      () => doc.setExecution({ cellId: 'empty-1', outputs: [{ output_type: 'bogus' }] }),
      'notebook_invalid_request',
    );
    expectCode(
      () => doc.setExecution({ cellId: 'empty-1', outputs: {} }),
      'notebook_invalid_request',
    );
    expectCode(
      () => doc.setExecution({ cellId: 'empty-1', executionCount: -1 }),
      'notebook_invalid_request',
    );
    expectCode(
      () => doc.setExecution({ cellId: 'empty-1', executionCount: 1.5 }),
      'notebook_invalid_request',
    );
    // The document keeps its own copy: mutating the caller's array changes nothing.
    const outputs = [{ output_type: 'stream', name: 'stdout', text: 'x' }];
    doc.setExecution({ cellId: 'empty-1', outputs });
    outputs[0] = { output_type: 'stream', name: 'stdout', text: 'mutated' };
    expect(doc.getCell('empty-1').outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'x' },
    ]);
  });
});

describe('replace in a cell', () => {
  it('replaces literal text everywhere and counts', async () => {
    const doc = load();
    const result = await doc.replaceInCell({ cellId: 'c0ffee01', find: 'math', replace: 'm$1' });
    expect(result.count).toBe(2);
    expect(doc.getCell('c0ffee01').source).toBe("import m$1\nprint('hello')\nm$1.pi");
    const none = await doc.replaceInCell({ cellId: 'c0ffee01', find: 'zzz', replace: 'y' });
    expect(none).toEqual({ revision: doc.revision, events: [], count: 0 });
    await expectRejects(
      doc.replaceInCell({ cellId: 'c0ffee01', find: '', replace: 'y' }),
      'notebook_invalid_request',
    );
  });

  it('replaces by regex with groups and flags, literal replacement on request', async () => {
    const doc = load();
    const r = await doc.replaceInCell({
      cellId: 'c0ffee01',
      find: '^(\\w+)',
      replace: '# $1',
      regex: true,
      flags: 'm',
    });
    expect(r.count).toBe(3);
    expect(doc.getCell('c0ffee01').source).toBe("# import math\n# print('hello')\n# math.pi");
    await doc.replaceInCell({
      cellId: 'c0ffee01',
      find: 'MATH',
      replace: '$&$1',
      regex: true,
      flags: 'i',
      literalReplacement: true,
    });
    expect(doc.getCell('c0ffee01').source).toBe("# import $&$1\n# print('hello')\n# $&$1.pi");
    const named = await doc.replaceInCell({
      cellId: 'c0ffee03',
      find: '(?<a>\\d)/(?<b>\\d)',
      replace: '$<b>/$<a>',
      regex: true,
    });
    expect(named.count).toBe(1);
    expect(doc.getCell('c0ffee03').source).toBe('0/1');
  });

  it('types regex syntax errors and bad flags', async () => {
    const doc = load();
    const error = await expectRejects(
      doc.replaceInCell({ cellId: 'c0ffee01', find: '(unclosed', replace: '', regex: true }),
      'invalid_regex',
    );
    expect((error as { status: number }).status).toBe(400);
    expect((error as { details: { reason: string } }).details.reason).toMatch(/Unterminated group/);
    await expectRejects(
      doc.replaceInCell({ cellId: 'c0ffee01', find: 'a', replace: '', regex: true, flags: 'gy' }),
      'invalid_regex',
    );
    await expectRejects(
      doc.replaceInCell({ cellId: 'c0ffee01', find: 'a'.repeat(5000), replace: '', regex: true }),
      'invalid_regex',
    );
    expect(doc.revision).toBe(0);
  });

  it('bounds catastrophic backtracking in time: (a+)+$ on 10 KB of a’s', async () => {
    const doc = load();
    const big = doc.insertCell({ cellType: 'code', source: `${'a'.repeat(10_000)}!` });
    const error = await expectRejects(
      doc.replaceInCell({
        cellId: big.cellId,
        find: '(a+)+$',
        replace: 'x',
        regex: true,
        timeoutMs: 300,
      }),
      'regex_timeout',
    );
    expect((error as { status: number }).status).toBe(422);
    expect(doc.getCell(big.cellId).source).toHaveLength(10_001);
    // The runner recovers with a fresh worker.
    const ok = await doc.replaceInCell({
      cellId: big.cellId,
      find: 'a+!',
      replace: 'done',
      regex: true,
    });
    expect(ok.count).toBe(1);
    expect(doc.getCell(big.cellId).source).toBe('done');
  });

  it('refuses a replacement computed on a source that changed while it ran', async () => {
    const doc = load();
    const pending = doc.replaceInCell({
      cellId: 'c0ffee01',
      find: 'math',
      replace: 'm',
      regex: true,
    });
    doc.setSource({ cellId: 'c0ffee01', source: 'math = 2' });
    await expectRejects(pending, 'notebook_revision_conflict');
    expect(doc.getCell('c0ffee01').source).toBe('math = 2');
  });
});

describe('revisions', () => {
  it('a stale baseRevision is a typed 409; omitting it is last-writer-wins', () => {
    const doc = load();
    const r1 = doc.setSource({ cellId: 'c0ffee01', source: 'a', baseRevision: 0 });
    expect(r1.revision).toBe(1);
    try {
      doc.setSource({ cellId: 'c0ffee01', source: 'b', baseRevision: 0 });
      throw new Error('no conflict');
    } catch (error) {
      expect(isNotebookError(error, 'notebook_revision_conflict')).toBe(true);
      expect((error as { status: number }).status).toBe(409);
      expect((error as { details: unknown }).details).toEqual({
        baseRevision: 0,
        currentRevision: 1,
        nextAction: { kind: 'refetch_document', currentRevision: 1 },
      });
    }
    expect(doc.getCell('c0ffee01').source).toBe('a');
    doc.setSource({ cellId: 'c0ffee01', source: 'b' });
    expect(doc.revision).toBe(2);
    expectCode(
      () => doc.deleteCell({ cellId: 'c0ffee01', baseRevision: -1 }),
      'notebook_invalid_request',
    );
    expect(doc.dirty).toBe(true);
    const saved = doc.serialize();
    doc.markSaved(saved);
    expect(doc.dirty).toBe(false);
    expect(doc.knownHash).toBe(saved.hash);
  });
});

describe('events', () => {
  it('numbers every change and replays what a reconnecting client missed', () => {
    const doc = load();
    const seen: string[] = [];
    const stop = doc.events.subscribe((e) => seen.push(`${e.seq}:${e.type}`));
    const added = doc.insertCell({ cellType: 'code', source: 'x' });
    doc.setSource({ cellId: added.cellId, source: 'y' });
    doc.moveCell({ cellId: added.cellId, position: { index: 0 } });
    doc.clearOutputs();
    doc.deleteCell({ cellId: added.cellId });
    const saved = doc.serialize();
    doc.markSaved(saved);
    stop();
    expect(seen).toEqual([
      '1:cell_added',
      '2:cell_changed',
      '3:cell_moved',
      '4:outputs_cleared',
      '5:cell_removed',
      '6:saved',
    ]);
    const missed = doc.events.since(3);
    expect(missed.kind).toBe('events');
    expect(
      missed.kind === 'events' && missed.events.map((e) => [e.seq, e.type, e.revision]),
    ).toEqual([
      [4, 'outputs_cleared', 4],
      [5, 'cell_removed', 5],
      [6, 'saved', 5],
    ]);
    const changed = doc.events.since(1);
    expect(changed.kind === 'events' && changed.events[0]).toMatchObject({
      type: 'cell_changed',
      fields: ['source'],
      cell: { id: added.cellId, source: 'y' },
    });
  });

  it('reload replaces the content, advances the revision and continues the sequence', () => {
    const doc = load();
    doc.setSource({ cellId: 'c0ffee01', source: 'mine' });
    const event = doc.reload(fixture('vscode.ipynb'));
    expect(event).toMatchObject({ type: 'reloaded', seq: 2, revision: 2, cellCount: 6 });
    expect(doc.dirty).toBe(false);
    expect(doc.getCell('c0ffee01').source).toContain('import math');
    expect(doc.metadata).toHaveProperty('vscode');
    expectCode(() => doc.reload('{'), 'notebook_invalid');
    expect(doc.cellCount).toBe(6);
  });
});

describe('on-disk changes', () => {
  it('decides unchanged, reload or conflict from the bytes on disk', () => {
    const bytes = fixture('jupyter.ipynb');
    const doc = NotebookDocument.load(bytes);
    expect(doc.checkDisk(bytes)).toEqual({ action: 'unchanged' });
    const edited = Buffer.from(bytes.toString('utf8').replace('hello', 'hullo'));
    expect(doc.checkDisk(edited)).toMatchObject({ action: 'reload' });
    doc.setSource({ cellId: 'c0ffee01', source: 'mine' });
    const decision = doc.checkDisk(edited);
    expect(decision.action).toBe('conflict');
    if (decision.action !== 'conflict') return;
    expect(decision.reason).toBe('modified');
    expect(decision.error.code).toBe('notebook_changed_on_disk');
    expect(decision.error.status).toBe(409);
    expect(decision.error.details.nextAction).toMatchObject({
      kind: 'resolve_disk_conflict',
      knownHash: doc.knownHash,
      choices: [
        { choice: 'reload_from_disk', discards: 'unsaved_changes' },
        { choice: 'overwrite_disk', discards: 'disk_changes' },
        { choice: 'save_to_other_path', discards: 'nothing' },
      ],
    });
    expect(doc.checkDisk(null)).toMatchObject({ action: 'conflict', reason: 'deleted' });
    // After saving, what was written is what is expected on disk.
    const saved = doc.serialize();
    doc.markSaved(saved);
    expect(doc.checkDisk(saved.bytes)).toEqual({ action: 'unchanged' });
  });
});

describe('the regex worker and the process lifetime', () => {
  it('keeps a process alive while a replacement runs and lets it exit when idle', () => {
    // A top-level await on a replacement: if the worker were unref'd while busy the process
    // would exit early (code 13); if it were ref'd while idle it would never exit.
    const script = `
      import { NotebookDocument } from './src/index.ts';
      const doc = NotebookDocument.create();
      const { cellId } = doc.insertCell({ cellType: 'code', source: 'aaa' });
      const r = await doc.replaceInCell({ cellId, find: 'a+', replace: 'b', regex: true });
      const t = await doc.replaceInCell({ cellId, find: '(b+)+$', replace: 'x', regex: true, flags: 'i' });
      console.log(JSON.stringify([r.count, t.count, doc.getCell(cellId).source]));
    `;
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: join(import.meta.dirname, '..'),
        timeout: 120_000,
      },
    );
    expect(JSON.parse(out.toString())).toEqual([1, 1, 'x']);
  });
});

describe('notebook metadata', () => {
  it('sets and removes one key; every other metadata byte stays', () => {
    const original = fixture('jupyter.ipynb').toString('utf8');
    const doc = NotebookDocument.load(original);
    const r = doc.setNotebookMetadata({
      key: 'uv',
      value: { dependencies: ['pandas>=2'] },
      baseRevision: 0,
    });
    expect(r.events[0]).toMatchObject({ type: 'notebook_metadata_changed', key: 'uv', seq: 1 });
    const saved = doc.serialize().text;
    expect(saved).toContain('"base_numbering": 1.0');
    expect(saved.slice(0, original.indexOf(' "metadata": {\n  "kernelspec"'))).toBe(
      original.slice(0, original.indexOf(' "metadata": {\n  "kernelspec"')),
    );
    expect(saved).toContain(
      '  },\n  "uv": {\n   "dependencies": [\n    "pandas>=2"\n   ]\n  }\n },\n "nbformat": 4',
    );
    expect(doc.metadata).toHaveProperty(['uv', 'dependencies'], ['pandas>=2']);
    expect(doc.setNotebookMetadata({ key: 'nope', value: undefined }).events).toEqual([]);
    doc.setNotebookMetadata({ key: 'uv', value: undefined });
    expect(doc.serialize().text).toBe(original);
    expectCode(() => doc.setNotebookMetadata({ key: '', value: 1 }), 'notebook_invalid_request');
    expectCode(() => doc.setNotebookMetadata({ key: 'x', value: 10n }), 'notebook_invalid_request');
    expectCode(
      () => doc.setNotebookMetadata({ key: 'x', value: () => 1 }),
      'notebook_invalid_request',
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expectCode(
      () => doc.setNotebookMetadata({ key: 'x', value: cyclic }),
      'notebook_invalid_request',
    );
    expectCode(
      () => doc.setExecution({ cellId: 'c0ffee01', outputs: 10n }),
      'notebook_invalid_request',
    );
  });
});
