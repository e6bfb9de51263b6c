// PEP 723 inline script metadata (https://peps.python.org/pep-0723/) in notebook code cells:
//
//   # /// script
//   # requires-python = ">=3.11"
//   # dependencies = ["httpx"]
//   # ///
//
// `uv run` reads such a block from a script; nteract reads it from a notebook's code cells. The
// PEP's reference regex is `^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$`:
// a block is a run of comment lines (`#` or `# ...`) after the opening line, closed by the LAST
// `# ///` line of that run (the content pattern is greedy). An unclosed block is no block. Two
// `script` blocks are an error the PEP requires tools to raise.
import { parse as parseTomlText, TomlError } from 'smol-toml';
import { z } from 'zod';
import { EnvDetectionError } from './errors.js';

/** Most dependencies one block may declare (the same limit as inline metadata). */
export const MAX_PEP723_DEPENDENCIES = 500;
/** Deepest TOML nesting accepted inside a block. */
const MAX_PEP723_NESTING = 64;

/** Where a block sits: 1-based cell number (as notebook UIs count) and the cell's id if any. */
export interface CellRef {
  /** 1-based position among all cells of the notebook. */
  cell: number;
  cellId?: string;
}

export interface Pep723Block extends CellRef {
  /** 0-based index into `notebook.cells`. */
  cellIndex: number;
  /** 1-based line of `# /// script` in the cell's source. */
  startLine: number;
  /** 1-based line of the closing `# ///`. */
  endLine: number;
  /** The TOML text: each content line without its `# ` (or `#`) prefix. */
  toml: string;
}

export interface Pep723Metadata {
  block: Pep723Block;
  dependencies: string[];
  requiresPython?: string;
  /** `{ dependencies?, 'requires-python'? }` as written: what trust signs for the block. */
  section: Record<string, unknown>;
}

const OPEN = '# /// script';
const CLOSE = '# ///';

/** A code cell's source as one string, or undefined for anything that is not a code cell. */
export function codeCellSource(cell: unknown): string | undefined {
  if (typeof cell !== 'object' || cell === null || Array.isArray(cell)) return undefined;
  const { cell_type: type, source } = cell as { cell_type?: unknown; source?: unknown };
  if (type !== 'code') return undefined;
  if (typeof source === 'string') return source;
  if (Array.isArray(source) && source.every((line) => typeof line === 'string'))
    return source.join('');
  return undefined;
}

function cellRef(cell: unknown, index: number): CellRef {
  const id = (cell as { id?: unknown }).id;
  return {
    cell: index + 1,
    ...(typeof id === 'string' && id.length <= 64 && /^[A-Za-z0-9_-]+$/.test(id)
      ? { cellId: id }
      : {}),
  };
}

export function describeCell(ref: CellRef): string {
  return ref.cellId ? `cell ${ref.cell} (id ${ref.cellId})` : `cell ${ref.cell}`;
}

const isContent = (line: string) => line === '#' || line.startsWith('# ');

/** The `script` blocks of one source, in order (the caller decides what two of them mean). */
export function findScriptBlocks(
  source: string,
): { startLine: number; endLine: number; toml: string }[] {
  // Cheap pre-check: almost no cell has a block, and splitting every cell would cost more.
  if (!source.includes(OPEN)) return [];
  const lines = source.split(/\r?\n/).map((line) => line.replace(/[ \t]+$/, ''));
  const blocks: { startLine: number; endLine: number; toml: string }[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i] !== OPEN) {
      i++;
      continue;
    }
    let close = -1;
    let j = i + 1;
    for (; j < lines.length && isContent(lines[j] as string); j++)
      if (lines[j] === CLOSE) close = j;
    if (close < 0) {
      // Unclosed: not a block. Scanning on from the next line finds a later opening line.
      i++;
      continue;
    }
    const toml = lines
      .slice(i + 1, close)
      .map((line) => (line === '#' ? '' : line.slice(2)))
      .join('\n');
    blocks.push({ startLine: i + 1, endLine: close + 1, toml });
    i = close + 1;
  }
  return blocks;
}

/**
 * Cheap test before a cell's source is joined and split: a block needs an opening line, and
 * trust and resolution scan every cell of every notebook on every start.
 */
function mayHoldBlock(cell: unknown): boolean {
  const source = (cell as { source?: unknown } | null)?.source;
  if (typeof source === 'string') return source.includes(OPEN);
  if (!Array.isArray(source)) return false;
  for (const line of source) if (typeof line === 'string' && line.includes(OPEN)) return true;
  return false;
}

/** Every `script` block of the notebook's code cells, in cell order. */
export function findPep723Blocks(cells: readonly unknown[] | undefined): Pep723Block[] {
  const found: Pep723Block[] = [];
  (cells ?? []).forEach((cell, cellIndex) => {
    if (!mayHoldBlock(cell)) return;
    const source = codeCellSource(cell);
    if (source === undefined) return;
    for (const block of findScriptBlocks(source))
      found.push({ ...cellRef(cell, cellIndex), cellIndex, ...block });
  });
  return found;
}

const ScriptTableSchema = z.looseObject({
  dependencies: z.array(z.string()).max(MAX_PEP723_DEPENDENCIES).optional(),
  'requires-python': z.string().max(256).optional(),
});

function oneLine(message: string): string {
  const line = (message.split('\n')[0] ?? '')
    .replace(/^Invalid TOML document:\s*/, '')
    .replace(/\s+at line \d+, column \d+:?\s*$/, '')
    .replace(/[^\x20-\x7e]/g, '?');
  return line.length > 160 ? `${line.slice(0, 160)}...` : line;
}

/** Parses one block's TOML; errors name the cell and the line in the cell. */
export function parsePep723Block(block: Pep723Block): Pep723Metadata {
  const where = describeCell(block);
  const at = { cell: block.cell, ...(block.cellId ? { cellId: block.cellId } : {}) };
  let value: unknown;
  try {
    value = parseTomlText(block.toml, { maxDepth: MAX_PEP723_NESTING, unsafeKeyBehaviour: 'drop' });
  } catch (error) {
    // A TOML line n is line startLine + n of the cell (the block's content starts below `# /// script`).
    const line = error instanceof TomlError ? block.startLine + error.line : block.startLine;
    throw new EnvDetectionError(
      'pep723_invalid',
      `the # /// script block in ${where} is not valid TOML at line ${line}: ${error instanceof TomlError ? oneLine(error.message) : 'unreadable'}`,
      { cause: error, details: { ...at, line } },
    );
  }
  const parsed = ScriptTableSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EnvDetectionError(
      'pep723_invalid',
      `the # /// script block in ${where} (line ${block.startLine}): ${issue?.path.join('.') || 'table'}: ${issue?.message ?? 'wrong shape'}`,
      { details: { ...at, line: block.startLine } },
    );
  }
  const { dependencies, 'requires-python': requiresPython } = parsed.data;
  return {
    block,
    dependencies: dependencies ?? [],
    ...(requiresPython !== undefined ? { requiresPython } : {}),
    section: {
      ...(dependencies !== undefined ? { dependencies } : {}),
      ...(requiresPython !== undefined ? { 'requires-python': requiresPython } : {}),
    },
  };
}

/**
 * The notebook's PEP 723 metadata: undefined without a block; `pep723_duplicate` naming both
 * cells when there are two (anywhere among the code cells, or twice in one cell), as the PEP
 * requires; `pep723_invalid` with the cell and line when the block is not valid TOML or not
 * the PEP's shape.
 */
export function readPep723(cells: readonly unknown[] | undefined): Pep723Metadata | undefined {
  const blocks = findPep723Blocks(cells);
  const [first, second] = blocks;
  if (!first) return undefined;
  if (second) {
    const which =
      first.cellIndex === second.cellIndex
        ? `${describeCell(first)} holds two (lines ${first.startLine} and ${second.startLine})`
        : `${describeCell(first)} and ${describeCell(second)} each hold one`;
    throw new EnvDetectionError(
      'pep723_duplicate',
      `PEP 723 allows one # /// script block per notebook; ${which}. Merge them into one block.`,
      {
        details: {
          cells: [first.cell, second.cell],
          line: second.startLine,
          ...(second.cellId ? { cellId: second.cellId } : {}),
        },
      },
    );
  }
  return parsePep723Block(first);
}
