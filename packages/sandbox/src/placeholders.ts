import { randomBytes } from 'node:crypto';

export const PLACEHOLDER_PREFIX = 'runyard-ph-';

/**
 * Anything that looks like a placeholder, in any case and with any tail: a request carrying one
 * that matches no grant exactly is refused, so a mangled placeholder never leaks through as-is.
 */
export const PLACEHOLDER_LIKE = /runyard-ph-[A-Za-z0-9_-]*/gi;

/**
 * One opaque placeholder per secret name: 128 random bits, never derived from the value, so a
 * worker learns nothing from it and two workers never share one.
 */
export function createSecretPlaceholders(names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const name of names) out[name] = `${PLACEHOLDER_PREFIX}${randomBytes(16).toString('hex')}`;
  return out;
}

export function findPlaceholderTokens(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER_LIKE)].map((m) => m[0]);
}
