// A remote runtime is another host: its error messages may name its filesystem, echo a token or
// carry a stack trace. Only the error code (from a closed list) and the HTTP status cross over;
// every message a caller sees is a fixed text chosen here.
import { ConfigBundleErrorCode } from '@runyard/config-bundles';
import { EnvDetectionErrorCode } from '@runyard/env-detection';
import { TrustErrorCode } from '@runyard/trust';
import { RuntimeError, RuntimeErrorCode } from './errors.js';

/**
 * Error codes of @runyard/kernels. Listed here rather than imported because the kernels root
 * export loads the native ZeroMQ binding, which a remote client must not need; a test checks
 * this list against the package.
 */
export const KERNEL_ERROR_CODES = [
  'missing_ipykernel',
  'kernel_exited',
  'kernel_start_timeout',
  'kernel_dead',
  'kernel_shutdown',
  'kernel_channel_failed',
  'kernelspec_invalid',
  'execute_timeout',
  'execute_cancelled',
  'request_timeout',
  'launch_aborted',
  'deno_not_found',
  'python_not_found',
  'env_manager_unavailable',
  'env_build_failed',
  'env_build_aborted',
  'conda_env_yml_missing',
  'env_hash_invalid',
  'invalid_dependency',
  'runtime_dir_insecure',
  'kernel_pool_stopped',
  'kernel_pool_not_started',
  'env_not_relocatable',
] as const;

/** Fixed texts for the codes callers act on; every other known code gets a generic text. */
const FIXED_MESSAGES: Record<string, string> = {
  notebook_not_found: 'the remote runtime has no such notebook',
  worker_not_found: 'the remote runtime has no such worker',
  path_outside_workspace: "the notebook path is outside the remote runtime's workspace",
  notebook_exists: 'a notebook already exists at that path on the remote runtime',
  notebook_awaiting_trust: "the notebook's dependencies need approval on the remote runtime",
  notebook_not_ready: 'the notebook is not ready on the remote runtime',
  execution_timeout: 'the execution timed out on the remote runtime',
  kernel_died: 'the kernel died on the remote runtime',
  invalid_request: 'the remote runtime refused the request as invalid',
  runtime_closed: 'the remote runtime is shutting down',
  body_too_large: 'the request body is too large for the remote runtime',
  remote_runtime_auth_failed: 'the remote runtime refused the credentials',
  remote_runtime_not_found: 'the remote runtime has no such resource',
  remote_runtime_http_error: 'the remote runtime failed to answer the request',
  remote_runtime_unreachable: 'the remote runtime could not be reached',
  invalid_bundle: 'the remote runtime refused the config bundle: invalid bundle',
  invalid_bundle_id: 'the remote runtime refused the config bundle: invalid bundle id',
  config_bundle_digest_mismatch:
    'the remote runtime refused the config bundle: digest does not match its content or the stored revision',
  unsupported_config_declaration:
    'the remote runtime refused the config bundle: unsupported declaration',
  config_bundle_forbidden_content:
    'the remote runtime refused the config bundle: it contains forbidden content',
  config_bundle_too_large: 'the remote runtime refused the config bundle: too large',
  config_bundle_immutable:
    'the remote runtime refused the config bundle: this id and revision is stored with different content',
  config_bundle_missing: 'the config bundle is not stored on the remote runtime',
  config_bundle_required: 'the remote runtime requires a config bundle for this worker',
  invalid_profile_selector: 'the remote runtime refused the worker profile selector',
  capability_not_granted: 'the worker asked for a capability its profile does not grant',
  invalid_worker_request: 'the remote runtime refused the worker request as invalid',
  secret_unavailable: 'a secret the worker needs is unavailable on the remote runtime',
  missing_ipykernel: 'ipykernel is missing from the environment on the remote runtime',
  env_build_failed: 'building the environment failed on the remote runtime',
  kernel_exited: 'the kernel exited on the remote runtime',
  dependency_edit_unsupported:
    "the remote runtime cannot write this edit into the notebook's PEP 723 # /// script block; edit the block in its cell directly, or delete it and add the dependencies again to declare them in the notebook metadata",
  pep723_duplicate:
    'the notebook has two PEP 723 # /// script blocks; PEP 723 allows one: merge them into one block',
  pep723_invalid: "a PEP 723 # /// script block in the notebook's code cells is not valid TOML",
};

const KNOWN_CODES: ReadonlySet<string> = new Set([
  ...Object.values(RuntimeErrorCode),
  ...Object.values(ConfigBundleErrorCode),
  ...Object.values(TrustErrorCode),
  ...Object.values(EnvDetectionErrorCode),
  ...KERNEL_ERROR_CODES,
  'body_too_large',
]);

/** Whether a code from a remote runtime is one Runyard defines (and so may be passed on). */
export function isKnownErrorCode(code: unknown): code is string {
  return typeof code === 'string' && KNOWN_CODES.has(code);
}

/** The fixed text a caller sees for a remote error with this (known) code. */
export function remoteErrorMessage(code: string): string {
  return FIXED_MESSAGES[code] ?? `the remote runtime failed the request (${code})`;
}

function fixed(code: string, status: number | undefined): RuntimeError {
  return new RuntimeError(
    code,
    remoteErrorMessage(code),
    status === undefined ? undefined : { status },
  );
}

function bodyCode(body: unknown): unknown {
  if (body === null || typeof body !== 'object') return undefined;
  const error = (body as { error?: unknown }).error;
  if (error === null || typeof error !== 'object') return undefined;
  return (error as { code?: unknown }).code;
}

/**
 * Turns a remote error response into a sanitised `RuntimeError`: 401/403 →
 * `remote_runtime_auth_failed`; a known code keeps its code; otherwise 404 →
 * `remote_runtime_not_found` and anything else → `remote_runtime_http_error`. The status is
 * always the one the remote answered with; the message is always a fixed text.
 */
export function sanitiseRemoteError(status: number, body: unknown): RuntimeError {
  if (status === 401 || status === 403) return fixed(RuntimeErrorCode.remoteAuthFailed, status);
  const code = bodyCode(body);
  if (isKnownErrorCode(code)) return fixed(code, status);
  if (status === 404) return fixed(RuntimeErrorCode.remoteNotFound, status);
  return fixed(RuntimeErrorCode.remoteHttpError, status);
}

/** Connection refused or reset, DNS failure, timeout: the remote never answered. */
export function unreachableError(): RuntimeError {
  return fixed(RuntimeErrorCode.remoteUnreachable, undefined);
}

/** The remote answered 2xx with a body that is not what the contract says. */
export function malformedResponseError(status: number): RuntimeError {
  return new RuntimeError(
    RuntimeErrorCode.remoteHttpError,
    'the remote runtime sent a response that does not match the runtime contract',
    { status },
  );
}
