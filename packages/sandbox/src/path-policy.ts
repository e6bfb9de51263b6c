/**
 * Whether a request path may carry a secret granted for a path prefix. Pure: the proxy calls it,
 * the tests sweep it without a live proxy.
 *
 * The rule is **refuse, never decode-and-hope**. The proxy forwards the path byte for byte, and
 * the upstream (or a gateway in front of it) then interprets it in ways the proxy cannot know:
 * frameworks decode `%2F` before routing, Tomcat and Spring drop `;…` path parameters so `..;`
 * is `..`, IIS and Windows treat `\` as `/`, some stacks decode twice or apply NFKC (so U+FF0E
 * is a dot). Decoding here and checking the result would only match one of those readings.
 * Instead a path that carries a secret must mean the same thing under all of them, so it may use
 * only characters that no common normalisation turns into structure:
 *
 * - raw characters from RFC 3986 `pchar` and `/`, minus `;` (path parameters): no `\`, no
 *   spaces, controls, non-ASCII, `#`, `[`, `]`, `{`, `|`, `}`;
 * - `%XX` escapes only for bytes that are not structure: never `/` `\` `.` `;` `%` `?` `#`
 *   or a control byte; escaped bytes above 0x7F must be valid UTF-8 (no overlong `%c0%af`),
 *   and the characters they decode to must not become structure under NFKC either;
 * - no segment made only of dots (`.`, `..`, and `...`, which Windows trims to `..`);
 * - and the prefix match holds raw, decoded and NFKC-normalised.
 *
 * A request without a placeholder is not checked here: the host is granted, only the secret is
 * scoped to the prefix. Legitimate clients (curl, requests, urllib, fetch) percent-encode what
 * this refuses only when the caller put it in a path segment on purpose.
 */

export type SecretPathVerdict =
  | { ok: true }
  | {
      ok: false;
      /** `ambiguous`: upstreams could read the path differently; `outside`: not under the prefix. */
      reason: 'ambiguous' | 'outside';
      /** A fixed text for the refusal message (never the path itself). */
      detail: string;
    };

// RFC 3986 pchar without ';' (sub-delim used for path parameters), plus '/' and '%' (escapes
// are checked one by one).
const RAW_ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,=:@/%]*$/;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;
// Bytes that are structure for some upstream when they appear decoded.
const STRUCTURAL_BYTES = new Set([0x2f, 0x5c, 0x2e, 0x3b, 0x25, 0x3f, 0x23]);
// Structure after decoding and NFKC: separators, dots, path parameters, escapes, query, fragment.
const STRUCTURAL_CHARS = /[\\;%?#\u0000-\u001f\u007f]/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Why `path` is ambiguous for some upstream, or `undefined` when it reads the same everywhere. */
export function pathAmbiguity(path: string): string | undefined {
  const readings = readPath(path);
  return typeof readings === 'string' ? readings : undefined;
}

/** The path as upstreams may read it (raw, decoded, NFKC-folded), or why it is ambiguous. */
function readPath(path: string): string | { decoded: string; folded: string } {
  if (!path.startsWith('/')) return 'is not an absolute path';
  if (!RAW_ALLOWED.test(path)) {
    return 'has a character upstreams may treat as structure (; \\ or unencoded)';
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return 'has a malformed percent escape';
  for (const match of path.matchAll(ESCAPE)) {
    const byte = Number.parseInt(match[1] as string, 16);
    if (STRUCTURAL_BYTES.has(byte) || byte < 0x20 || byte === 0x7f) {
      return 'has an encoded separator, dot, escape or control character';
    }
  }
  let decoded: string;
  try {
    decoded = percentDecode(path);
  } catch {
    return 'has percent escapes that are not valid UTF-8';
  }
  // NFKC leaves ASCII alone: only fold what has other characters.
  const folded = /^[\x00-\x7f]*$/.test(decoded) ? decoded : decoded.normalize('NFKC');
  for (const form of [path, decoded, folded]) {
    if (form.split('/').some((segment) => segment.length > 0 && /^\.+$/.test(segment))) {
      return 'has dot segments';
    }
  }
  if (STRUCTURAL_CHARS.test(folded) || countSlashes(folded) !== countSlashes(path)) {
    return 'has characters that normalise to separators or dots';
  }
  return { decoded, folded };
}

/** `prefix` at a segment boundary: `/api` covers `/api` and `/api/x`, not `/apix`. */
export function withinPrefix(prefix: string, path: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  if (prefix.endsWith('/')) return path.startsWith(prefix);
  return path.startsWith(`${prefix}/`);
}

/** A grant's path prefix is usable only when it is itself unambiguous. */
export function isCanonicalPrefix(prefix: string): boolean {
  return prefix.startsWith('/') && pathAmbiguity(prefix) === undefined;
}

/**
 * The decision for one request path (without the query) against one granted prefix (already
 * checked by `isCanonicalPrefix`). Ambiguity is reported first: such a path gets no secret
 * whatever prefix it seems to be under.
 */
export function secretPathVerdict(prefix: string, path: string): SecretPathVerdict {
  const readings = readPath(path);
  if (typeof readings === 'string') return { ok: false, reason: 'ambiguous', detail: readings };
  // Escapes here are non-structural, so decoding keeps every '/', but compare every reading.
  const prefixReadings = readPath(prefix);
  const inside =
    typeof prefixReadings !== 'string' &&
    withinPrefix(prefix, path) &&
    withinPrefix(prefixReadings.decoded, readings.decoded) &&
    withinPrefix(prefixReadings.folded, readings.folded);
  return inside ? { ok: true } : { ok: false, reason: 'outside', detail: 'is outside the prefix' };
}

/** Strict percent-decoding (throws on invalid UTF-8); only for paths `RAW_ALLOWED` accepts. */
function percentDecode(path: string): string {
  if (!path.includes('%')) return path;
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const ch = path.charCodeAt(i);
    if (ch === 0x25 && /^[0-9A-Fa-f]{2}$/.test(path.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(path.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(ch);
  }
  return strictUtf8.decode(Uint8Array.from(bytes));
}

function countSlashes(text: string): number {
  let n = 0;
  for (const ch of text) if (ch === '/') n++;
  return n;
}
