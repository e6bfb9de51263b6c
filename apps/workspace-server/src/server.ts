import { createHttpServer, type LoadedToken, loadOrCreateToken } from '@runyard/http';
import type { ServeConfig } from './config.js';

export const VERSION = '0.1.0';

export interface WorkspaceServer {
  url: string;
  token: LoadedToken;
  close(): Promise<void>;
}

/** Composes the workspace server from the packages and starts listening. */
export async function startWorkspaceServer(
  config: ServeConfig,
  options: { logger?: boolean } = {},
): Promise<WorkspaceServer> {
  const token = loadOrCreateToken({ dataDir: config.dataDir, token: config.token });
  const app = await createHttpServer({
    token: token.token,
    allowedOrigins: config.allowedOrigins,
    logger:
      options.logger === false || config.logLevel === 'silent' ? false : { level: config.logLevel },
    openapi: { title: 'Runyard workspace server', version: VERSION, path: '/api/openapi.json' },
  });
  let ready = false;
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) =>
    ready ? { status: 'ready' } : reply.code(503).send({ status: 'starting' }),
  );
  await app.listen({ host: config.host, port: config.port });
  ready = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${host}:${port}`,
    token,
    async close() {
      ready = false;
      await app.close();
    },
  };
}
