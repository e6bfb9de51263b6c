/** Largest `.ipynb` accepted on load and produced on save (outputs with images make real notebooks big). */
export const MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024;
/** Largest source of one cell (UTF-8 bytes) an edit may produce. */
export const MAX_CELL_SOURCE_BYTES = 10 * 1024 * 1024;
/** Largest outputs of one cell (serialised JSON bytes) a run may record. */
export const MAX_CELL_OUTPUTS_BYTES = 32 * 1024 * 1024;
/** Most cells in one document. */
export const MAX_CELLS = 100_000;
/**
 * Deepest JSON nesting accepted anywhere in a document or in recorded outputs. Real notebooks
 * stay under ~20 (Vega specs, widget state); the cap keeps every recursive consumer
 * (`JSON.stringify`, zod, a transport) far from its stack limit.
 */
export const MAX_JSON_DEPTH = 256;
/** Default and largest page of `listCells`. */
export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;
/** Longest source returned per cell by `listCells` (characters); `getCell` returns it whole. */
export const LIST_SOURCE_CHARS = 4000;
/** Longest text preview in an output summary (characters). */
export const OUTPUT_PREVIEW_CHARS = 200;
/** Longest regular-expression pattern accepted by `replaceInCell`. */
export const MAX_PATTERN_LENGTH = 4096;
/** Time budget of one regular-expression replacement before its worker is terminated. */
export const REGEX_TIMEOUT_MS = 1000;
/** Events kept for `since(seq)` resumption. */
export const EVENT_BUFFER_SIZE = 1000;
