export const SkillsErrorCode = {
  manifestInvalid: 'manifest_invalid',
  manifestTooLarge: 'manifest_too_large',
  manifestFetchFailed: 'manifest_fetch_failed',
  manifestUnauthorized: 'manifest_unauthorized',
  manifestRedirectRefused: 'manifest_redirect_refused',
  skillInvalid: 'skill_invalid',
  skillNameConflict: 'skill_name_conflict',
  skillNameDuplicate: 'skill_name_duplicate',
  skillDrifted: 'skill_drifted',
  sourceUnsupported: 'source_unsupported',
  downloadFailed: 'download_failed',
  fetchTimeout: 'fetch_timeout',
  archiveTooLarge: 'archive_too_large',
  archiveUnsafe: 'archive_unsafe',
  archiveInvalid: 'archive_invalid',
  skillTooLarge: 'skill_too_large',
  digestMismatch: 'digest_mismatch',
  gitFailed: 'git_failed',
  projectRootMissing: 'project_root_missing',
  inventoryCorrupt: 'inventory_corrupt',
  skillsRootLocked: 'skills_root_locked',
  skillsRootUnsafe: 'skills_root_unsafe',
  installFailed: 'install_failed',
  policyInvalid: 'policy_invalid',
  policyDisabled: 'policy_disabled',
  reconcilerStopped: 'reconciler_stopped',
  reconcilerFailed: 'reconciler_failed',
  aborted: 'aborted',
} as const;

export type SkillsErrorCode = (typeof SkillsErrorCode)[keyof typeof SkillsErrorCode];

/** Suggested HTTP statuses; only the apps map codes to statuses. */
export const skillsErrorStatus: Record<SkillsErrorCode, number> = {
  manifest_invalid: 422,
  manifest_too_large: 413,
  manifest_fetch_failed: 502,
  manifest_unauthorized: 502,
  manifest_redirect_refused: 502,
  skill_invalid: 422,
  skill_name_conflict: 409,
  skill_name_duplicate: 409,
  skill_drifted: 409,
  source_unsupported: 422,
  download_failed: 502,
  fetch_timeout: 504,
  archive_too_large: 413,
  archive_unsafe: 422,
  archive_invalid: 422,
  skill_too_large: 413,
  digest_mismatch: 422,
  git_failed: 502,
  project_root_missing: 422,
  inventory_corrupt: 500,
  skills_root_locked: 409,
  skills_root_unsafe: 409,
  install_failed: 500,
  policy_invalid: 500,
  policy_disabled: 409,
  reconciler_stopped: 409,
  reconciler_failed: 500,
  aborted: 409,
};

/** Every failure of this package. Messages never carry host paths, tokens or secret values. */
export class SkillsError extends Error {
  override readonly name = 'SkillsError';
  readonly code: SkillsErrorCode;

  constructor(code: SkillsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isSkillsError(error: unknown): error is SkillsError {
  return error instanceof SkillsError;
}

/** Any thrown value as a SkillsError; unknown failures keep their cause but not their message. */
export function toSkillsError(
  error: unknown,
  fallback: SkillsErrorCode,
  message: string,
): SkillsError {
  if (error instanceof SkillsError) return error;
  if (isAbortError(error))
    return new SkillsError('aborted', 'the pass was stopped', { cause: error });
  return new SkillsError(fallback, message, { cause: error });
}

export function isAbortError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'AbortError' || (error as { code?: unknown } | null)?.code === 'ABORT_ERR';
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new SkillsError('aborted', 'the pass was stopped');
}
