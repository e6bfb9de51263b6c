import { RuntimeError } from './errors.js';

/**
 * One id as one URL path segment. `encodeURIComponent` leaves `.` alone and URL parsers treat
 * `.`/`..` (and `%2e` spellings) as dot segments, so those ids could address a different route:
 * they are refused instead of sent.
 */
export function pathSegment(id: string): string {
  if (typeof id !== 'string' || id.length === 0 || id === '.' || id === '..') {
    throw new RuntimeError(
      'invalid_request',
      'an id must be a non-empty string other than . or ..',
    );
  }
  return encodeURIComponent(id);
}
