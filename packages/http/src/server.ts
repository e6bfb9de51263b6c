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
import { createErrorHandler, errorBody, type StatusForCode } from './errors.js';
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
   * Origins a WebSocket upgrade may come from. Default: only the server's own host, so a web
   * page elsewhere cannot ride a user's token. Clients that send no Origin (CLIs, agents) pass.
   */
  allowedOrigins?: string[];
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

function isUpgrade(request: FastifyRequest): boolean {
  return request.headers.upgrade?.toLowerCase() === 'websocket';
}

export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: string[] | undefined,
): boolean {
  if (origin === undefined) return true;
  if (allowed?.includes('*')) return true;
  if (allowed?.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * A Fastify server with the parts every Runyard server shares: zod validation and
 * serialisation, bearer auth on everything but the public paths (a `?token=` query only for
 * WebSocket upgrades), Origin checks on upgrades, body limits, and one error shape.
 */
export async function createHttpServer(options: HttpServerOptions) {
  const publicPaths = new Set(options.publicPaths ?? ['/healthz', '/readyz']);
  const tokenMatches = tokenChecker(options.token);
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

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?', 1)[0] ?? '';
    if (publicPaths.has(path)) return;
    const upgrade = isUpgrade(request);
    const presented = bearer(request) ?? (upgrade ? queryToken(request) : undefined);
    if (!tokenMatches(presented)) {
      return reply.code(401).send(errorBody('unauthorized', 'missing or invalid API token'));
    }
    if (
      upgrade &&
      !originAllowed(request.headers.origin, request.headers.host, options.allowedOrigins)
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
