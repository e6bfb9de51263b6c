import { isIP } from 'node:net';

/**
 * Which remote runtime URLs `POST /api/runtimes` may register.
 *
 * Registering a runtime makes this server send requests to its URL: GETs (health, workers,
 * bundles), a WebSocket (events) and JSON POSTs (bundles, workers). Never with this server's own
 * API token, redirects refused, error texts fixed, but still requests to wherever the URL points,
 * including services on this host's loopback. On a loopback-bound server the caller is already
 * on this host, so any URL is accepted by default. A server bound beyond loopback would let a
 * remote caller reach this host's loopback services through it, so there registration needs a
 * configured list of patterns (`runtimeUrls`, `--runtime-url`, `RUNYARD_RUNTIME_URLS`); without
 * one every registration is refused.
 *
 * A pattern is `scheme://host[:port][/path]`, or `*` for anything:
 * - `host` is matched exactly after URL parsing (so `http://2130706433` and `http://0x7f.1` are
 *   `127.0.0.1` on both sides), or `*.example.com` for any name below `example.com`;
 * - a missing port means the scheme's default; `:*` any port;
 * - a path is a prefix at a segment boundary, and the URL's path then may not carry `;`, `\` or
 *   encoded separators and dots (`%2f`, `%5c`, `%2e`) that a server could read past it.
 * Patterns match the URL as written, not what its host name resolves to: a name pattern trusts
 * DNS for that name.
 */
export interface RuntimeUrlPattern {
  /** `undefined` for the `*` pattern. */
  scheme?: 'http:' | 'https:';
  host?: string;
  /** `*.example.com` stored as `.example.com`. */
  hostSuffix?: string;
  /** `undefined`: any port. */
  port?: string;
  path?: string;
  text: string;
}

export class RuntimeUrlPatternError extends Error {
  override readonly name = 'RuntimeUrlPatternError';
}

/** Parses one configured pattern; a bad one is a startup error (fail closed, never ignored). */
export function parseRuntimeUrlPattern(text: string): RuntimeUrlPattern {
  const trimmed = text.trim();
  if (trimmed === '*') return { text: trimmed };
  const match = /^(https?):\/\/(\*\.)?([^/:?#]+|\[[^\]]+\])(?::(\d{1,5}|\*))?(\/[^?#]*)?$/i.exec(
    trimmed,
  );
  if (!match) {
    throw new RuntimeUrlPatternError(
      `runtime URL pattern "${trimmed}" is not scheme://host[:port][/path] or *`,
    );
  }
  const [, scheme, wildcard, rawHost, rawPort, rawPath] = match;
  let parsed: URL;
  try {
    parsed = new URL(`${scheme}://${rawHost}${rawPort && rawPort !== '*' ? `:${rawPort}` : ''}/`);
  } catch {
    throw new RuntimeUrlPatternError(`runtime URL pattern "${trimmed}" has an invalid host`);
  }
  if (wildcard && isIP(parsed.hostname.replace(/^\[|\]$/g, ''))) {
    throw new RuntimeUrlPatternError(`runtime URL pattern "${trimmed}": *. needs a host name`);
  }
  const path = rawPath && rawPath !== '/' ? rawPath : undefined;
  if (path && (path.includes('..') || /[;\\]|%/.test(path))) {
    throw new RuntimeUrlPatternError(`runtime URL pattern "${trimmed}" has an unsafe path`);
  }
  return {
    scheme: parsed.protocol as 'http:' | 'https:',
    ...(wildcard ? { hostSuffix: `.${parsed.hostname}` } : { host: parsed.hostname }),
    ...(rawPort === '*' ? {} : { port: parsed.port }),
    ...(path ? { path } : {}),
    text: trimmed,
  };
}

/** Whether the address the server listens on is loopback only. */
export function isLoopbackBind(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

export type RuntimeUrlDecision =
  | { allowed: true }
  | { allowed: false; reason: 'not_configured' | 'no_pattern_matches' };

/**
 * The decision for one already-parsed URL. `patterns` is `undefined` when none is configured:
 * then only a loopback-bound server accepts (anything).
 */
export function decideRuntimeUrl(
  url: URL,
  policy: { patterns: readonly RuntimeUrlPattern[] | undefined; loopbackBind: boolean },
): RuntimeUrlDecision {
  if (policy.patterns === undefined || policy.patterns.length === 0) {
    return policy.loopbackBind ? { allowed: true } : { allowed: false, reason: 'not_configured' };
  }
  return policy.patterns.some((pattern) => matches(pattern, url))
    ? { allowed: true }
    : { allowed: false, reason: 'no_pattern_matches' };
}

function matches(pattern: RuntimeUrlPattern, url: URL): boolean {
  if (pattern.scheme === undefined) return true;
  if (url.protocol !== pattern.scheme) return false;
  const host = url.hostname;
  if (pattern.host !== undefined && host !== pattern.host) return false;
  if (pattern.hostSuffix !== undefined && !host.endsWith(pattern.hostSuffix)) return false;
  if (pattern.port !== undefined && url.port !== pattern.port) return false;
  if (pattern.path !== undefined) {
    const path = url.pathname;
    if (/[;\\]|%2f|%5c|%2e/i.test(path)) return false;
    const prefix = pattern.path;
    const inside =
      path === prefix ||
      (prefix.endsWith('/') ? path.startsWith(prefix) : path.startsWith(`${prefix}/`));
    if (!inside) return false;
  }
  return true;
}
