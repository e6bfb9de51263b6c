export const EnvDetectionErrorCode = {
  unsupportedRuntime: 'unsupported_runtime',
  notebookInvalid: 'notebook_invalid',
  notebookTooLarge: 'notebook_too_large',
  projectFileInvalid: 'project_file_invalid',
  invalidDependency: 'invalid_dependency',
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
};

export class EnvDetectionError extends Error {
  override readonly name = 'EnvDetectionError';
  readonly code: EnvDetectionErrorCode;

  constructor(code: EnvDetectionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
