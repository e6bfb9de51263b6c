export const EnvDetectionErrorCode = {
  unsupportedRuntime: 'unsupported_runtime',
  notebookInvalid: 'notebook_invalid',
  notebookTooLarge: 'notebook_too_large',
  projectFileInvalid: 'project_file_invalid',
  invalidDependency: 'invalid_dependency',
  /** A caller-supplied argument is unusable (e.g. a relative path where an absolute one is required). */
  invalidInput: 'invalid_input',
  /** A PEP 723 `# /// script` block in a code cell is not valid TOML or not the PEP's shape. */
  pep723Invalid: 'pep723_invalid',
  /** Two PEP 723 `# /// script` blocks: the PEP requires tools to refuse them. */
  pep723Duplicate: 'pep723_duplicate',
} as const;

export type EnvDetectionErrorCode =
  (typeof EnvDetectionErrorCode)[keyof typeof EnvDetectionErrorCode];

/** Suggested HTTP statuses; only the apps map codes to statuses. */
export const envDetectionErrorStatus: Record<EnvDetectionErrorCode, number> = {
  unsupported_runtime: 422,
  notebook_invalid: 400,
  notebook_too_large: 413,
  project_file_invalid: 422,
  invalid_dependency: 400,
  invalid_input: 400,
  pep723_invalid: 422,
  pep723_duplicate: 422,
};

/**
 * Machine-readable context for an error. Never host paths: `path` is relative to the notebook's
 * directory (e.g. `../pyproject.toml`).
 */
export interface EnvDetectionErrorDetails {
  readonly path?: string;
  readonly line?: number;
  readonly column?: number;
  /** The language or kernel name that `unsupported_runtime` refers to. */
  readonly language?: string;
  /** 1-based cell number (as notebook UIs count) a PEP 723 error is about. */
  readonly cell?: number;
  /** Both cells of a duplicate PEP 723 block (the same number twice for one cell). */
  readonly cells?: readonly number[];
  /** The cell's nbformat id, when it has a plain one. */
  readonly cellId?: string;
}

export class EnvDetectionError extends Error {
  override readonly name = 'EnvDetectionError';
  readonly code: EnvDetectionErrorCode;
  readonly details: EnvDetectionErrorDetails;

  constructor(
    code: EnvDetectionErrorCode,
    message: string,
    options?: { cause?: unknown; details?: EnvDetectionErrorDetails },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.details = options?.details ?? {};
  }
}
