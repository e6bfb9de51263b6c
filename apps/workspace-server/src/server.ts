import { createHttpServer, type LoadedToken, loadOrCreateToken } from '@runyard/http';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { ServeConfig } from './config.js';
import { createWorkspaceErrorHandler } from './errors.js';
import { prettyLogStream, resolveLogFormat } from './log-format.js';
import { createLogger } from './logger.js';
import { registerEventRoutes } from './routes/events.js';
import { registerMcpRoutes } from './routes/mcp.js';
import { registerNotebookRoutes } from './routes/notebooks.js';
import { registerPoolRoutes } from './routes/pool.js';
import { registerRuntimeRoutes } from './routes/runtimes.js';
import { registerSkillsRoutes } from './routes/skills.js';
import { registerTrustRoutes } from './routes/trust.js';
import type { RuntimeProvider } from './runtimes.js';
import { openServices, type WorkspaceServices } from './services.js';
import { VERSION } from './version.js';

export { VERSION } from './version.js';

/** A route as Fastify registered it, for tests that must cover every route. */
export interface RegisteredRoute {
  method: string;
  url: string;
  websocket: boolean;
  /** Names of the route-level preHandlers (e.g. `skillsPolicyGate`). */
  preHandlers: string[];
}

export interface WorkspaceServer {
  url: string;
  token: LoadedToken;
  /**
   * Whether the local runtime's kernels and workers are sandboxed, and when not, the warning
   * the banner, `/healthz` and every notebook's `sandbox: 'off'` repeat.
   */
  sandbox: SandboxReport;
  services: WorkspaceServices;
  routes: RegisteredRoute[];
  close(): Promise<void>;
}

export interface StartOptions {
  /** false: no logs at all (tests). */
  logger?: boolean | Logger;
  provider?: RuntimeProvider;
  env?: Readonly<Record<string, string | undefined>>;
}

const PUBLIC_PATHS = ['/healthz', '/readyz'];

export interface SandboxReport {
  effective: 'bwrap' | 'off' | 'unknown';
  warning?: string;
}

/** What `--sandbox off` (or `auto` without a working bwrap) leaves open, in one line. */
export const SANDBOX_OFF_WARNING =
  'the sandbox is OFF: notebook kernels and command workers run unconfined as this user and can read the API token file, the data and config dirs, and this server process (its memory; secrets are withheld only from its environment)';

async function sandboxReport(services: WorkspaceServices): Promise<SandboxReport> {
  const descriptor = await services
    .local()
    .describe()
    .catch(() => undefined);
  const capability = descriptor?.capabilities.find((c) => c.startsWith('sandbox:'));
  if (capability === 'sandbox:bwrap') return { effective: 'bwrap' };
  if (capability === 'sandbox:off') return { effective: 'off', warning: SANDBOX_OFF_WARNING };
  return { effective: 'unknown' };
}
/**
 * The largest request body (and WebSocket message) on every route: a 1 MiB code cell or config
 * bundle (the packages' own caps) plus JSON escaping and the envelope.
 */
export const BODY_LIMIT_BYTES = 2 * 1024 * 1024;
const OPENAPI_PATH = '/api/openapi.json';

/**
 * Composes the workspace server: one SQLite database shared by the stores, the embedded
 * runtime registered as `local` (the default), REST under /api, events over WebSocket, MCP at
 * /mcp, all behind one bearer token.
 */
export async function startWorkspaceServer(
  config: ServeConfig,
  options: StartOptions = {},
): Promise<WorkspaceServer> {
  const env = options.env ?? process.env;
  const token = loadOrCreateToken({ dataDir: config.dataDir, token: config.token });
  const silent = options.logger === false || config.logLevel === 'silent';
  // Logs go to stderr: JSON lines for machines, readable lines when a person watches them.
  const logStream =
    resolveLogFormat(config.logFormat, process.stderr) === 'pretty'
      ? prettyLogStream(process.stderr, { color: process.stderr.isTTY === true && !env.NO_COLOR })
      : undefined;
  const logger =
    typeof options.logger === 'object'
      ? options.logger
      : createLogger({
          level: silent ? 'silent' : config.logLevel,
          ...(logStream ? { destination: logStream } : {}),
          secrets: [token.token, env.RUNYARD_SKILLS_TOKEN],
        });
  const services = await openServices(config, {
    logger,
    env,
    // A kernel that can read the token (unsandboxed: the token file is the user's) still never
    // gets it into an output.
    redactValues: { RUNYARD_API_TOKEN: token.token },
    ...(options.provider ? { provider: options.provider } : {}),
  });
  let app: Awaited<ReturnType<typeof createHttpServer>>;
  try {
    app = await createHttpServer({
      token: token.token,
      publicPaths: PUBLIC_PATHS,
      bodyLimit: BODY_LIMIT_BYTES,
      allowedOrigins: config.allowedOrigins,
      bindHost: config.host,
      allowedHosts: config.allowedHosts,
      logger: silent ? false : { level: config.logLevel, stream: logStream ?? process.stderr },
      openapi: {
        title: 'Runyard workspace server',
        version: VERSION,
        description:
          'Notebooks, runtimes, config bundles, workers, trust and managed skills. Every route but /healthz and /readyz needs `Authorization: Bearer <token>`.',
        path: OPENAPI_PATH,
      },
    });
  } catch (error) {
    await services.close();
    throw error;
  }
  const routes: RegisteredRoute[] = [];
  // Registered by createHttpServer before this hook existed; listed so the auth table covers it.
  if (app.hasRoute({ method: 'GET', url: OPENAPI_PATH })) {
    routes.push({ method: 'GET', url: OPENAPI_PATH, websocket: false, preHandlers: [] });
  }
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const handlers = route.preHandler
      ? Array.isArray(route.preHandler)
        ? route.preHandler
        : [route.preHandler]
      : [];
    for (const method of methods) {
      routes.push({
        method: String(method),
        url: route.url,
        websocket: (route as { websocket?: boolean }).websocket === true,
        preHandlers: handlers.map((handler) => (handler as { name: string }).name),
      });
    }
  });

  const sandbox = await sandboxReport(services);
  let ready = false;
  // The sandbox state is part of health: a fallback from `auto` to off must be visible to every
  // probe and dashboard, not only in a start-up log line.
  app.get('/healthz', { schema: { hide: true } }, async () => ({
    status: 'ok',
    sandbox: sandbox.effective,
    ...(sandbox.warning ? { warning: sandbox.warning } : {}),
  }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) =>
    ready ? { status: 'ready' } : reply.code(503).send({ status: 'starting' }),
  );
  // One encapsulated scope for the API, with its own error handler (remote runtime statuses).
  await app.register(async (scope) => {
    const api = scope.withTypeProvider<ZodTypeProvider>();
    api.setErrorHandler(createWorkspaceErrorHandler());
    registerNotebookRoutes(api, services);
    registerRuntimeRoutes(api, services);
    registerTrustRoutes(api, services);
    registerSkillsRoutes(api, services);
    registerPoolRoutes(api, services);
    registerEventRoutes(api, services);
    registerMcpRoutes(api, services);
  });

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    await services.close();
    throw error;
  }
  ready = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    token,
    sandbox,
    services,
    routes,
    close() {
      closing ??= (async () => {
        ready = false;
        await app.close();
        // Kernels and workers stop with their runtimes; the database closes last.
        await services.close();
      })();
      return closing;
    },
  };
}
