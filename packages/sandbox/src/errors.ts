export const SandboxErrorCode = {
  /** `sandbox: 'required'` but no working bubblewrap on this host: a startup error. */
  sandboxUnavailable: 'sandbox_unavailable',
  /** This kind of worker cannot run inside the sandbox (e.g. a kernel without ipc transport). */
  sandboxUnsupported: 'sandbox_unsupported',
  /** A profile grants a mount or network policy this host does not define: fail closed. */
  grantUnresolved: 'grant_unresolved',
  /** A sandbox spec the launcher refuses (relative paths, `..`, bad env names). */
  invalidSandboxSpec: 'invalid_sandbox_spec',
  /** An egress grant that cannot be honoured (bad host, secret value unusable in a header). */
  invalidGrant: 'invalid_grant',
  /** The per-runtime proxy CA on disk is unreadable, malformed or has loose permissions. */
  proxyCaInvalid: 'proxy_ca_invalid',
  /** The proxy refused a destination that no grant covers. */
  destinationNotGranted: 'destination_not_granted',
  /** A known placeholder was sent to a destination not granted for its secret. */
  placeholderNotGranted: 'placeholder_not_granted',
  /** A placeholder-looking token that matches no grant: fail closed. */
  placeholderUnknown: 'placeholder_unknown',
  /** A request the proxy will not interpret safely (Host mismatch, dot segments, absolute form). */
  requestRefused: 'request_refused',
  /** The upstream could not be reached or its certificate did not verify. */
  upstreamFailed: 'upstream_failed',
} as const;

export type SandboxErrorCode = (typeof SandboxErrorCode)[keyof typeof SandboxErrorCode];

/** Suggested HTTP statuses; only the apps map codes to statuses. */
export const sandboxErrorStatus: Record<SandboxErrorCode, number> = {
  sandbox_unavailable: 503,
  sandbox_unsupported: 409,
  grant_unresolved: 422,
  invalid_sandbox_spec: 400,
  invalid_grant: 400,
  proxy_ca_invalid: 500,
  destination_not_granted: 403,
  placeholder_not_granted: 403,
  placeholder_unknown: 403,
  request_refused: 403,
  upstream_failed: 502,
};

export class SandboxError extends Error {
  override readonly name = 'SandboxError';
  readonly code: SandboxErrorCode;

  constructor(code: SandboxErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
