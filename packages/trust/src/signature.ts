import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Notebook } from '@runyard/env-detection';
import { notebookSignature, readNotebookDependencies } from './dependencies.js';
import { TrustError } from './errors.js';
import { TrustKey } from './key.js';

export const SIGNATURE_PREFIX = 'hmac-sha256:';
const SIGNATURE_PATTERN = /^hmac-sha256:([0-9a-f]{64})$/;

/** `valid`: made by this machine's key over exactly these dependencies. */
export type SignatureStatus = 'valid' | 'invalid' | 'missing';

export type TrustKeyInput = TrustKey | Uint8Array;

function keyBytes(key: TrustKeyInput): Buffer {
  if (key instanceof TrustKey) return key.bytes();
  return TrustKey.fromBytes(key).bytes();
}

function mac(key: TrustKeyInput, payload: string): Buffer {
  return createHmac('sha256', keyBytes(key)).update(payload, 'utf8').digest();
}

export interface SignOptions {
  /** Clock for `trust_timestamp` (tests inject one). */
  now?: () => Date;
}

/**
 * Returns a copy of the notebook with `metadata.runyard.trust_signature`
 * (`hmac-sha256:<hex>`) and `trust_timestamp` (RFC 3339) set. The input is not modified.
 */
export function signNotebookDependencies(
  notebook: unknown,
  key: TrustKeyInput,
  options: SignOptions = {},
): Notebook {
  const { notebook: parsed, payload } = readNotebookDependencies(notebook);
  const signature = `${SIGNATURE_PREFIX}${mac(key, payload).toString('hex')}`;
  const now = options.now?.() ?? new Date();
  if (Number.isNaN(now.getTime())) {
    throw new TrustError('trust_input_invalid', 'the clock returned an invalid date');
  }
  return {
    ...parsed,
    metadata: {
      ...parsed.metadata,
      runyard: {
        ...parsed.metadata.runyard,
        trust_signature: signature,
        trust_timestamp: now.toISOString(),
      },
    },
  };
}

/** Compares a stored signature with the expected one in constant time. */
export function checkSignature(
  signature: unknown,
  key: TrustKeyInput,
  payload: string,
): SignatureStatus {
  // The key is checked first so a bad key is refused even for unsigned notebooks; the HMAC
  // itself is only computed when there is a signature to compare (most notebooks have none).
  const bytes = keyBytes(key);
  if (signature === undefined) return 'missing';
  const expected = createHmac('sha256', bytes).update(payload, 'utf8').digest();
  // The format check only looks at the shape, not at the secret-dependent bytes.
  const match = typeof signature === 'string' ? SIGNATURE_PATTERN.exec(signature) : null;
  if (!match?.[1]) return 'invalid';
  const given = Buffer.from(match[1], 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'valid' : 'invalid';
}

/**
 * `valid` when the notebook carries a signature made with this key over its current
 * dependency metadata, `missing` without one, `invalid` otherwise (tampered, malformed, made
 * on another machine or by nteract (`metadata.runt.trust_signature`), or the dependencies
 * changed since signing).
 */
export function verifyNotebookDependencies(notebook: unknown, key: TrustKeyInput): SignatureStatus {
  const { notebook: parsed, payload } = readNotebookDependencies(notebook);
  return checkSignature(notebookSignature(parsed), key, payload);
}
