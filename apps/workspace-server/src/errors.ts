import { ConfigBundleHttpStatus } from '@runyard/config-bundles';
import { envDetectionErrorStatus } from '@runyard/env-detection';
import { createErrorHandler, errorBody, httpErrorStatus, statusTable } from '@runyard/http';
import { kernelErrorHttpStatus } from '@runyard/kernels';
import { RuntimeError, runtimeErrorStatus } from '@runyard/runtime-registry';
import { skillsErrorStatus } from '@runyard/skills-reconciler';
import { trustErrorStatus } from '@runyard/trust';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** Failures the workspace server itself decides (everything else comes from a package). */
export const WorkspaceErrorCode = {
  skillsPolicyForceOff: 'skills_policy_force_off',
  skillsNotConfigured: 'skills_not_configured',
  defaultRuntimeProtected: 'default_runtime_protected',
  invalidRuntimeUrl: 'invalid_runtime_url',
  runtimeUrlNotAllowed: 'runtime_url_not_allowed',
  workerIdTaken: 'worker_id_taken',
  remoteWorkerIdRefused: 'remote_worker_id_refused',
  mcpMethodNotAllowed: 'mcp_method_not_allowed',
  trustPackageNotFound: 'trust_package_not_found',
  dataDirInUse: 'data_dir_in_use',
} as const;
export type WorkspaceErrorCode = (typeof WorkspaceErrorCode)[keyof typeof WorkspaceErrorCode];

export const workspaceErrorStatus: Record<WorkspaceErrorCode, number> = {
  skills_policy_force_off: 403,
  skills_not_configured: 409,
  default_runtime_protected: 409,
  invalid_runtime_url: 400,
  runtime_url_not_allowed: 403,
  worker_id_taken: 409,
  remote_worker_id_refused: 502,
  mcp_method_not_allowed: 405,
  trust_package_not_found: 404,
  data_dir_in_use: 409,
};

export class WorkspaceError extends Error {
  override readonly name = 'WorkspaceError';
  readonly code: WorkspaceErrorCode;
  constructor(code: WorkspaceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * One lookup from every package's code table. Later tables win, so the runtime's own codes
 * (which it may share with a lower package, e.g. `invalid_request`) keep the runtime's status.
 */
export const statusForCode = statusTable(
  httpErrorStatus,
  envDetectionErrorStatus,
  trustErrorStatus,
  ConfigBundleHttpStatus,
  skillsErrorStatus,
  kernelErrorHttpStatus,
  runtimeErrorStatus,
  workspaceErrorStatus,
);

/** The HTTP status for any thrown value, as the REST layer would answer it. */
export function statusOf(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const known = statusForCode(code);
    if (known !== undefined) return known;
  }
  if (error instanceof RuntimeError && error.status !== undefined) return error.status;
  return 500;
}

/**
 * The shared error handler plus one case it cannot know: a sanitised remote runtime error
 * whose code is the remote's own keeps the status the remote answered with.
 */
export function createWorkspaceErrorHandler() {
  const base = createErrorHandler(statusForCode);
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (
      error instanceof RuntimeError &&
      statusForCode(error.code) === undefined &&
      error.status !== undefined &&
      error.status >= 400 &&
      error.status < 600
    ) {
      return reply.code(error.status).send(errorBody(error.code, error.message));
    }
    return base(error, request, reply);
  };
}
