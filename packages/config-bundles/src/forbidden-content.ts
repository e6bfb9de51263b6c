import { ConfigBundleError } from './errors.js';

/** Why a piece of text was refused; safe to show, it says nothing about the value itself. */
export type ForbiddenReason =
  | 'absolute path'
  | 'home path'
  | 'path traversal'
  | 'cache, session or socket path'
  | 'credential store path'
  | 'credential assignment'
  | 'credential in URL'
  | 'secret token';

// Characters after which a `/` or `~` starts a path rather than continuing a word or URL.
const BOUNDARY = String.raw`(?:^|[\s=:,;'"()\[\]{}<>|])`;

const RULES: readonly [ForbiddenReason, RegExp][] = [
  ['absolute path', new RegExp(`${BOUNDARY}/(?!/)`)],
  ['absolute path', new RegExp(`${BOUNDARY}[A-Za-z]:/(?!/)`)],
  ['absolute path', /(?:^|\s)\/\/[^/\s]/],
  ['absolute path', /\bfile:/i],
  ['home path', new RegExp(`${BOUNDARY}~[A-Za-z0-9._-]*(?:/|$)`)],
  ['home path', /\$\{?(?:HOME|USERPROFILE|TMPDIR|XDG_[A-Z_]+)\b/],
  ['home path', /%(?:USERPROFILE|HOMEPATH|HOMEDRIVE|APPDATA|LOCALAPPDATA|TEMP|TMP)%/i],
  ['path traversal', new RegExp(`(?:${BOUNDARY}|/)\\.\\.(?:/|$)`)],
  ['cache, session or socket path', /\.cache(?:\/|$)/i],
  ['cache, session or socket path', /\.sock(?:et)?(?![A-Za-z0-9])/i],
  ['cache, session or socket path', /\/socks?(?:et)?(?:\/|$)|(?:^|\/)socks?(?:et)?\//i],
  ['cache, session or socket path', /\/run\/|(?:^|\/)var\/run(?:\/|$)/i],
  ['cache, session or socket path', /(?:^|[/\s=:])sessions?\//i],
  [
    'credential store path',
    /(?:^|[/\s=:])\.(?:ssh|aws|gnupg|kube|docker|netrc|npmrc|pypirc|git-credentials|config|local)(?:\/|$)/i,
  ],
  [
    'credential assignment',
    /(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|auth|credentials?|cookie)\s*=/i,
  ],
  ['credential in URL', /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]*@/i],
  ['secret token', /(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{16,}/],
  ['secret token', /(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{16,}/],
  ['secret token', /(?<![A-Za-z0-9])glpat-[A-Za-z0-9_-]{16,}/],
  ['secret token', /(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{16,}/],
  ['secret token', /(?<![A-Za-z0-9])[rsp]k_(?:live|test)_[A-Za-z0-9]{10,}/],
  ['secret token', /(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}(?![A-Z0-9])/],
  ['secret token', /(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{30,}/],
  ['secret token', /(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}/],
  ['secret token', /(?<![A-Za-z0-9])npm_[A-Za-z0-9]{30,}/],
  ['secret token', /-----BEGIN [A-Z0-9 ]*-----/],
  ['secret token', /(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/],
  ['secret token', /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/],
];

/**
 * Undoes the encodings people use to sneak a path past a text filter: ASCII percent-escapes
 * (applied repeatedly, so `%252e` is caught too) and Windows separators.
 */
function normalize(text: string): string {
  let current = text;
  for (let round = 0; round < 3; round += 1) {
    const next = current.replace(/%([0-7][0-9a-fA-F])/g, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
    if (next === current) break;
    current = next;
  }
  return current.replaceAll('\\', '/');
}

/** The first rule `text` breaks, or `undefined` when it is safe to keep in a bundle. */
export function findForbiddenContent(text: string): ForbiddenReason | undefined {
  const normalized = normalize(text);
  for (const [reason, pattern] of RULES) {
    if (pattern.test(text) || (normalized !== text && pattern.test(normalized))) return reason;
  }
  return undefined;
}

// Field names that may appear in an error message. Anything else is the caller's own key and
// could itself be a credential, so it is rendered as a placeholder.
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  'metadata',
  'id',
  'digest',
  'revision',
  'workspaceId',
  'createdAt',
  'provenance',
  'source',
  'detail',
  'profiles',
  'selector',
  'kind',
  'value',
  'label',
  'worker',
  'runtime',
  'argv',
  'cwd',
  'grants',
  'declarations',
  'name',
  'reference',
]);

export function formatFieldPath(path: readonly PropertyKey[]): string {
  let result = '';
  for (const segment of path) {
    if (typeof segment === 'number') result += `[${segment}]`;
    else {
      const name =
        typeof segment === 'string' && KNOWN_FIELDS.has(segment) ? segment : '<unknown field>';
      result += result.length === 0 ? name : `.${name}`;
    }
  }
  return result.length === 0 ? '<root>' : result;
}

// Checked by their own stricter rules (identifier alphabet, hex), which give better codes.
const SKIPPED = new Set(['metadata.id', 'metadata.digest']);

/**
 * Scans every string in a (structurally checked) bundle value and throws
 * `config_bundle_forbidden_content` naming the first offending field and the rule it broke.
 * The value is never part of the message.
 */
export function assertNoForbiddenContent(value: unknown): void {
  const stack: { value: unknown; path: PropertyKey[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    const current = item.value;
    if (typeof current === 'string') {
      const field = formatFieldPath(item.path);
      if (SKIPPED.has(field)) continue;
      const reason = findForbiddenContent(current);
      if (reason) {
        throw new ConfigBundleError(
          'config_bundle_forbidden_content',
          `${field} contains forbidden content (${reason})`,
          { field },
        );
      }
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    const entries: [PropertyKey, unknown][] = Array.isArray(current)
      ? current.map((entry, index) => [index, entry])
      : Object.entries(current);
    // Reversed so the stack visits fields in document order and the first offender is reported.
    for (const [key, entry] of entries.reverse()) {
      stack.push({ value: entry, path: [...item.path, key] });
    }
  }
}
