import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { ConfigBundleError } from './errors.js';
import type { ConfigBundle, UnsealedConfigBundle } from './schema.js';

type DigestInput = ConfigBundle | UnsealedConfigBundle | Record<string, unknown>;

/** The bundle without `metadata.digest`: the exact value the digest covers. */
export function withoutDigest(bundle: DigestInput): Record<string, unknown> {
  const { metadata, ...rest } = bundle as { metadata?: unknown } & Record<string, unknown>;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    return { ...rest, ...(metadata === undefined ? {} : { metadata }) };
  }
  const { digest: _digest, ...metadataRest } = metadata as Record<string, unknown>;
  return { ...rest, metadata: metadataRest };
}

/** RFC 8785 (JCS) canonical JSON of any JSON value. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) {
    throw new ConfigBundleError('invalid_bundle', 'value has no JSON representation');
  }
  return text;
}

/** Canonical JSON of the digest-covered part of a bundle (everything but `metadata.digest`). */
export function canonicalBundleJson(bundle: DigestInput): string {
  return canonicalJson(withoutDigest(bundle));
}

/**
 * Lowercase hex SHA-256 of the RFC 8785 canonical JSON of the bundle with `metadata.digest`
 * removed. Key order and whitespace never change it; any content change does.
 */
export function computeBundleDigest(bundle: DigestInput): string {
  return createHash('sha256').update(canonicalBundleJson(bundle), 'utf8').digest('hex');
}

/** Returns a copy of `bundle` with `metadata.digest` set to its computed digest. */
export function sealBundle(bundle: UnsealedConfigBundle | ConfigBundle): ConfigBundle {
  const digest = computeBundleDigest(bundle);
  return { ...bundle, metadata: { ...bundle.metadata, digest } } as ConfigBundle;
}
