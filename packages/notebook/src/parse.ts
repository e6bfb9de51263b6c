// Reads `.ipynb` bytes into the document model: the size limit before anything else, strict
// UTF-8 (a file that is not would be rewritten lossily), JSON, the nbformat version, the shape
// of every cell, then byte spans so untouched parts are written back exactly. Cell ids are
// checked and repaired here, deterministically.

import { createHash } from 'node:crypto';
import { NotebookError } from './errors.js';
import { derivedCellId, isValidCellId } from './ids.js';
import {
  DepthError,
  type MemberSpan,
  scanArray,
  scanObject,
  skipValue,
  skipWs,
} from './json-scan.js';
import { MAX_CELLS, MAX_JSON_DEPTH, MAX_NOTEBOOK_BYTES } from './limits.js';
import type { CellType } from './outputs.js';
import { type JsonStyle, type Member, RawObject } from './raw-object.js';
import { CellShape, describeIssues } from './schema.js';

export type SourceForm = 'string' | 'list';

export interface CellRecord {
  obj: RawObject;
  id: string;
  type: CellType;
  /** The source joined into one string (what callers read and edit). */
  source: string;
  /** How the file stores this cell's source; an edit keeps the form. */
  sourceForm: SourceForm;
}

export type Repair =
  | { kind: 'cell_id_added'; index: number; cellId: string }
  | { kind: 'cell_id_replaced'; index: number; cellId: string; reason: 'invalid' | 'duplicate' }
  | {
      kind: 'cell_field_added';
      index: number;
      cellId: string;
      field: 'metadata' | 'outputs' | 'execution_count';
    }
  | { kind: 'format_upgraded'; from: string; to: '4.5' };

export interface ParsedNotebook {
  text: string;
  /** sha256 (hex) of the bytes read. */
  hash: string;
  /** Bytes before the top-level `{` (a BOM, whitespace) and after its `}` (the final newline). */
  prefix: string;
  suffix: string;
  top: RawObject;
  cells: CellRecord[];
  style: JsonStyle;
  defaultSourceForm: SourceForm;
  nbformatMinor: number;
  repairs: Repair[];
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function invalid(message: string, path?: string): NotebookError {
  return new NotebookError('notebook_invalid', message, {
    details: path === undefined ? {} : { path },
  });
}

function decode(input: string | Uint8Array, maxBytes: number): { text: string; hash: string } {
  if (typeof input === 'string') {
    const size = Buffer.byteLength(input);
    if (size > maxBytes) throw tooLarge(size, maxBytes);
    return { text: input, hash: sha256Hex(Buffer.from(input, 'utf8')) };
  }
  if (input.byteLength > maxBytes) throw tooLarge(input.byteLength, maxBytes);
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so it is written back too.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
  } catch (error) {
    throw new NotebookError('notebook_invalid', 'the notebook is not valid UTF-8', {
      cause: error,
    });
  }
  return { text, hash: sha256Hex(input) };
}

function tooLarge(size: number, maxBytes: number): NotebookError {
  return new NotebookError(
    'notebook_too_large',
    `the notebook is ${size} bytes; the limit is ${maxBytes}`,
    { details: { size, limit: maxBytes } },
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The command that converts an old notebook in place with Jupyter's own tools. */
const UPGRADE_COMMAND = [
  'jupyter',
  'nbconvert',
  '--to',
  'notebook',
  '--nbformat',
  '4',
  '--inplace',
  '<path>',
];

function checkVersion(value: Record<string, unknown>): number {
  const major = Object.hasOwn(value, 'nbformat') ? value.nbformat : undefined;
  if (typeof major !== 'number' || !Number.isInteger(major)) {
    throw invalid('nbformat must be an integer', 'nbformat');
  }
  if (major !== 4) {
    throw new NotebookError(
      'notebook_format_unsupported',
      major < 4
        ? `nbformat ${major} is not supported; convert the notebook to nbformat 4 first (jupyter nbconvert --to notebook --nbformat 4 --inplace, or nbformat.write(nbformat.read(path, as_version=4), path))`
        : `nbformat ${major} is newer than this runtime understands (4.x)`,
      {
        details: {
          nbformat: major,
          ...(major < 4
            ? {
                nextAction: {
                  kind: 'upgrade_notebook_format' as const,
                  fromMajor: major,
                  toMajor: 4 as const,
                  command: UPGRADE_COMMAND,
                },
              }
            : {}),
        },
      },
    );
  }
  const minor = Object.hasOwn(value, 'nbformat_minor') ? value.nbformat_minor : undefined;
  if (typeof minor !== 'number' || !Number.isInteger(minor) || minor < 0) {
    throw invalid('nbformat_minor must be an integer ≥ 0', 'nbformat_minor');
  }
  return minor;
}

function detectStyle(text: string, open: number, first: MemberSpan | undefined): JsonStyle {
  if (!first) return { indent: ' ', eol: '\n', colon: ': ' };
  const lead = text.slice(open + 1, first.value.start - first.keyRaw.length - first.colon.length);
  const newline = lead.lastIndexOf('\n');
  if (newline < 0) return { indent: undefined, eol: '\n', colon: first.colon };
  const indent = lead.slice(newline + 1);
  return {
    indent: indent.length > 0 ? indent : undefined,
    eol: lead.includes('\r\n') ? '\r\n' : '\n',
    colon: first.colon,
  };
}

function duplicateKey(members: readonly { key: string }[]): string | undefined {
  const seen = new Set<string>();
  for (const { key } of members) {
    if (seen.has(key)) return key;
    seen.add(key);
  }
  return undefined;
}

export function joinSource(source: unknown): string {
  return typeof source === 'string' ? source : (source as string[]).join('');
}

/** Splits a source into lines that keep their `\n`, as nbformat writes list-form sources. */
export function splitSource(source: string): string[] {
  return source.split(/(?<=\n)/).filter((line) => line.length > 0);
}

export function encodeSource(source: string, form: SourceForm): string | string[] {
  return form === 'list' ? splitSource(source) : source;
}

export interface ParseOptions {
  maxBytes?: number;
}

export function parseNotebook(
  input: string | Uint8Array,
  options: ParseOptions = {},
): ParsedNotebook {
  const { text, hash } = decode(input, options.maxBytes ?? MAX_NOTEBOOK_BYTES);
  const bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let value: unknown;
  try {
    value = JSON.parse(bom ? text.slice(1) : text);
  } catch (error) {
    throw new NotebookError('notebook_invalid', 'the notebook is not valid JSON', {
      cause: error,
    });
  }
  if (!isObject(value)) throw invalid('the notebook must be a JSON object');
  if (Object.hasOwn(value, 'worksheets') && !Object.hasOwn(value, 'cells')) {
    // nbformat 3 keeps cells under worksheets; report the version even if nbformat is odd.
    checkVersion({ nbformat: typeof value.nbformat === 'number' ? value.nbformat : 3 });
  }
  let nbformatMinor = checkVersion(value);
  const cellsValue = Object.hasOwn(value, 'cells') ? value.cells : undefined;
  if (!Array.isArray(cellsValue)) throw invalid('cells must be an array', 'cells');
  if (cellsValue.length > MAX_CELLS) {
    throw new NotebookError(
      'notebook_too_many_cells',
      `the notebook has ${cellsValue.length} cells; the limit is ${MAX_CELLS}`,
      { details: { cells: cellsValue.length, limit: MAX_CELLS } },
    );
  }
  if (!isObject(Object.hasOwn(value, 'metadata') ? value.metadata : undefined)) {
    throw invalid('metadata must be an object', 'metadata');
  }

  const open = skipWs(text, bom);
  // Cells are only delimited here; a cell's members are scanned when it is first edited.
  const cellSpans: { start: number; end: number }[] = [];
  let top: { members: MemberSpan[]; end: number };
  try {
    top = scanObject(text, open, 1, MAX_JSON_DEPTH, (key, valueStart) => {
      if (key !== 'cells') return undefined;
      return scanArray(text, valueStart, 2, MAX_JSON_DEPTH, (index, start) => {
        if (text[start] !== '{')
          throw invalid(`cells[${index}] must be an object`, `cells[${index}]`);
        const end = skipValue(text, start, 2, MAX_JSON_DEPTH);
        cellSpans.push({ start, end });
        return end;
      }).end;
    });
  } catch (error) {
    if (error instanceof DepthError) {
      throw invalid(`the notebook nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
    }
    throw error;
  }
  const dupTop = duplicateKey(top.members);
  if (dupTop !== undefined) throw invalid(`duplicate key ${JSON.stringify(dupTop)}`, dupTop);

  const style = detectStyle(text, open, top.members[0]);
  const topMembers: Member[] = top.members.map((m) => ({
    key: m.key,
    keyRaw: m.keyRaw,
    raw: text.slice(m.value.start, m.value.end),
    value: m.key === 'cells' ? undefined : value[m.key],
  }));
  const topObject = RawObject.fromMembers(topMembers, text.slice(open, top.end), 1);

  // Cells: shape first, then ids in two passes (valid unique ids are kept first, so a derived
  // id never takes one a later cell already has).
  const cells: CellRecord[] = [];
  const repairs: Repair[] = [];
  const taken = new Set<string>();
  const keep: boolean[] = [];
  for (let index = 0; index < cellSpans.length; index++) {
    const span = cellSpans[index] as { start: number; end: number };
    const cellValue = cellsValue[index] as Record<string, unknown>;
    const shape = CellShape.safeParse(cellValue);
    if (!shape.success) {
      throw invalid(
        `cells[${index}] is not a valid cell: ${describeIssues(shape.error)}`,
        `cells[${index}]`,
      );
    }
    const source = cellValue.source;
    const id = Object.hasOwn(cellValue, 'id') ? cellValue.id : undefined;
    const valid = isValidCellId(id) && !taken.has(id);
    if (valid) taken.add(id);
    keep.push(valid);
    cells.push({
      obj: RawObject.fromText(text.slice(span.start, span.end), cellValue, 3),
      id: valid ? id : '',
      type: cellValue.cell_type as CellType,
      source: joinSource(source),
      sourceForm: Array.isArray(source) ? 'list' : 'string',
    });
  }
  for (let index = 0; index < cells.length; index++) {
    const cell = cells[index] as CellRecord;
    if (!keep[index]) {
      const previous = cell.obj.get('id');
      cell.id = derivedCellId(cell.type, cell.source, taken);
      taken.add(cell.id);
      cell.obj.set('id', cell.id);
      repairs.push(
        previous === undefined
          ? { kind: 'cell_id_added', index, cellId: cell.id }
          : {
              kind: 'cell_id_replaced',
              index,
              cellId: cell.id,
              reason: isValidCellId(previous) ? 'duplicate' : 'invalid',
            },
      );
    }
    const fields: ('metadata' | 'outputs' | 'execution_count')[] = ['metadata'];
    if (cell.type === 'code') fields.push('outputs', 'execution_count');
    for (const field of fields) {
      if (cell.obj.has(field)) continue;
      cell.obj.set(field, field === 'metadata' ? {} : field === 'outputs' ? [] : null);
      repairs.push({ kind: 'cell_field_added', index, cellId: cell.id, field });
    }
  }
  if (nbformatMinor < 5) {
    repairs.push({ kind: 'format_upgraded', from: `4.${nbformatMinor}`, to: '4.5' });
    topObject.set('nbformat_minor', 5);
    nbformatMinor = 5;
  }
  const forms = cells.map((c) => c.sourceForm);
  return {
    text,
    hash,
    prefix: text.slice(0, open),
    suffix: text.slice(top.end),
    top: topObject,
    cells,
    style,
    defaultSourceForm: forms.length > 0 && forms.every((f) => f === 'string') ? 'string' : 'list',
    nbformatMinor,
    repairs,
  };
}
