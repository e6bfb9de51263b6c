import { STATUS_CODES } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, {
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import {
  createErrorHandler,
  errorBody,
  type HttpErrorCode,
  httpErrorStatus,
  type StatusForCode,
} from './errors.js';
import { tokenChecker } from './tokens.js';

export interface HttpServerOptions {
  /** The bearer token every non-public route requires. */
  token: string;
  /** Exact paths served without a token (health probes). */
  publicPaths?: string[];
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Longest path parameter in characters (default 512); longer ones are a 400. */
  maxParamLength?: number;
  statusFor?: StatusForCode;
  /** pino options, or false for no logging. Authorization and tokens are always redacted. */
  logger?: FastifyServerOptions['logger'];
  /**
   * Origins a WebSocket upgrade may come from, exactly (`scheme://host[:port]`), or `*`.
   * Default: only the server's own origin (`http://` + an allowed Host), so a web page
   * elsewhere cannot ride a user's token. Clients that send no Origin (CLIs, agents) pass.
   */
  allowedOrigins?: string[];
  /**
   * The interface the server will listen on. Its name is an allowed Host; a wildcard
   * (`0.0.0.0`, `::`) cannot name the server, so then Host is only checked when
   * `allowedHosts` is given. Default `127.0.0.1`.
   */
  bindHost?: string;
  /**
   * Host names (without port) requests may be addressed to besides the loopback names and
   * `bindHost` (e.g. the name of a public URL behind a proxy), or `*` for any. A request to
   * another Host is refused (`forbidden_host`): a page that rebinds its own DNS name to this
   * address cannot talk to the server by that name.
   */
  allowedHosts?: string[];
  openapi?: { title: string; version: string; description?: string; path: string };
}

/** Strips `token=` from a URL so it never reaches a log line. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[REDACTED]');
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function queryToken(request: FastifyRequest): string | undefined {
  const query = request.query as Record<string, unknown> | undefined;
  const token = query?.token;
  return typeof token === 'string' ? token : undefined;
}

/** The request asks for a WebSocket upgrade in its headers (whether or not it is a real one). */
function claimsUpgrade(request: FastifyRequest): boolean {
  return request.headers.upgrade?.toLowerCase() === 'websocket';
}

/**
 * A real WebSocket handshake on a WebSocket route: Node saw an HTTP upgrade (`request.ws`, set
 * by @fastify/websocket only for requests that arrived on the server's `upgrade` event, which
 * needs `Connection: upgrade`), with GET, `Upgrade: websocket` and a `Sec-WebSocket-Key`, to a
 * route registered with `websocket: true`. Only such a request may carry its token in the query
 * (browsers cannot set headers on a WebSocket); a header alone proves nothing.
 */
function isWebSocketHandshake(request: FastifyRequest, wsRoutes: ReadonlySet<string>): boolean {
  const connection = request.headers.connection;
  return (
    request.ws === true &&
    request.method === 'GET' &&
    claimsUpgrade(request) &&
    typeof connection === 'string' &&
    connection
      .toLowerCase()
      .split(',')
      .some((part) => part.trim() === 'upgrade') &&
    typeof request.headers['sec-websocket-key'] === 'string' &&
    request.headers['sec-websocket-key'].length > 0 &&
    wsRoutes.has(request.routeOptions.url ?? '')
  );
}

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARD_BINDS = new Set(['0.0.0.0', '::', '[::]', '']);

/** `[::1]` for `::1`, names lower-cased: the form a Host header carries. */
function hostName(host: string): string {
  const lower = host.toLowerCase();
  return lower.includes(':') && !lower.startsWith('[') ? `[${lower}]` : lower;
}

/**
 * The Host names a server answers to, or undefined when any is (`*`, or a wildcard bind with
 * no configured names). Pure, so the policy is tested without a server.
 */
export function allowedHostNames(
  bindHost: string | undefined,
  allowedHosts: readonly string[] | undefined,
): ReadonlySet<string> | undefined {
  if (allowedHosts?.includes('*')) return undefined;
  const bind = bindHost ?? '127.0.0.1';
  const wildcard = WILDCARD_BINDS.has(bind);
  if (wildcard && (allowedHosts === undefined || allowedHosts.length === 0)) return undefined;
  const names = new Set(LOOPBACK_HOSTS);
  if (!wildcard) names.add(hostName(bind));
  for (const host of allowedHosts ?? []) names.add(hostName(host));
  return names;
}

/** The name part of a Host header (`[::1]:8787` -> `[::1]`), lower-cased; undefined if malformed. */
export function hostHeaderName(header: string | undefined): string | undefined {
  if (header === undefined || header.length === 0 || header.length > 300) return undefined;
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]/\s@]+)(?::\d{1,5})?$/i.exec(header);
  return match?.[1]?.toLowerCase();
}

export function hostAllowed(header: string | undefined, names: ReadonlySet<string> | undefined) {
  if (names === undefined) return true;
  const name = hostHeaderName(header);
  return name !== undefined && names.has(name);
}

/**
 * Whether a WebSocket upgrade's Origin may proceed. No Origin (not a browser) passes; an
 * allowed-list entry passes exactly; otherwise the Origin must be this very server: scheme
 * `http:` (the server speaks plain HTTP; a TLS proxy in front names its origin in
 * `allowedOrigins`) and host:port equal to the request's Host, which itself must be allowed —
 * so a rebound DNS name (`Origin` and `Host` both `evil.example`) is refused.
 */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: string[] | undefined,
  hosts?: ReadonlySet<string>,
): boolean {
  if (origin === undefined) return true;
  if (allowed?.includes('*')) return true;
  if (allowed?.includes(origin)) return true;
  if (host === undefined || !hostAllowed(host, hosts)) return false;
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' && url.host === host.toLowerCase();
  } catch {
    return false;
  }
}

/** What a request refused by Node's HTTP parser is answered (see `clientErrorHandler`). */
export function clientErrorAnswer(nodeCode: string | undefined): {
  status: number;
  code: string;
  message: string;
} {
  const answer = (code: HttpErrorCode, message: string) => ({
    status: httpErrorStatus[code],
    code,
    message,
  });
  if (nodeCode === 'HPE_HEADER_OVERFLOW')
    return answer('headers_too_large', 'the request headers are too large');
  if (nodeCode === 'ERR_HTTP_REQUEST_TIMEOUT')
    return answer('request_timeout', 'the request took too long to arrive');
  return answer('invalid_request', 'the request is malformed');
}

/**
 * A Fastify server with the parts every Runyard server shares: zod validation and
 * serialisation, Host checks and bearer auth on everything but the public paths (a `?token=`
 * query only on real WebSocket handshakes to WebSocket routes), Origin checks on upgrades, body
 * limits, and one error shape.
 */
export async function createHttpServer(options: HttpServerOptions) {
  const publicPaths = new Set(options.publicPaths ?? ['/healthz', '/readyz']);
  const tokenMatches = tokenChecker(options.token);
  const hosts = allowedHostNames(options.bindHost, options.allowedHosts);
  /** Route patterns registered with `websocket: true` (see isWebSocketHandshake). */
  const wsRoutes = new Set<string>();
  const app = Fastify({
    // Shutdown must not wait on idle keep-alive or upgraded sockets held by clients.
    forceCloseConnections: true,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    routerOptions: { maxParamLength: options.maxParamLength ?? 512 },
    // Router failures (a malformed URL, an overlong path parameter) never reach the error
    // handler: answer them in the one error shape too, without echoing the URL.
    frameworkErrors: (error, _request, reply) => {
      (reply as unknown as FastifyReply)
        .code(400)
        .send(
          errorBody(
            'invalid_request',
            error.code === 'FST_ERR_MAX_PARAM_LENGTH'
              ? 'a path parameter is too long'
              : 'the URL is malformed',
          ),
        );
    },
    // Node's HTTP parser refuses some requests before any route or hook sees them (headers over
    // 16 KiB, a malformed request line, a request timeout). Fastify's default answers those with
    // its own `{error, message, statusCode}` body; answer in the one error shape instead.
    clientErrorHandler: (error, socket) => {
      if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || socket.destroyed) return;
      const answer = clientErrorAnswer((error as NodeJS.ErrnoException).code);
      if (socket.writable) {
        const body = JSON.stringify(errorBody(answer.code, answer.message));
        socket.write(
          `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(error);
    },
    logger:
      options.logger === undefined || options.logger === false
        ? false
        : {
            ...(typeof options.logger === 'object' ? options.logger : {}),
            redact: {
              paths: ['req.headers.authorization', 'req.headers.cookie', '*.token', 'token'],
              censor: '[REDACTED]',
            },
            serializers: {
              req: (request: FastifyRequest) => ({
                method: request.method,
                url: redactUrl(request.url),
              }),
            },
          },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(createErrorHandler(options.statusFor ?? (() => undefined)));
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send(errorBody('not_found', 'no such route'));
  });

  // Registered before the auth hook: the plugin's own onRequest hook must run first so that an
  // upgrade refused below still gets its raw socket destroyed.
  await app.register(fastifyWebsocket, {
    options: { maxPayload: options.bodyLimit ?? 1024 * 1024 },
    // Shutdown must not wait for a client to finish a close handshake.
    preClose(done) {
      for (const client of this.websocketServer.clients) client.terminate();
      this.websocketServer.close();
      done();
    },
  });

  app.addHook('onRoute', (route) => {
    if ((route as { websocket?: boolean }).websocket === true) wsRoutes.add(route.url);
  });

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?', 1)[0] ?? '';
    if (publicPaths.has(path)) return;
    // Before auth: a request by a name the server does not answer to (DNS rebinding) learns
    // nothing, not even whether its token is good.
    if (!hostAllowed(request.headers.host, hosts)) {
      return reply.code(403).send(errorBody('forbidden_host', 'host not allowed'));
    }
    const handshake = isWebSocketHandshake(request, wsRoutes);
    const presented = bearer(request) ?? (handshake ? queryToken(request) : undefined);
    if (!tokenMatches(presented)) {
      return reply.code(401).send(errorBody('unauthorized', 'missing or invalid API token'));
    }
    // Any request that claims an upgrade is held to the Origin rule, handshake or not.
    if (
      (handshake || claimsUpgrade(request)) &&
      !originAllowed(request.headers.origin, request.headers.host, options.allowedOrigins, hosts)
    ) {
      return reply.code(403).send(errorBody('forbidden_origin', 'origin not allowed'));
    }
  });

  if (options.openapi) {
    const { path, ...info } = options.openapi;
    await app.register(fastifySwagger, {
      openapi: {
        info,
        components: {
          securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
        },
        security: [{ bearer: [] }],
      },
      transform: jsonSchemaTransform,
    });
    app.get(path, { schema: { hide: true } }, async () => app.swagger());
  }
  return app;
}
