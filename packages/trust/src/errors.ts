export const TrustErrorCode = {
  keyInsecure: 'trust_key_insecure',
  keyInvalid: 'trust_key_invalid',
  keyUnavailable: 'trust_key_unavailable',
  metadataInvalid: 'trust_metadata_invalid',
  metadataTooLarge: 'trust_metadata_too_large',
  fingerprintMismatch: 'trust_fingerprint_mismatch',
  inputInvalid: 'trust_input_invalid',
  storeCorrupt: 'trust_store_corrupt',
  storeBusy: 'trust_store_busy',
  storeFailed: 'trust_store_failed',
} as const;

export type TrustErrorCode = (typeof TrustErrorCode)[keyof typeof TrustErrorCode];

/**
 * Suggested HTTP statuses per code; only the apps map codes to statuses. Key and store
 * problems are the host's, not the caller's, so they are 5xx.
 */
export const trustErrorStatus: Record<TrustErrorCode, number> = {
  trust_key_insecure: 500,
  trust_key_invalid: 500,
  trust_key_unavailable: 500,
  trust_metadata_invalid: 400,
  trust_metadata_too_large: 413,
  trust_fingerprint_mismatch: 409,
  trust_input_invalid: 400,
  trust_store_corrupt: 500,
  trust_store_busy: 503,
  trust_store_failed: 500,
};

/** Every failure of this package. Messages never contain host paths or key material. */
export class TrustError extends Error {
  override readonly name = 'TrustError';
  readonly code: TrustErrorCode;

  constructor(code: TrustErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
