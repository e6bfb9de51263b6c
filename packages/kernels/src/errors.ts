export const KernelErrorCode = {
  missingIpykernel: 'missing_ipykernel',
  kernelExited: 'kernel_exited',
  kernelStartTimeout: 'kernel_start_timeout',
  kernelDead: 'kernel_dead',
  kernelShutdown: 'kernel_shutdown',
  /** Reading a kernel channel failed (not a close): the kernel is marked dead with this reason. */
  kernelChannelFailed: 'kernel_channel_failed',
  kernelspecInvalid: 'kernelspec_invalid',
  executeTimeout: 'execute_timeout',
  executeCancelled: 'execute_cancelled',
  requestTimeout: 'request_timeout',
  launchAborted: 'launch_aborted',
  denoNotFound: 'deno_not_found',
  pythonNotFound: 'python_not_found',
  envManagerUnavailable: 'env_manager_unavailable',
  envBuildFailed: 'env_build_failed',
  envBuildAborted: 'env_build_aborted',
  condaEnvYmlMissing: 'conda_env_yml_missing',
  envHashInvalid: 'env_hash_invalid',
  /** A dependency or channel outside its ecosystem's grammar, or shaped like a command-line option. */
  invalidDependency: 'invalid_dependency',
  /** The runtime dir for connection files is a symlink, not a directory, or not ours. */
  runtimeDirInsecure: 'runtime_dir_insecure',
  /** `claim()` on a kernel pool after `stop()`, or `whenWarm()` after it. */
  kernelPoolStopped: 'kernel_pool_stopped',
  /** `whenWarm()` on a kernel pool that was never started. */
  kernelPoolNotStarted: 'kernel_pool_not_started',
  /** A conda env cannot be moved: its prefix is baked into binaries and scripts. */
  envNotRelocatable: 'env_not_relocatable',
} as const;
export type KernelErrorCode = (typeof KernelErrorCode)[keyof typeof KernelErrorCode];

/** Suggested HTTP statuses per code; only apps map codes to statuses. */
export const kernelErrorHttpStatus: Readonly<Record<KernelErrorCode, number>> = {
  missing_ipykernel: 422,
  kernel_exited: 502,
  kernel_start_timeout: 504,
  kernel_dead: 502,
  kernel_shutdown: 409,
  kernel_channel_failed: 502,
  kernelspec_invalid: 422,
  execute_timeout: 504,
  execute_cancelled: 499,
  request_timeout: 504,
  launch_aborted: 499,
  deno_not_found: 503,
  python_not_found: 503,
  env_manager_unavailable: 503,
  env_build_failed: 502,
  env_build_aborted: 499,
  conda_env_yml_missing: 422,
  env_hash_invalid: 400,
  invalid_dependency: 400,
  runtime_dir_insecure: 500,
  kernel_pool_stopped: 409,
  kernel_pool_not_started: 409,
  env_not_relocatable: 409,
};

/**
 * Diagnostic detail kept off the message (messages never carry host paths): stderr tails and
 * exit codes live here so callers can show them to an operator deliberately.
 */
export interface KernelErrorDetails {
  exitCode?: number | null;
  signal?: string | null;
  stderrTail?: string[];
  /**
   * The failing command's whole output (stdout and stderr interleaved, as lines), bounded to
   * the last `MAX_BUILD_LOG_BYTES`; only env builds set it. May contain host paths.
   */
  log?: string[];
}

/** How much of a failed build's output an error keeps (the end, where the reason is). */
export const MAX_BUILD_LOG_BYTES = 256 * 1024;

export class KernelError extends Error {
  override readonly name = 'KernelError';
  readonly code: KernelErrorCode;
  readonly details: KernelErrorDetails;

  constructor(
    code: KernelErrorCode,
    message: string,
    options?: { cause?: unknown; details?: KernelErrorDetails },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details ?? {};
  }
}

export function isKernelError(error: unknown, code?: KernelErrorCode): error is KernelError {
  return error instanceof KernelError && (code === undefined || error.code === code);
}
