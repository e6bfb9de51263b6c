import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isAbortError, SkillsError, type SkillsErrorCode, throwIfAborted } from './errors.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Who may see the managed token: only these hosts (`host[:port]`, as in `URL.host`). */
export interface TokenScope {
  token?: string | undefined;
  tokenHosts: ReadonlySet<string>;
}

const MAX_REDIRECTS = 5;

/** A manifest is small: a server still sending after a minute is stuck or hostile. */
export const DEFAULT_MANIFEST_TIMEOUT_MS = 60_000;
/** An archive may be large, but a pass must not hold the lock forever on a stalled server. */
export const DEFAULT_ARCHIVE_TIMEOUT_MS = 10 * 60_000;

interface Deadline {
  signal: AbortSignal;
  /** True once the deadline (not the caller's signal) cut the request. */
  expired(): boolean;
}

/** The caller's signal combined with a per-request deadline that also covers the body. */
export function deadline(signal: AbortSignal | undefined, ms: number): Deadline {
  const timeout = AbortSignal.timeout(ms);
  return {
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    expired: () => timeout.aborted && !signal?.aborted,
  };
}

function hostOf(url: string): string {
  return new URL(url).host.toLowerCase();
}

/** A URL for messages: scheme + host + path, never credentials or query strings. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'file:') return 'a local file';
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

async function readCapped(
  response: Response,
  maxBytes: number,
  tooLarge: SkillsErrorCode,
  what: string,
): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new SkillsError(tooLarge, `${what} is larger than ${maxBytes} bytes`);
  }
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new SkillsError(tooLarge, `${what} is larger than ${maxBytes} bytes`);
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(chunks, total);
}

async function readLocal(
  path: string,
  maxBytes: number,
  tooLarge: SkillsErrorCode,
  what: string,
): Promise<Buffer> {
  const info = await stat(path).catch((error: unknown) => {
    throw new SkillsError('download_failed', `${what} could not be read`, { cause: error });
  });
  if (!info.isFile()) throw new SkillsError('download_failed', `${what} is not a regular file`);
  if (info.size > maxBytes)
    throw new SkillsError(tooLarge, `${what} is larger than ${maxBytes} bytes`);
  const data = await readFile(path);
  if (data.byteLength > maxBytes) {
    throw new SkillsError(tooLarge, `${what} is larger than ${maxBytes} bytes`);
  }
  return data;
}

function wrapNetworkError(
  error: unknown,
  code: SkillsErrorCode,
  what: string,
  limit?: { deadline: Deadline; ms: number },
): SkillsError {
  if (error instanceof SkillsError) return error;
  if (limit?.deadline.expired()) {
    return new SkillsError('fetch_timeout', `${what} did not complete within ${limit.ms} ms`, {
      cause: error,
    });
  }
  if (isAbortError(error))
    return new SkillsError('aborted', 'the pass was stopped', { cause: error });
  return new SkillsError(code, `${what} could not be fetched`, { cause: error });
}

export type ManifestFetch =
  | { status: 'ok'; text: string; etag?: string }
  | { status: 'not_modified' };

export interface FetchManifestOptions extends TokenScope {
  fetch: FetchLike;
  etag?: string | undefined;
  maxBytes: number;
  signal?: AbortSignal | undefined;
  /** Per-request deadline, headers and body (default 60 s). */
  timeoutMs?: number | undefined;
}

/**
 * Fetches a manifest over http(s). Redirects are refused (a manifest that moves is a
 * configuration change, not something to follow silently with a token attached).
 */
export async function fetchManifest(
  url: string,
  options: FetchManifestOptions,
): Promise<ManifestFetch> {
  const what = `manifest ${redactUrl(url)}`;
  const headers: Record<string, string> = {
    accept: 'application/yaml, application/json;q=0.9, text/plain;q=0.5',
  };
  if (options.etag) headers['if-none-match'] = options.etag;
  if (options.token && options.tokenHosts.has(hostOf(url))) {
    headers.authorization = `Bearer ${options.token}`;
  }
  const ms = options.timeoutMs ?? DEFAULT_MANIFEST_TIMEOUT_MS;
  const limit = { deadline: deadline(options.signal, ms), ms };
  let response: Response;
  try {
    response = await options.fetch(url, {
      headers,
      redirect: 'manual',
      signal: limit.deadline.signal,
    });
  } catch (error) {
    throw wrapNetworkError(error, 'manifest_fetch_failed', what, limit);
  }
  if (response.status === 304) {
    await response.body?.cancel().catch(() => undefined);
    return { status: 'not_modified' };
  }
  if ((response.status >= 300 && response.status < 400) || response.type === 'opaqueredirect') {
    await response.body?.cancel().catch(() => undefined);
    throw new SkillsError(
      'manifest_redirect_refused',
      `${what} answered with a redirect; manifests must be fetched from their final URL`,
    );
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel().catch(() => undefined);
    throw new SkillsError(
      'manifest_unauthorized',
      `${what} refused the credentials (HTTP ${response.status})`,
    );
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new SkillsError('manifest_fetch_failed', `${what} answered HTTP ${response.status}`);
  }
  let body: Buffer;
  try {
    body = await readCapped(response, options.maxBytes, 'manifest_too_large', what);
  } catch (error) {
    throw wrapNetworkError(error, 'manifest_fetch_failed', what, limit);
  }
  const etag = response.headers.get('etag') ?? undefined;
  return etag
    ? { status: 'ok', text: body.toString('utf8'), etag }
    : { status: 'ok', text: body.toString('utf8') };
}

export async function readLocalManifest(path: string, maxBytes: number): Promise<string> {
  const data = await readLocal(path, maxBytes, 'manifest_too_large', 'the local manifest');
  return data.toString('utf8');
}

export interface DownloadOptions extends TokenScope {
  fetch: FetchLike;
  maxBytes: number;
  signal?: AbortSignal | undefined;
  /** Per-request deadline (each redirect hop), headers and body (default 10 min). */
  timeoutMs?: number | undefined;
}

export interface Download {
  data: Buffer;
  sha256: string;
}

/**
 * Downloads an archive (http(s) or file://) into memory under a size cap. Redirects are
 * followed (archive hosts such as GitHub redirect to a CDN), but the token goes only to an
 * allowed host and is dropped for good on the first change of host; https→http is refused.
 */
export async function downloadArchive(url: string, options: DownloadOptions): Promise<Download> {
  throwIfAborted(options.signal);
  const what = `archive ${redactUrl(url)}`;
  let data: Buffer;
  if (url.startsWith('file:')) {
    data = await readLocal(fileURLToPath(url), options.maxBytes, 'archive_too_large', what);
  } else {
    data = await fetchFollowing(url, options, what);
  }
  return { data, sha256: createHash('sha256').update(data).digest('hex') };
}

async function fetchFollowing(
  url: string,
  options: DownloadOptions,
  what: string,
): Promise<Buffer> {
  const originalHost = hostOf(url);
  let sendToken = Boolean(options.token) && options.tokenHosts.has(originalHost);
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    if (hostOf(current) !== originalHost) sendToken = false;
    const headers: Record<string, string> = {
      accept: 'application/gzip, application/octet-stream',
    };
    if (sendToken && options.token) headers.authorization = `Bearer ${options.token}`;
    const ms = options.timeoutMs ?? DEFAULT_ARCHIVE_TIMEOUT_MS;
    const limit = { deadline: deadline(options.signal, ms), ms };
    let response: Response;
    try {
      response = await options.fetch(current, {
        headers,
        redirect: 'manual',
        signal: limit.deadline.signal,
      });
    } catch (error) {
      throw wrapNetworkError(error, 'download_failed', what, limit);
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => undefined);
      const location = response.headers.get('location');
      if (!location)
        throw new SkillsError('download_failed', `${what} redirected without a location`);
      const next = new URL(location, current);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new SkillsError('download_failed', `${what} redirected to an unsupported scheme`);
      }
      if (new URL(current).protocol === 'https:' && next.protocol === 'http:') {
        throw new SkillsError('download_failed', `${what} redirected from https to http`);
      }
      current = next.href;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new SkillsError('download_failed', `${what} answered HTTP ${response.status}`);
    }
    try {
      return await readCapped(response, options.maxBytes, 'archive_too_large', what);
    } catch (error) {
      throw wrapNetworkError(error, 'download_failed', what, limit);
    }
  }
  throw new SkillsError('download_failed', `${what} redirected more than ${MAX_REDIRECTS} times`);
}
