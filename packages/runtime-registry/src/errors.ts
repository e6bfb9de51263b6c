export const RuntimeErrorCode = {
  notebookNotFound: 'notebook_not_found',
  workerNotFound: 'worker_not_found',
  pathOutsideWorkspace: 'path_outside_workspace',
  notebookExists: 'notebook_exists',
  notebookAwaitingTrust: 'notebook_awaiting_trust',
  notebookNotReady: 'notebook_not_ready',
  executionTimeout: 'execution_timeout',
  kernelDied: 'kernel_died',
  invalidRequest: 'invalid_request',
  runtimeClosed: 'runtime_closed',
  runtimeNotFound: 'runtime_not_found',
  runtimeExists: 'runtime_exists',
  defaultNotRemovable: 'default_runtime_not_removable',
  remoteAuthFailed: 'remote_runtime_auth_failed',
  remoteNotFound: 'remote_runtime_not_found',
  remoteHttpError: 'remote_runtime_http_error',
  remoteUnreachable: 'remote_runtime_unreachable',
  bundleSyncRejected: 'worker_config_bundle_sync_rejected',
  /** The runtime already runs its maximum number of notebook kernels (`maxKernels`). */
  tooManyKernels: 'too_many_kernels',
  /** A dependency edit the notebook's own layout cannot take safely (e.g. an odd PEP 723 block). */
  dependencyEditUnsupported: 'dependency_edit_unsupported',
  workspaceFileUnsafe: 'workspace_file_unsafe',
  runtimeDirInWorkspace: 'runtime_dir_in_workspace',
} as const;
export type RuntimeErrorCode = (typeof RuntimeErrorCode)[keyof typeof RuntimeErrorCode];

/** Suggested HTTP statuses; the apps map codes to statuses. */
export const runtimeErrorStatus: Record<RuntimeErrorCode, number> = {
  notebook_not_found: 404,
  worker_not_found: 404,
  path_outside_workspace: 400,
  notebook_exists: 409,
  notebook_awaiting_trust: 409,
  notebook_not_ready: 409,
  execution_timeout: 504,
  kernel_died: 500,
  invalid_request: 400,
  runtime_closed: 503,
  runtime_not_found: 404,
  runtime_exists: 409,
  default_runtime_not_removable: 409,
  remote_runtime_auth_failed: 502,
  remote_runtime_not_found: 404,
  remote_runtime_http_error: 502,
  remote_runtime_unreachable: 502,
  worker_config_bundle_sync_rejected: 409,
  too_many_kernels: 429,
  dependency_edit_unsupported: 409,
  workspace_file_unsafe: 409,
  runtime_dir_in_workspace: 400,
};

/**
 * Runtime and registry failures. `status` carries the HTTP status a remote runtime answered
 * with, so a sanitised remote error keeps both its code and its status.
 */
export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  readonly code: string;
  readonly status: number | undefined;

  constructor(
    code: RuntimeErrorCode | (string & {}),
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
    this.code = code;
    this.status = options?.status;
  }
}
