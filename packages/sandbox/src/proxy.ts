import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import { createLeafIssuer, type GeneratedCa, systemCaPem } from './ca.js';
import { SandboxError, type SandboxErrorCode } from './errors.js';
import { isCanonicalPrefix, secretPathVerdict } from './path-policy.js';
import { findPlaceholderTokens, PLACEHOLDER_LIKE } from './placeholders.js';
import { createRedactor } from './redact.js';
import { createRedactingTransform } from './redact-transform.js';

export interface Destination {
  host: string;
  /** Default: 443 for https, 80 for http. */
  port?: number;
  /** Only requests whose path is this prefix (at a segment boundary) get the secret. Default `/`. */
  pathPrefix?: string;
  /** Default `https`. Plain `http` must be granted explicitly: the secret would cross in clear. */
  scheme?: 'https' | 'http';
}

export interface SecretGrant {
  secret: string;
  value: string;
  placeholder: string;
  destinations: readonly Destination[];
}

export type EgressListen = { host: string; port: number } | { socketPath: string };

export type EgressEvent =
  | {
      type: 'connect';
      host: string;
      port: number;
      outcome: 'intercepted' | 'tunneled' | 'refused';
      code?: SandboxErrorCode;
    }
  | {
      type: 'request';
      method: string;
      scheme: 'https' | 'http';
      host: string;
      port: number;
      /** Path and query with every placeholder shown as `[CREDENTIAL]`. */
      path: string;
      /** Names of the secrets substituted into this request (never values). */
      credentials: string[];
      outcome: 'forwarded' | 'refused' | 'failed';
      status?: number;
      code?: SandboxErrorCode;
    }
  | { type: 'error'; message: string };

export interface EgressProxyOptions {
  grants: readonly SecretGrant[];
  /** Destinations reachable without any secret (tunneled as-is for https). */
  allow?: readonly Destination[];
  /** The per-runtime CA that signs the certificates shown to workers. */
  ca: GeneratedCa;
  listen: EgressListen;
  /** Extra CAs trusted for upstreams, on top of the system store (tests, private PKI). */
  upstreamCa?: readonly string[];
  /** Replace real secret values echoed back in responses with `[REDACTED:NAME]` (default true). */
  scrubResponses?: boolean;
  onEvent?: (event: EgressEvent) => void;
}

export interface EgressProxy {
  /** `http://127.0.0.1:<port>` when listening on TCP. */
  url?: string;
  port?: number;
  socketPath?: string;
  close(): Promise<void>;
}

interface Target {
  scheme: 'https' | 'http';
  host: string;
  port: number;
}

interface ResolvedDestination extends Target {
  pathPrefix: string;
}

interface ResolvedGrant {
  secret: string;
  value: string;
  placeholder: string;
  destinations: ResolvedDestination[];
}

class Refusal extends Error {
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    readonly status = 403,
  ) {
    super(message);
  }
}

const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
// Characters Node rejects in header values, plus anything that would end the header.
const HEADER_UNSAFE = /[\0\r\n]/;

function defaultPort(scheme: 'https' | 'http'): number {
  return scheme === 'https' ? 443 : 80;
}

function normalizeHost(host: string): string | undefined {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (isIP(h)) return h;
  if (h.endsWith('.')) h = h.slice(0, -1);
  return HOST_NAME.test(h) ? h : undefined;
}

function resolveDestination(d: Destination): ResolvedDestination {
  const scheme = d.scheme ?? 'https';
  if (scheme !== 'https' && scheme !== 'http') {
    throw new SandboxError('invalid_grant', 'destination scheme must be https or http');
  }
  const host = normalizeHost(String(d.host ?? ''));
  if (!host) throw new SandboxError('invalid_grant', 'destination host is not a valid host name');
  const port = d.port ?? defaultPort(scheme);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new SandboxError('invalid_grant', 'destination port is not a TCP port');
  }
  const pathPrefix = d.pathPrefix ?? '/';
  if (!isCanonicalPrefix(pathPrefix)) {
    throw new SandboxError(
      'invalid_grant',
      'destination path prefix must be an absolute path without dot segments, `;`, `\\` or encoded separators',
    );
  }
  return { scheme, host, port, pathPrefix };
}

function sameTarget(a: Target, b: Target): boolean {
  return a.scheme === b.scheme && a.host === b.host && a.port === b.port;
}

function parseHostPort(
  text: string,
  fallbackPort: number,
): { host: string; port: number } | undefined {
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!match?.[1]) return undefined;
  const host = normalizeHost(match[1]);
  const port = match[2] === undefined ? fallbackPort : Number(match[2]);
  if (!host || port < 1 || port > 65_535) return undefined;
  return { host, port };
}

const UPSTREAM_IDLE_MS = 120_000;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const TEXTUAL =
  /^\s*(?:text\/|application\/(?:json|xml|javascript|x-www-form-urlencoded|problem\+json|[\w.+-]*\+(?:json|xml))\b)/i;

export function refusalBody(code: SandboxErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/**
 * The worker's only way out of the sandbox. Destinations that a grant covers are intercepted
 * (TLS terminated with a leaf from the per-runtime CA) so placeholders can be swapped for real
 * values in headers and the query string, only where that secret is granted; destinations in
 * `allow` are tunneled untouched; everything else is refused.
 */
export async function startEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const grants: ResolvedGrant[] = options.grants.map((g) => {
    if (typeof g.value !== 'string' || g.value.length === 0 || HEADER_UNSAFE.test(g.value)) {
      throw new SandboxError(
        'invalid_grant',
        `secret ${g.secret} has a value that cannot travel in a header`,
      );
    }
    if (!new RegExp(`^${PLACEHOLDER_LIKE.source}$`, 'i').test(g.placeholder)) {
      throw new SandboxError('invalid_grant', `secret ${g.secret} has a malformed placeholder`);
    }
    return {
      secret: g.secret,
      value: g.value,
      placeholder: g.placeholder,
      destinations: g.destinations.map(resolveDestination),
    };
  });
  const byPlaceholder = new Map(grants.map((g) => [g.placeholder, g]));
  const allowed = (options.allow ?? []).map(resolveDestination);
  const emit = (event: EgressEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // a failing listener must not take the proxy down
    }
  };
  const scrub = options.scrubResponses ?? true;
  const scrubber = createRedactor({
    secrets: Object.fromEntries(grants.map((g) => [g.secret, g.value])),
    patterns: false,
  });
  const issuer = createLeafIssuer(options.ca);
  const contexts = new Map<string, SecureContext>();
  const upstreamAgent = new HttpsAgent({
    keepAlive: true,
    ca: [systemCaPem(), ...(options.upstreamCa ?? [])],
  });
  const tunnelTargets = new WeakMap<object, Target>();
  const sockets = new Set<Duplex>();
  const track = (socket: Duplex) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const interceptable = (target: Target) =>
    grants.some((g) => g.destinations.some((d) => sameTarget(d, target)));
  const reachable = (target: Target) =>
    interceptable(target) || allowed.some((d) => sameTarget(d, target));

  function contextFor(host: string): SecureContext {
    let context = contexts.get(host);
    if (!context) {
      const leaf = issuer.issue(host);
      context = createSecureContext({ cert: leaf.certPem, key: leaf.keyPem });
      contexts.set(host, context);
    }
    return context;
  }

  function shownPath(path: string): string {
    return path.replace(PLACEHOLDER_LIKE, '[CREDENTIAL]');
  }

  function refuse(res: ServerResponse, refusal: Refusal) {
    const body = refusalBody(refusal.code, refusal.message);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(refusal.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-runyard-refusal': refusal.code,
    });
    res.end(body);
  }

  /** Records a request refused before it went upstream, drains its body and answers it. */
  function refuseRequest(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    pathAndQuery: string,
    refusal: Refusal,
    credentials: string[] = [],
  ) {
    emit({
      type: 'request',
      method: req.method ?? 'GET',
      scheme: target.scheme,
      host: target.host,
      port: target.port,
      path: shownPath(pathAndQuery),
      credentials,
      outcome: 'refused',
      status: refusal.status,
      code: refusal.code,
    });
    req.resume();
    refuse(res, refusal);
  }

  /** Checks every placeholder-looking token and returns the grant for each known one. */
  function grantFor(token: string, target: Target, path: string): ResolvedGrant {
    const grant = byPlaceholder.get(token);
    if (!grant) {
      throw new Refusal(
        'placeholder_unknown',
        'request carries a placeholder that matches no grant',
      );
    }
    const destinations = grant.destinations.filter((d) => sameTarget(d, target));
    // One verdict per prefix; an ambiguous path gets no secret whatever prefix it seems under.
    const verdicts = destinations.map((d) => secretPathVerdict(d.pathPrefix, path));
    if (verdicts.some((v) => v.ok)) return grant;
    const ambiguous = verdicts.find((v) => !v.ok && v.reason === 'ambiguous');
    if (ambiguous && !ambiguous.ok) {
      throw new Refusal(
        'request_refused',
        `request path ${ambiguous.detail}; credentials are not sent`,
      );
    }
    throw new Refusal(
      'placeholder_not_granted',
      `secret ${grant.secret} is not granted for this destination`,
    );
  }

  function substitute(
    text: string,
    target: Target,
    path: string,
    used: Set<string>,
    encode: (value: string) => string,
  ): string {
    return text.replace(PLACEHOLDER_LIKE, (token) => {
      const grant = grantFor(token, target, path);
      used.add(grant.secret);
      return encode(grant.value);
    });
  }

  function rewriteHeaders(
    headers: IncomingHttpHeaders,
    target: Target,
    path: string,
    used: Set<string>,
  ): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    const connectionListed = new Set(
      String(headers.connection ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    );
    for (const [name, raw] of Object.entries(headers)) {
      if (raw === undefined) continue;
      if (HOP_BY_HOP.has(name) || connectionListed.has(name)) continue;
      if (findPlaceholderTokens(name).length > 0) {
        throw new Refusal(
          'placeholder_unknown',
          'placeholders are not substituted in header names',
        );
      }
      const values = Array.isArray(raw) ? raw : [raw];
      const rewritten = values.map((value) => {
        if (name === 'authorization') {
          const basic = /^(basic)(\s+)([A-Za-z0-9+/=_-]+)\s*$/i.exec(value);
          if (basic) {
            const decoded = Buffer.from(basic[3] ?? '', 'base64').toString('utf8');
            if (findPlaceholderTokens(decoded).length > 0) {
              const replaced = substitute(decoded, target, path, used, (v) => v);
              value = `${basic[1]}${basic[2]}${Buffer.from(replaced, 'utf8').toString('base64')}`;
            }
          }
        }
        return substitute(value, target, path, used, (v) => v);
      });
      out[name] = Array.isArray(raw) ? rewritten : rewritten[0];
    }
    return out;
  }

  function checkHostHeader(req: IncomingMessage, target: Target) {
    const header = req.headers.host;
    if (header === undefined) return;
    const parsed = parseHostPort(header, defaultPort(target.scheme));
    if (!parsed || parsed.host !== target.host || parsed.port !== target.port) {
      throw new Refusal('request_refused', 'Host header does not match the destination');
    }
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    pathAndQuery: string,
  ) {
    const used = new Set<string>();
    const queryAt = pathAndQuery.indexOf('?');
    const path = queryAt === -1 ? pathAndQuery : pathAndQuery.slice(0, queryAt);
    const query = queryAt === -1 ? '' : pathAndQuery.slice(queryAt);
    const base = {
      type: 'request' as const,
      method: req.method ?? 'GET',
      scheme: target.scheme,
      host: target.host,
      port: target.port,
      path: shownPath(pathAndQuery),
    };
    let headers: OutgoingHttpHeaders;
    let outgoingPath: string;
    try {
      if (req.headers.upgrade) {
        throw new Refusal('request_refused', 'protocol upgrades (websockets) are not proxied');
      }
      checkHostHeader(req, target);
      // A placeholder in the path is never substituted, but an unknown one still fails closed.
      for (const token of findPlaceholderTokens(path)) {
        if (!byPlaceholder.has(token)) {
          throw new Refusal(
            'placeholder_unknown',
            'request carries a placeholder that matches no grant',
          );
        }
      }
      headers = rewriteHeaders(req.headers, target, path, used);
      outgoingPath = path + substitute(query, target, path, used, encodeURIComponent);
      headers.host =
        req.headers.host ??
        (target.port === defaultPort(target.scheme)
          ? target.host
          : `${target.host}:${target.port}`);
    } catch (error) {
      const refusal =
        error instanceof Refusal
          ? error
          : new Refusal('request_refused', 'request could not be processed', 400);
      refuseRequest(req, res, target, pathAndQuery, refusal, [...used]);
      return;
    }
    const credentials = [...used];
    const requestOptions = {
      host: target.host,
      port: target.port,
      method: req.method,
      path: outgoingPath,
      headers,
    };
    const upstream =
      target.scheme === 'https'
        ? httpsRequest({
            ...requestOptions,
            agent: upstreamAgent,
            ...(isIP(target.host) ? {} : { servername: target.host }),
          })
        : httpRequest({ ...requestOptions, agent: false });
    upstream.on('response', (upstreamRes) => {
      const responseHeaders: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(upstreamRes.headers)) {
        if (value === undefined || HOP_BY_HOP.has(name)) continue;
        responseHeaders[name] = !scrub
          ? value
          : Array.isArray(value)
            ? value.map((v) => scrubber.redact(v))
            : scrubber.redact(value);
      }
      const encoding = String(upstreamRes.headers['content-encoding'] ?? 'identity').toLowerCase();
      const scrubBody =
        scrub &&
        (encoding === 'identity' || encoding === '') &&
        TEXTUAL.test(String(upstreamRes.headers['content-type'] ?? ''));
      if (scrubBody) delete responseHeaders['content-length'];
      res.writeHead(upstreamRes.statusCode ?? 502, responseHeaders);
      (scrubBody ? upstreamRes.pipe(createRedactingTransform(scrubber)) : upstreamRes).pipe(res);
      emit({ ...base, credentials, outcome: 'forwarded', status: upstreamRes.statusCode ?? 502 });
    });
    // A stalled upstream must not pin the worker's connection forever.
    upstream.setTimeout(UPSTREAM_IDLE_MS, () => upstream.destroy(new Error('upstream timed out')));
    upstream.on('error', (error) => {
      const tls = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/i.test(
        String((error as { code?: unknown }).code ?? ''),
      );
      const refusal = new Refusal(
        'upstream_failed',
        tls ? 'upstream certificate did not verify' : 'upstream could not be reached',
        502,
      );
      emit({ ...base, credentials, outcome: 'failed', status: 502, code: refusal.code });
      refuse(res, refusal);
    });
    req.pipe(upstream);
  }

  const mitm: Server = createServer((req, res) => {
    const target = tunnelTargets.get(req.socket);
    if (!target) {
      res.destroy();
      return;
    }
    const url = req.url ?? '';
    if (!url.startsWith('/')) {
      const refusal = new Refusal(
        'request_refused',
        'requests inside a tunnel must use origin form',
      );
      refuseRequest(req, res, target, url, refusal);
      return;
    }
    forward(req, res, target, url);
  });

  const server: Server = createServer((req, res) => {
    let target: Target | undefined;
    let pathAndQuery = '/';
    try {
      const url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('not http');
      const host = normalizeHost(url.hostname);
      if (!host || url.username || url.password) throw new Error('bad host');
      target = { scheme: 'http', host, port: url.port ? Number(url.port) : 80 };
      pathAndQuery = `${url.pathname}${url.search}`;
    } catch {
      const refusal = new Refusal(
        'request_refused',
        'only absolute http:// URLs and CONNECT are proxied',
        400,
      );
      req.resume();
      refuse(res, refusal);
      return;
    }
    if (!reachable(target)) {
      const refusal = new Refusal('destination_not_granted', 'destination is not granted');
      refuseRequest(req, res, target, pathAndQuery, refusal);
      return;
    }
    forward(req, res, target, pathAndQuery);
  });

  server.on('connection', track);
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  mitm.on('clientError', (_error, socket) => socket.destroy());

  server.on('connect', (req: IncomingMessage, clientSocket: Duplex, head: Buffer) => {
    const parsed = parseHostPort(req.url ?? '', -1);
    clientSocket.on('error', () => clientSocket.destroy());
    if (!parsed || parsed.port === -1) {
      writeRefusal(
        clientSocket,
        400,
        new Refusal('request_refused', 'CONNECT needs host:port', 400),
      );
      return;
    }
    const target: Target = { scheme: 'https', ...parsed };
    if (interceptable(target)) {
      emit({ type: 'connect', host: target.host, port: target.port, outcome: 'intercepted' });
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) clientSocket.unshift(head);
      const tlsSocket = new TLSSocket(clientSocket as Socket, {
        isServer: true,
        secureContext: contextFor(target.host),
        ALPNProtocols: ['http/1.1'],
      });
      tlsSocket.on('error', () => {
        tlsSocket.destroy();
        clientSocket.destroy();
      });
      track(tlsSocket);
      tunnelTargets.set(tlsSocket, target);
      mitm.emit('connection', tlsSocket);
      return;
    }
    if (allowed.some((d) => sameTarget(d, target))) {
      emit({ type: 'connect', host: target.host, port: target.port, outcome: 'tunneled' });
      const upstream = netConnect(target.port, target.host);
      track(upstream);
      upstream.on('connect', () => {
        clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.pipe(clientSocket);
        clientSocket.pipe(upstream);
      });
      upstream.on('error', () => {
        if (clientSocket.writable && !upstream.readable) {
          writeRefusal(
            clientSocket,
            502,
            new Refusal('upstream_failed', 'upstream could not be reached', 502),
          );
        } else clientSocket.destroy();
      });
      clientSocket.on('close', () => upstream.destroy());
      return;
    }
    const refusal = new Refusal('destination_not_granted', 'destination is not granted');
    emit({
      type: 'connect',
      host: target.host,
      port: target.port,
      outcome: 'refused',
      code: refusal.code,
    });
    writeRefusal(clientSocket, 403, refusal);
  });

  function writeRefusal(socket: Duplex, status: number, refusal: Refusal) {
    const body = refusalBody(refusal.code, refusal.message);
    socket.end(
      `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : status === 502 ? 'Bad Gateway' : 'Bad Request'}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-runyard-refusal: ${refusal.code}\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  const listen = options.listen;
  if ('socketPath' in listen) {
    // Only a stale socket is removed; any other file at that path is an error.
    if (existsSync(listen.socketPath) && lstatSync(listen.socketPath).isSocket())
      unlinkSync(listen.socketPath);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(listen.socketPath, 0o600);
  } else {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }
  server.on('error', (error) => emit({ type: 'error', message: error.message }));

  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : undefined;
  return {
    ...(port !== undefined && 'host' in listen
      ? { port, url: `http://${listen.host}:${port}` }
      : {}),
    ...('socketPath' in listen ? { socketPath: listen.socketPath } : {}),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
        mitm.closeAllConnections();
      });
      upstreamAgent.destroy();
    },
  };
}
