// The notebook as a document: cells addressed by stable id, a revision per mutation, change
// events, and a serialiser that writes untouched cells and members back byte for byte. No I/O:
// callers read and write the file (through the runtime's safe workspace-file module) and hand
// bytes in and out.

import { type DiskDecision, decideDiskChange } from './disk.js';
import { NotebookError } from './errors.js';
import { type CellField, EventLog, type NotebookEvent, type NotebookEventBody } from './events.js';
import { isValidCellId, randomCellId } from './ids.js';
import { jsonDepthExceeds } from './json-scan.js';
import {
  DEFAULT_PAGE_LIMIT,
  EVENT_BUFFER_SIZE,
  LIST_SOURCE_CHARS,
  MAX_CELL_OUTPUTS_BYTES,
  MAX_CELL_SOURCE_BYTES,
  MAX_CELLS,
  MAX_JSON_DEPTH,
  MAX_NOTEBOOK_BYTES,
  MAX_PAGE_LIMIT,
} from './limits.js';
import { type CellSummary, type CellType, summarizeOutputs } from './outputs.js';
import {
  type CellRecord,
  encodeSource,
  type ParsedNotebook,
  parseNotebook,
  type Repair,
  type SourceForm,
  sha256Hex,
} from './parse.js';
import { type JsonStyle, RawObject } from './raw-object.js';
import { type RegexRunner, replaceLiteral, sharedRegexRunner } from './regex.js';
import { describeIssues, type NbOutput, OutputsShape } from './schema.js';

/** Where an inserted or moved cell goes. `index` is its position in the resulting list. */
export type CellPosition = { index: number } | { afterCellId: string } | { beforeCellId: string };

export interface Revisioned {
  /** The revision the caller's view is based on; omit for last-writer-wins. */
  baseRevision?: number;
}

export interface CellView {
  id: string;
  index: number;
  cellType: CellType;
  source: string;
  metadata: Readonly<Record<string, unknown>>;
  /** Code cells only (`null` for markdown/raw). */
  executionCount: number | null;
  /** Code cells only (empty for markdown/raw). nbformat 4 outputs as stored; do not mutate. */
  outputs: readonly unknown[];
  attachments?: Readonly<Record<string, unknown>>;
}

export interface CellPage {
  cells: CellSummary[];
  total: number;
  offset: number;
  /** Offset of the next page, absent on the last one. */
  nextOffset?: number;
  revision: number;
}

export interface MutationResult {
  revision: number;
  events: NotebookEvent[];
}

export interface SerializedNotebook {
  text: string;
  bytes: Uint8Array;
  /** sha256 (hex) of `bytes`: pass it to `markSaved` once they are on disk. */
  hash: string;
  /** The revision these bytes hold. */
  revision: number;
}

export interface DocumentOptions {
  maxBytes?: number;
  /** Runs regular-expression replacements (default: one worker shared by the process). */
  regexRunner?: RegexRunner;
  eventBufferSize?: number;
}

const NEW_NOTEBOOK_METADATA: Record<'python' | 'deno', Record<string, unknown>> = {
  python: {
    kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' },
    language_info: { name: 'python' },
  },
  deno: {
    kernelspec: { display_name: 'Deno', language: 'typescript', name: 'deno' },
    language_info: { name: 'typescript' },
  },
};

const CELLS_MARK = '\u0000cells\u0000';

function shortId(id: unknown): string {
  const text = typeof id === 'string' ? id : String(id);
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

function byteLength(text: string): number {
  // Cheap lower bound first: a string of n UTF-16 units has at most 3n UTF-8 bytes.
  return text.length * 3 <= MAX_CELL_SOURCE_BYTES ? text.length : Buffer.byteLength(text);
}

function checkSource(source: unknown): string {
  if (typeof source !== 'string') {
    throw new NotebookError('notebook_invalid_request', 'source must be a string');
  }
  const size = byteLength(source);
  if (size > MAX_CELL_SOURCE_BYTES) {
    throw new NotebookError(
      'cell_source_too_large',
      `the source is ${size} bytes; the limit is ${MAX_CELL_SOURCE_BYTES}`,
      { details: { size, limit: MAX_CELL_SOURCE_BYTES } },
    );
  }
  return source;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A private JSON copy of a caller's value, bounded in depth and size. */
function copyJson(
  value: unknown,
  limit: number,
  what: string,
  code: 'cell_outputs_too_large' | 'notebook_invalid_request',
): { copy: unknown; bytes: number } {
  if (jsonDepthExceeds(value, MAX_JSON_DEPTH)) {
    throw new NotebookError(code, `${what} nest deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    // A BigInt, or a toJSON that throws.
    throw new NotebookError('notebook_invalid_request', `${what} are not JSON`, { cause: error });
  }
  if (text === undefined) {
    throw new NotebookError('notebook_invalid_request', `${what} are not JSON`);
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > limit) {
    throw new NotebookError(code, `${what} are ${bytes} bytes; the limit is ${limit}`, {
      details: { size: bytes, limit },
    });
  }
  return { copy: JSON.parse(text), bytes };
}

export class NotebookDocument {
  private state!: ParsedNotebook;
  private readonly byId = new Map<string, CellRecord>();
  /** Bytes and hash while nothing changed since they were produced. */
  private output: { bytes: Buffer; hash: string } | undefined;
  /** True while the document holds exactly the bytes it was loaded from. */
  private pristine = false;
  /** Notebook-level metadata; its untouched members keep their bytes when one key changes. */
  private notebookMetadata!: RawObject;
  private readonly encoded = new WeakMap<CellRecord, { text: string; bytes: Buffer }>();
  private current = 0;
  private saved = 0;
  private known = '';
  private repairsPending: Repair[] = [];
  private readonly maxBytes: number;
  private readonly regexRunner: RegexRunner | undefined;
  /** Change events with per-document sequence numbers, for the WebSocket layer. */
  readonly events: EventLog;

  private constructor(parsed: ParsedNotebook, options: DocumentOptions) {
    this.maxBytes = options.maxBytes ?? MAX_NOTEBOOK_BYTES;
    this.regexRunner = options.regexRunner;
    this.events = new EventLog(options.eventBufferSize ?? EVENT_BUFFER_SIZE);
    this.adopt(parsed);
  }

  /**
   * Loads a document from `.ipynb` bytes (or text). Throws `notebook_too_large` before
   * parsing, `notebook_invalid` for non-UTF-8, non-JSON or misshapen input, and
   * `notebook_format_unsupported` for nbformat 3 and older (with how to upgrade as data).
   */
  static load(input: string | Uint8Array, options: DocumentOptions = {}): NotebookDocument {
    return new NotebookDocument(
      parseNotebook(input, { maxBytes: options.maxBytes ?? MAX_NOTEBOOK_BYTES }),
      options,
    );
  }

  /** A new empty nbformat 4.5 notebook, laid out as Jupyter writes one (1-space indent). */
  static create(
    options: DocumentOptions & {
      runtime?: 'python' | 'deno';
      metadata?: Record<string, unknown>;
    } = {},
  ): NotebookDocument {
    const metadata = options.metadata ?? NEW_NOTEBOOK_METADATA[options.runtime ?? 'python'];
    const text = `${JSON.stringify({ cells: [], metadata, nbformat: 4, nbformat_minor: 5 }, null, 1)}\n`;
    return NotebookDocument.load(text, options);
  }

  private adopt(parsed: ParsedNotebook): void {
    this.state = parsed;
    const metadata = parsed.top.members.find((m) => m.key === 'metadata');
    this.notebookMetadata = RawObject.fromText(
      metadata?.raw ?? '{}',
      (parsed.top.get('metadata') ?? {}) as Record<string, unknown>,
      2,
    );
    this.byId.clear();
    for (const cell of parsed.cells) this.byId.set(cell.id, cell);
    this.repairsPending = parsed.repairs;
    this.pristine = parsed.repairs.length === 0;
    this.output = undefined;
    this.known = parsed.hash;
  }

  // ---------------------------------------------------------------- state

  /** Incremented by every mutation (an operation that changes nothing leaves it). */
  get revision(): number {
    return this.current;
  }

  /** The revision last marked saved (or loaded). */
  get savedRevision(): number {
    return this.saved;
  }

  /** True when there are edits not yet marked saved (load-time repairs alone do not count). */
  get dirty(): boolean {
    return this.current !== this.saved;
  }

  /**
   * What loading changed in memory that the file does not have yet (ids added, fields added,
   * 4.x → 4.5); written by the next save. Empty once saved.
   */
  get pendingRepairs(): readonly Repair[] {
    return this.repairsPending;
  }

  /** sha256 (hex) of the bytes loaded, reloaded or last marked saved: what should be on disk. */
  get knownHash(): string {
    return this.known;
  }

  get cellCount(): number {
    return this.state.cells.length;
  }

  get nbformatMinor(): number {
    return this.state.nbformatMinor;
  }

  /** The notebook-level metadata as read (do not mutate). */
  get metadata(): Readonly<Record<string, unknown>> {
    return this.notebookMetadata.toValue();
  }

  /** The layout regenerated JSON uses (detected from the file). */
  get style(): Readonly<JsonStyle> {
    return this.state.style;
  }

  cellIds(): string[] {
    return this.state.cells.map((c) => c.id);
  }

  // ---------------------------------------------------------------- reads

  private find(cellId: unknown): CellRecord {
    if (typeof cellId !== 'string') {
      throw new NotebookError('invalid_cell_id', 'a cell id must be a string');
    }
    const cell = this.byId.get(cellId);
    if (!cell) {
      throw new NotebookError('cell_not_found', `no cell with id ${shortId(cellId)}`, {
        details: { cellId: cellId.slice(0, 64) },
      });
    }
    return cell;
  }

  private indexOf(cell: CellRecord): number {
    return this.state.cells.indexOf(cell);
  }

  private summary(cell: CellRecord, index: number): CellSummary {
    const truncated = cell.source.length > LIST_SOURCE_CHARS;
    const code = cell.type === 'code';
    const count = code ? cell.obj.get('execution_count') : null;
    return {
      id: cell.id,
      index,
      cellType: cell.type,
      source: truncated ? cell.source.slice(0, LIST_SOURCE_CHARS) : cell.source,
      sourceTruncated: truncated,
      sourceChars: cell.source.length,
      executionCount: typeof count === 'number' ? count : null,
      outputs: summarizeOutputs(code ? cell.obj.get('outputs') : []),
    };
  }

  /** A page of cell summaries (sources cut at `LIST_SOURCE_CHARS`, outputs summarised). */
  listCells(options: { offset?: number; limit?: number } = {}): CellPage {
    const offset = options.offset ?? 0;
    const limit = options.limit ?? DEFAULT_PAGE_LIMIT;
    if (!Number.isInteger(offset) || offset < 0) {
      throw new NotebookError('cell_index_out_of_range', 'offset must be an integer ≥ 0');
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
      throw new NotebookError(
        'cell_index_out_of_range',
        `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`,
      );
    }
    const cells = this.state.cells;
    const page = cells.slice(offset, offset + limit).map((c, i) => this.summary(c, offset + i));
    const next = offset + page.length;
    return {
      cells: page,
      total: cells.length,
      offset,
      ...(next < cells.length ? { nextOffset: next } : {}),
      revision: this.current,
    };
  }

  /** One cell in full: source, metadata, outputs. */
  getCell(cellId: string): CellView {
    const cell = this.find(cellId);
    const code = cell.type === 'code';
    const count = code ? cell.obj.get('execution_count') : null;
    const attachments = cell.obj.get('attachments');
    return {
      id: cell.id,
      index: this.indexOf(cell),
      cellType: cell.type,
      source: cell.source,
      metadata: (cell.obj.get('metadata') ?? {}) as Record<string, unknown>,
      executionCount: typeof count === 'number' ? count : null,
      outputs: code ? ((cell.obj.get('outputs') ?? []) as unknown[]) : [],
      ...(isPlainObject(attachments) ? { attachments } : {}),
    };
  }

  // ---------------------------------------------------------------- mutations

  private checkBase(baseRevision: number | undefined): void {
    if (baseRevision === undefined) return;
    if (!Number.isInteger(baseRevision) || baseRevision < 0) {
      throw new NotebookError('notebook_invalid_request', 'baseRevision must be an integer ≥ 0');
    }
    if (baseRevision !== this.current) {
      throw new NotebookError(
        'notebook_revision_conflict',
        `the document is at revision ${this.current}, not ${baseRevision}; read it again and retry`,
        {
          details: {
            baseRevision,
            currentRevision: this.current,
            nextAction: { kind: 'refetch_document', currentRevision: this.current },
          },
        },
      );
    }
  }

  private commit(bodies: NotebookEventBody[]): MutationResult {
    this.current += 1;
    this.output = undefined;
    this.pristine = false;
    return {
      revision: this.current,
      events: bodies.map((b) => this.events.append(b, this.current)),
    };
  }

  private resolvePosition(
    position: CellPosition | undefined,
    count: number,
    moving?: CellRecord,
  ): number {
    if (position === undefined) return count;
    if (typeof position !== 'object' || position === null) {
      throw new NotebookError(
        'notebook_invalid_request',
        'position must be {index}, {afterCellId} or {beforeCellId}',
      );
    }
    if ('index' in position) {
      const index = position.index;
      if (!Number.isInteger(index) || index < 0 || index > count) {
        throw new NotebookError(
          'cell_index_out_of_range',
          `index must be an integer from 0 to ${count}`,
          { details: { index: typeof index === 'number' ? index : null, max: count } },
        );
      }
      return index;
    }
    const anchorId = 'afterCellId' in position ? position.afterCellId : position.beforeCellId;
    const anchor = this.find(anchorId);
    if (anchor === moving) {
      throw new NotebookError(
        'notebook_invalid_request',
        'a cell cannot be moved relative to itself',
      );
    }
    const cells = moving ? this.state.cells.filter((c) => c !== moving) : this.state.cells;
    const at = cells.indexOf(anchor);
    return 'afterCellId' in position ? at + 1 : at;
  }

  insertCell(
    request: Revisioned & {
      cellType: CellType;
      source?: string;
      id?: string;
      metadata?: Record<string, unknown>;
      position?: CellPosition;
    },
  ): MutationResult & { cellId: string; index: number } {
    this.checkBase(request.baseRevision);
    const type = request.cellType;
    if (type !== 'code' && type !== 'markdown' && type !== 'raw') {
      throw new NotebookError('notebook_invalid_request', 'cellType must be code, markdown or raw');
    }
    const source = checkSource(request.source ?? '');
    if (request.id !== undefined) {
      if (!isValidCellId(request.id)) {
        throw new NotebookError(
          'invalid_cell_id',
          'a cell id must match ^[a-zA-Z0-9-_]{1,64}$ (nbformat 4.5)',
        );
      }
      if (this.byId.has(request.id)) {
        throw new NotebookError('invalid_cell_id', `a cell with id ${shortId(request.id)} exists`);
      }
    }
    let metadata: unknown = {};
    if (request.metadata !== undefined) {
      if (!isPlainObject(request.metadata)) {
        throw new NotebookError('notebook_invalid_request', 'metadata must be an object');
      }
      metadata = copyJson(
        request.metadata,
        MAX_CELL_SOURCE_BYTES,
        'cell metadata',
        'notebook_invalid_request',
      ).copy;
    }
    const cells = this.state.cells;
    if (cells.length >= MAX_CELLS) {
      throw new NotebookError(
        'notebook_too_many_cells',
        `the notebook already has ${MAX_CELLS} cells`,
      );
    }
    const index = this.resolvePosition(request.position, cells.length);
    const id = request.id ?? randomCellId(this.byId);
    const form: SourceForm = this.state.defaultSourceForm;
    const entries: [string, unknown][] =
      type === 'code'
        ? [
            ['cell_type', type],
            ['execution_count', null],
            ['id', id],
            ['metadata', metadata],
            ['outputs', []],
            ['source', encodeSource(source, form)],
          ]
        : [
            ['cell_type', type],
            ['id', id],
            ['metadata', metadata],
            ['source', encodeSource(source, form)],
          ];
    const cell: CellRecord = {
      obj: RawObject.fromEntries(entries),
      id,
      type,
      source,
      sourceForm: form,
    };
    cells.splice(index, 0, cell);
    this.byId.set(id, cell);
    const result = this.commit([
      { type: 'cell_added', cellId: id, index, cell: this.summary(cell, index) },
    ]);
    return { ...result, cellId: id, index };
  }

  setSource(request: Revisioned & { cellId: string; source: string }): MutationResult {
    const cell = this.find(request.cellId);
    this.checkBase(request.baseRevision);
    const source = checkSource(request.source);
    return this.applySource(cell, source);
  }

  private applySource(cell: CellRecord, source: string): MutationResult {
    if (cell.source === source) return { revision: this.current, events: [] };
    cell.source = source;
    cell.obj.set('source', encodeSource(source, cell.sourceForm));
    return this.commit([
      {
        type: 'cell_changed',
        cellId: cell.id,
        fields: ['source'],
        cell: this.summary(cell, this.indexOf(cell)),
      },
    ]);
  }

  deleteCell(request: Revisioned & { cellId: string }): MutationResult & { index: number } {
    const cell = this.find(request.cellId);
    this.checkBase(request.baseRevision);
    const index = this.indexOf(cell);
    this.state.cells.splice(index, 1);
    this.byId.delete(cell.id);
    return { ...this.commit([{ type: 'cell_removed', cellId: cell.id, index }]), index };
  }

  moveCell(
    request: Revisioned & { cellId: string; position: CellPosition },
  ): MutationResult & { from: number; to: number } {
    const cell = this.find(request.cellId);
    this.checkBase(request.baseRevision);
    const cells = this.state.cells;
    const from = this.indexOf(cell);
    const to = this.resolvePosition(request.position, cells.length - 1, cell);
    if (from === to) return { revision: this.current, events: [], from, to };
    cells.splice(from, 1);
    cells.splice(to, 0, cell);
    return { ...this.commit([{ type: 'cell_moved', cellId: cell.id, from, to }]), from, to };
  }

  /** Empties outputs and resets `execution_count` of one code cell, or of every code cell. */
  clearOutputs(
    request: Revisioned & { cellId?: string } = {},
  ): MutationResult & { cellIds: string[] } {
    const targets = request.cellId === undefined ? this.state.cells : [this.find(request.cellId)];
    this.checkBase(request.baseRevision);
    const cleared: string[] = [];
    for (const cell of targets) {
      if (cell.type !== 'code') continue;
      const outputs = cell.obj.get('outputs');
      const count = cell.obj.get('execution_count');
      if (Array.isArray(outputs) && outputs.length === 0 && count === null) continue;
      cell.obj.set('outputs', []);
      cell.obj.set('execution_count', null);
      cleared.push(cell.id);
    }
    if (cleared.length === 0) return { revision: this.current, events: [], cellIds: [] };
    return { ...this.commit([{ type: 'outputs_cleared', cellIds: cleared }]), cellIds: cleared };
  }

  /**
   * Replaces every occurrence of `find` in one cell's source. `regex: true` treats `find` as a
   * JavaScript pattern (flags from `flags`, `g` implied; `$1`/`$<name>` expand unless
   * `literalReplacement`), run in a worker with a deadline. Resolves with the count (0 leaves
   * the document unchanged).
   */
  async replaceInCell(
    request: Revisioned & {
      cellId: string;
      find: string;
      replace: string;
      regex?: boolean;
      flags?: string;
      literalReplacement?: boolean;
      timeoutMs?: number;
    },
  ): Promise<MutationResult & { count: number }> {
    const cell = this.find(request.cellId);
    this.checkBase(request.baseRevision);
    if (typeof request.find !== 'string' || typeof request.replace !== 'string') {
      throw new NotebookError('notebook_invalid_request', 'find and replace must be strings');
    }
    const before = cell.source;
    const startRevision = this.current;
    const result = request.regex
      ? await (this.regexRunner ?? sharedRegexRunner()).replace({
          text: before,
          pattern: request.find,
          ...(request.flags !== undefined ? { flags: request.flags } : {}),
          replacement: request.replace,
          ...(request.literalReplacement !== undefined
            ? { literalReplacement: request.literalReplacement }
            : {}),
          ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
        })
      : replaceLiteral(before, request.find, request.replace);
    // The regex ran off-thread: if the cell changed meanwhile the result is stale.
    if (this.byId.get(cell.id) !== cell || cell.source !== before) {
      throw new NotebookError(
        'notebook_revision_conflict',
        'the cell changed while the replacement ran; read it again and retry',
        {
          details: {
            baseRevision: startRevision,
            currentRevision: this.current,
            nextAction: { kind: 'refetch_document', currentRevision: this.current },
          },
        },
      );
    }
    if (result.count === 0) return { revision: this.current, events: [], count: 0 };
    const source = checkSource(result.text);
    return { ...this.applySource(cell, source), count: result.count };
  }

  /**
   * Records what a run produced: nbformat 4 outputs (validated, copied, size-capped) and/or
   * the execution count, on a code cell.
   */
  setExecution(
    request: Revisioned & { cellId: string; outputs?: unknown; executionCount?: number | null },
  ): MutationResult {
    const cell = this.find(request.cellId);
    this.checkBase(request.baseRevision);
    if (cell.type !== 'code') {
      throw new NotebookError('not_a_code_cell', `cell ${shortId(cell.id)} is a ${cell.type} cell`);
    }
    const fields: CellField[] = [];
    let outputs: NbOutput[] | undefined;
    if (request.outputs !== undefined) {
      const { copy } = copyJson(
        request.outputs,
        MAX_CELL_OUTPUTS_BYTES,
        'outputs',
        'cell_outputs_too_large',
      );
      const parsed = OutputsShape.safeParse(copy);
      if (!parsed.success) {
        throw new NotebookError(
          'notebook_invalid_request',
          `outputs are not nbformat 4 outputs: ${describeIssues(parsed.error)}`,
        );
      }
      outputs = copy as NbOutput[];
      fields.push('outputs');
    }
    const count = request.executionCount;
    if (count !== undefined) {
      if (count !== null && (!Number.isInteger(count) || count < 0)) {
        throw new NotebookError(
          'notebook_invalid_request',
          'executionCount must be an integer ≥ 0 or null',
        );
      }
      fields.push('execution_count');
    }
    if (fields.length === 0) return { revision: this.current, events: [] };
    if (outputs !== undefined) cell.obj.set('outputs', outputs);
    if (count !== undefined) cell.obj.set('execution_count', count);
    return this.commit([
      {
        type: 'cell_changed',
        cellId: cell.id,
        fields,
        cell: this.summary(cell, this.indexOf(cell)),
      },
    ]);
  }

  /**
   * Sets (or with `value: undefined`, removes) one key of the notebook-level metadata — e.g.
   * inline dependencies or a trust signature. Every other metadata key keeps its bytes.
   */
  setNotebookMetadata(request: Revisioned & { key: string; value: unknown }): MutationResult {
    this.checkBase(request.baseRevision);
    if (typeof request.key !== 'string' || request.key.length === 0 || request.key.length > 256) {
      throw new NotebookError(
        'notebook_invalid_request',
        'key must be a string of 1 to 256 characters',
      );
    }
    const { key } = request;
    if (request.value === undefined) {
      if (!this.notebookMetadata.delete(key)) return { revision: this.current, events: [] };
    } else {
      const { copy } = copyJson(
        request.value,
        MAX_CELL_SOURCE_BYTES,
        'notebook metadata',
        'notebook_invalid_request',
      );
      this.notebookMetadata.set(key, copy);
    }
    this.state.top.setRaw('metadata', this.notebookMetadata.render(2, this.state.style));
    return this.commit([{ type: 'notebook_metadata_changed', key }]);
  }

  // ---------------------------------------------------------------- bytes

  /** A cell's bytes, re-encoded only when its text changed (most saves change one cell). */
  private cellBytes(cell: CellRecord): Buffer {
    const text = cell.obj.render(3, this.state.style);
    const cached = this.encoded.get(cell);
    if (cached !== undefined && cached.text === text) return cached.bytes;
    const bytes = Buffer.from(text, 'utf8');
    this.encoded.set(cell, { text, bytes });
    return bytes;
  }

  private render(): { bytes: Buffer; hash: string } {
    if (this.output !== undefined) return this.output;
    const { state } = this;
    if (this.pristine) {
      this.output = { bytes: Buffer.from(state.text, 'utf8'), hash: state.hash };
      return this.output;
    }
    const { style } = state;
    // The top-level object is rendered with a marker where the cells go (a NUL cannot occur
    // in JSON text), then the cells' cached bytes are concatenated in: no 10 MB string is
    // rebuilt or re-encoded because one cell changed.
    state.top.setRaw('cells', CELLS_MARK);
    const topText = state.prefix + state.top.render(1, style) + state.suffix;
    const at = topText.indexOf(CELLS_MARK);
    const pieces: Buffer[] = [Buffer.from(topText.slice(0, at), 'utf8')];
    const cells = state.cells;
    if (cells.length === 0) pieces.push(Buffer.from('[]'));
    else {
      const pad = style.indent === undefined ? '' : style.eol + style.indent.repeat(2);
      const separator = Buffer.from(`,${pad}`, 'utf8');
      pieces.push(Buffer.from(`[${pad}`, 'utf8'));
      cells.forEach((cell, i) => {
        if (i > 0) pieces.push(separator);
        pieces.push(this.cellBytes(cell));
      });
      pieces.push(
        Buffer.from(style.indent === undefined ? ']' : `${style.eol}${style.indent}]`, 'utf8'),
      );
    }
    pieces.push(Buffer.from(topText.slice(at + CELLS_MARK.length), 'utf8'));
    let size = 0;
    for (const piece of pieces) size += piece.byteLength;
    if (size > this.maxBytes) {
      throw new NotebookError(
        'notebook_too_large',
        `the notebook would be ${size} bytes; the limit is ${this.maxBytes}`,
        { details: { size, limit: this.maxBytes } },
      );
    }
    const bytes = Buffer.concat(pieces, size);
    this.output = { bytes, hash: sha256Hex(bytes) };
    return this.output;
  }

  /**
   * The document as `.ipynb` bytes. Unchanged since load → exactly the bytes loaded. Otherwise
   * untouched cells and members keep their bytes, changed ones are written in the file's own
   * layout, pending repairs are applied (ids, nbformat 4.5). Throws `notebook_too_large` past
   * the limit. `text` is decoded from the bytes on first access.
   */
  serialize(): SerializedNotebook {
    const { bytes, hash } = this.render();
    const revision = this.current;
    let text: string | undefined;
    return {
      get text() {
        text ??= bytes.toString('utf8');
        return text;
      },
      bytes,
      hash,
      revision,
    };
  }

  /** Records that `serialize()`'s bytes (its `hash` and `revision`) are now on disk. */
  markSaved(saved: { hash: string; revision: number }): NotebookEvent {
    if (!Number.isInteger(saved.revision) || saved.revision < 0 || saved.revision > this.current) {
      throw new NotebookError(
        'notebook_invalid_request',
        'revision must be one this document reached',
      );
    }
    this.saved = saved.revision;
    this.known = saved.hash;
    this.repairsPending = [];
    return this.events.append(
      { type: 'saved', hash: saved.hash, savedRevision: saved.revision },
      this.current,
    );
  }

  /** Decides what to do about the bytes now on disk (`null`: the file is gone). */
  checkDisk(diskBytes: Uint8Array | null): DiskDecision {
    return decideDiskChange({
      diskHash: diskBytes === null ? null : sha256Hex(diskBytes),
      knownHash: this.known,
      hasUnsavedChanges: this.dirty,
    });
  }

  /**
   * Replaces the content with bytes read from disk (after `checkDisk` said `reload`). The
   * revision advances (views based on the old content are stale) and the event sequence
   * continues. Throws like `load`, leaving the document as it was.
   */
  reload(input: string | Uint8Array): NotebookEvent {
    const parsed = parseNotebook(input, { maxBytes: this.maxBytes });
    this.adopt(parsed);
    this.current += 1;
    this.saved = this.current;
    return this.events.append(
      { type: 'reloaded', hash: parsed.hash, cellCount: parsed.cells.length },
      this.current,
    );
  }
}
