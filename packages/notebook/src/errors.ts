export const NotebookErrorCode = {
  /** Not JSON, not UTF-8, or not shaped like an nbformat 4 notebook (details name the path). */
  invalid: 'notebook_invalid',
  /** nbformat 3 or older, or a future major: refused, with how to upgrade as data. */
  formatUnsupported: 'notebook_format_unsupported',
  /** The document (bytes on load, or the serialised result on save) is over the limit. */
  tooLarge: 'notebook_too_large',
  /** More cells than `MAX_CELLS`. */
  tooManyCells: 'notebook_too_many_cells',
  /** No cell with this id in the document. */
  cellNotFound: 'cell_not_found',
  /** A cell id outside nbformat 4.5's `^[a-zA-Z0-9-_]{1,64}$`, or already used by another cell. */
  invalidCellId: 'invalid_cell_id',
  /** An insert/move index outside `0..cellCount`, or a paging offset/limit out of range. */
  cellIndexOutOfRange: 'cell_index_out_of_range',
  /** A cell's source over `MAX_CELL_SOURCE_BYTES`. */
  cellSourceTooLarge: 'cell_source_too_large',
  /** A cell's outputs over `MAX_CELL_OUTPUTS_BYTES`, or nested deeper than `MAX_JSON_DEPTH`. */
  cellOutputsTooLarge: 'cell_outputs_too_large',
  /** Outputs or an execution count on a cell that is not a code cell. */
  notACodeCell: 'not_a_code_cell',
  /** Outputs that are not nbformat 4 outputs, or a request field of the wrong shape. */
  invalidRequest: 'notebook_invalid_request',
  /** The regular expression does not compile (details carry the engine's message). */
  invalidRegex: 'invalid_regex',
  /** The regular expression did not finish within its time budget (catastrophic backtracking). */
  regexTimeout: 'regex_timeout',
  /** The operation named a `baseRevision` that is not the document's current revision. */
  revisionConflict: 'notebook_revision_conflict',
  /** The file on disk changed since it was loaded/saved while this document has unsaved edits. */
  changedOnDisk: 'notebook_changed_on_disk',
  /** An event-stream resume point older than the buffer (or from another document lifetime). */
  eventGap: 'notebook_event_gap',
} as const;

export type NotebookErrorCode = (typeof NotebookErrorCode)[keyof typeof NotebookErrorCode];

/**
 * The HTTP status each code means. The status also rides on every error (`error.status`), so a
 * server reads it from the error instead of merging tables.
 */
export const notebookErrorStatus: Readonly<Record<NotebookErrorCode, number>> = {
  notebook_invalid: 400,
  notebook_format_unsupported: 422,
  notebook_too_large: 413,
  notebook_too_many_cells: 413,
  cell_not_found: 404,
  invalid_cell_id: 400,
  cell_index_out_of_range: 400,
  cell_source_too_large: 413,
  cell_outputs_too_large: 413,
  not_a_code_cell: 400,
  notebook_invalid_request: 400,
  invalid_regex: 400,
  regex_timeout: 422,
  notebook_revision_conflict: 409,
  notebook_changed_on_disk: 409,
  notebook_event_gap: 410,
};

/**
 * What a caller can do about a blocked state, as data; each transport renders its own call
 * (REST path, MCP tool, desktop button) from it.
 */
export type NotebookNextAction =
  | {
      kind: 'upgrade_notebook_format';
      fromMajor: number;
      toMajor: 4;
      /** A command that converts the file in place, `<path>` standing for the notebook's path. */
      command: string[];
    }
  | {
      kind: 'resolve_disk_conflict';
      /** sha256 (hex) of the bytes now on disk. */
      diskHash: string;
      /** sha256 (hex) of the bytes this document was loaded from or last saved as. */
      knownHash: string;
      choices: {
        choice: 'reload_from_disk' | 'overwrite_disk' | 'save_to_other_path';
        /** What the choice throws away. */
        discards: 'unsaved_changes' | 'disk_changes' | 'nothing';
      }[];
    }
  | { kind: 'refetch_document'; currentRevision: number }
  | { kind: 'resync_events'; oldestSeq: number | undefined; latestSeq: number };

export type NotebookErrorDetails = Record<string, unknown> & { nextAction?: NotebookNextAction };

/**
 * Every failure of this package. Messages name fields, ids and limits, never cell contents or
 * host paths (a source may hold a credential the kernel printed).
 */
export class NotebookError extends Error {
  override readonly name = 'NotebookError';
  readonly code: NotebookErrorCode;
  readonly status: number;
  readonly details: NotebookErrorDetails;

  constructor(
    code: NotebookErrorCode,
    message: string,
    options?: { cause?: unknown; details?: NotebookErrorDetails },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = notebookErrorStatus[code];
    this.details = options?.details ?? {};
  }

  toJSON(): { code: NotebookErrorCode; message: string; details: NotebookErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isNotebookError(error: unknown, code?: NotebookErrorCode): error is NotebookError {
  return error instanceof NotebookError && (code === undefined || error.code === code);
}
