export { type DiskDecision, decideDiskChange } from './disk.js';
export {
  type CellPage,
  type CellPosition,
  type CellView,
  type DocumentOptions,
  type MutationResult,
  NotebookDocument,
  type Revisioned,
  type SerializedNotebook,
} from './document.js';
export {
  isNotebookError,
  NotebookError,
  NotebookErrorCode,
  type NotebookErrorDetails,
  type NotebookNextAction,
  notebookErrorStatus,
} from './errors.js';
export {
  type CellField,
  EventLog,
  type NotebookEvent,
  type NotebookEventBody,
  type SinceResult,
} from './events.js';
export { CELL_ID_PATTERN, isValidCellId } from './ids.js';
export {
  DEFAULT_PAGE_LIMIT,
  EVENT_BUFFER_SIZE,
  LIST_SOURCE_CHARS,
  MAX_CELL_OUTPUTS_BYTES,
  MAX_CELL_SOURCE_BYTES,
  MAX_CELLS,
  MAX_JSON_DEPTH,
  MAX_NOTEBOOK_BYTES,
  MAX_PAGE_LIMIT,
  MAX_PATTERN_LENGTH,
  OUTPUT_PREVIEW_CHARS,
  REGEX_TIMEOUT_MS,
} from './limits.js';
export {
  type CellSummary,
  type CellType,
  type CutText,
  cutMiddle,
  DEFAULT_SHAPE_LIMITS,
  htmlToText,
  type OutputSummary,
  type ShapedOutputs,
  type ShapedPart,
  type ShapeLimits,
  shapeOutput,
  shapeOutputs,
  stripAnsi,
  summarizeOutputs,
} from './outputs.js';
export { type Repair, sha256Hex } from './parse.js';
export type { JsonStyle } from './raw-object.js';
export { compileRegex, type RegexReplaceRequest, RegexRunner } from './regex.js';
