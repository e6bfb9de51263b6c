import { createHash, randomUUID } from 'node:crypto';

/** nbformat 4.5's cell id rule. */
export const CELL_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

export function isValidCellId(value: unknown): value is string {
  return typeof value === 'string' && CELL_ID_PATTERN.test(value);
}

/**
 * The id given to a cell that has none (or an invalid or duplicate one) when a document is
 * loaded: derived from the cell's type and source, so loading the same bytes again (a runtime
 * restart before the first save) yields the same ids, and an edit to another cell on disk does
 * not renumber this one. Cells with equal content get `-2`, `-3`, … in document order.
 */
export function derivedCellId(
  cellType: string,
  source: string,
  taken: ReadonlySet<string>,
): string {
  const base = createHash('sha256').update(`${cellType}\0${source}`).digest('hex').slice(0, 8);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) {
    const candidate = `${base}-${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/** A fresh id for a new cell, in Jupyter's form (8 hex digits of a random UUID). */
export function randomCellId(taken: { has(id: string): boolean }): string {
  for (;;) {
    const candidate = randomUUID().replace(/-/g, '').slice(0, 8);
    if (!taken.has(candidate)) return candidate;
  }
}
