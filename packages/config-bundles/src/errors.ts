export const ConfigBundleErrorCode = {
  invalidBundle: 'invalid_bundle',
  invalidBundleId: 'invalid_bundle_id',
  digestMismatch: 'config_bundle_digest_mismatch',
  unsupportedDeclaration: 'unsupported_config_declaration',
  forbiddenContent: 'config_bundle_forbidden_content',
  tooLarge: 'config_bundle_too_large',
  immutable: 'config_bundle_immutable',
  missing: 'config_bundle_missing',
  required: 'config_bundle_required',
  invalidProfileSelector: 'invalid_profile_selector',
  capabilityNotGranted: 'capability_not_granted',
  invalidWorkerRequest: 'invalid_worker_request',
  secretUnavailable: 'secret_unavailable',
  storeFailed: 'config_bundle_store_failed',
} as const;

export type ConfigBundleErrorCode =
  (typeof ConfigBundleErrorCode)[keyof typeof ConfigBundleErrorCode];

/**
 * Suggested HTTP status per code. Only the apps map codes to statuses; this table keeps them
 * consistent. A forbidden-content or shape problem is the caller's fault (400); an oversized body
 * is 413 so proxies and clients can tell it apart from a malformed one.
 */
export const ConfigBundleHttpStatus: Readonly<Record<ConfigBundleErrorCode, number>> = {
  invalid_bundle: 400,
  invalid_bundle_id: 400,
  config_bundle_digest_mismatch: 400,
  unsupported_config_declaration: 400,
  config_bundle_forbidden_content: 400,
  config_bundle_too_large: 413,
  config_bundle_immutable: 409,
  config_bundle_missing: 404,
  config_bundle_required: 400,
  invalid_profile_selector: 400,
  capability_not_granted: 403,
  invalid_worker_request: 400,
  secret_unavailable: 422,
  config_bundle_store_failed: 500,
};

/**
 * Every failure of this package. Messages name fields and rules, never the offending value: a
 * rejected value may be a credential or a host path.
 */
export class ConfigBundleError extends Error {
  override readonly name = 'ConfigBundleError';
  readonly code: ConfigBundleErrorCode;
  /** Dotted path of the offending field when there is one (e.g. `profiles[0].label`). */
  readonly field: string | undefined;

  constructor(
    code: ConfigBundleErrorCode,
    message: string,
    options?: { cause?: unknown; field?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options?.field;
  }

  toJSON(): { code: ConfigBundleErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export function isConfigBundleError(
  error: unknown,
  code?: ConfigBundleErrorCode,
): error is ConfigBundleError {
  return error instanceof ConfigBundleError && (code === undefined || error.code === code);
}
