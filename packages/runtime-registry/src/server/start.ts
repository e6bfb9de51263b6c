import { createHttpServer } from '@runyard/http';
import type { FastifyServerOptions } from 'fastify';
import type { RuntimeApi } from '../contract.js';
import { type RuntimeRoutesOptions, registerRuntimeRoutes } from './routes.js';
import { runtimeStatusFor } from './status.js';

export interface StartRuntimeServerOptions extends RuntimeRoutesOptions {
  api: RuntimeApi;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  token: string;
  /** Largest request body (default 2 MiB: a 1 MiB bundle or code cell plus JSON overhead). */
  bodyLimit?: number;
  allowedOrigins?: string[];
  /** Host names besides `host` and the loopback names (see `@runyard/http`). */
  allowedHosts?: string[];
  logger?: FastifyServerOptions['logger'];
}

export interface RuntimeServer {
  /** `http://<host>:<port>`, without credentials. */
  url: string;
  port: number;
  app: Awaited<ReturnType<typeof createHttpServer>>;
  close(): Promise<void>;
}

/** Serves `api` under `/v1` with bearer auth; resolves once listening. */
export async function startRuntimeServer(
  options: StartRuntimeServerOptions,
): Promise<RuntimeServer> {
  const host = options.host ?? '127.0.0.1';
  const app = await createHttpServer({
    token: options.token,
    statusFor: runtimeStatusFor,
    bodyLimit: options.bodyLimit ?? 2 * 1024 * 1024,
    logger: options.logger ?? false,
    ...(options.allowedOrigins === undefined ? {} : { allowedOrigins: options.allowedOrigins }),
    bindHost: host,
    ...(options.allowedHosts === undefined ? {} : { allowedHosts: options.allowedHosts }),
    openapi: { title: 'Runyard runtime', version: '1', path: '/v1/openapi.json' },
  });
  registerRuntimeRoutes(
    app,
    options.api,
    options.maxEventBacklogBytes === undefined
      ? {}
      : { maxEventBacklogBytes: options.maxEventBacklogBytes },
  );
  try {
    await app.listen({ host, port: options.port ?? 0 });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    await app.close();
    throw new Error('the runtime server is not listening on a TCP port');
  }
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    app,
    close: () => app.close(),
  };
}
