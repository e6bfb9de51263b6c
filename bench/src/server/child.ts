// A server under test, in its own process so its RSS is its own and the load generator in the
// bench process does not share its event loop. `workspace` starts the real workspace server
// (`startWorkspaceServer` from @runyard/workspace-server); `bare` starts a bare Fastify app with
// one route returning a constant JSON object, the throughput baseline.
// Prints one JSON line on stdout: {"url","token"} once listening, or {"error"} if it could not
// start. Closes gracefully when stdin ends or on SIGTERM.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface ChildOptions {
  mode: 'workspace' | 'bare';
  workspace: string;
  dataDir: string;
  cacheDir: string;
  configDir: string;
  home: string;
  python: string;
  kernelPool: number;
  envPool: number;
  /** bare: the constant JSON object the route returns. */
  body?: unknown;
}

export interface ChildReady {
  url: string;
  token: string;
}

/** The minimal surface of Fastify the baseline uses (fastify is a dependency of @runyard/http). */
interface BareApp {
  get(path: string, handler: () => Promise<unknown>): void;
  listen(options: { host: string; port: number }): Promise<string>;
  close(): Promise<void>;
}

async function startBare(body: unknown): Promise<{ ready: ChildReady; close(): Promise<void> }> {
  // Resolved through @runyard/http, which depends on fastify: the bench takes no dependency of
  // its own (that would change the root lockfile) and measures the very Fastify the server uses.
  const require = createRequire(
    fileURLToPath(new URL('../../../packages/http/package.json', import.meta.url)),
  );
  const fastify = require('fastify') as (options: { logger: boolean }) => BareApp;
  const app = fastify({ logger: false });
  app.get('/api/notebooks/:id/runtime', async () => body);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { ready: { url, token: 'none' }, close: () => app.close() };
}

async function startWorkspace(
  options: ChildOptions,
): Promise<{ ready: ChildReady; close(): Promise<void> }> {
  const { loadServeConfig, startWorkspaceServer } = await import('@runyard/workspace-server');
  const config = loadServeConfig({
    flags: {
      host: '127.0.0.1',
      port: '0',
      workspace: options.workspace,
      dataDir: options.dataDir,
      cacheDir: options.cacheDir,
      configDir: options.configDir,
      python: options.python,
      logLevel: 'silent',
      kernelPool: String(options.kernelPool),
      envPool: String(options.envPool),
    },
    env: {},
    cwd: options.workspace,
    home: options.home,
  });
  const server = await startWorkspaceServer(config, { logger: false });
  return { ready: { url: server.url, token: server.token.token }, close: () => server.close() };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
  let started: { ready: ChildReady; close(): Promise<void> };
  try {
    started =
      options.mode === 'bare' ? await startBare(options.body ?? {}) : await startWorkspace(options);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    process.stdout.write(`${JSON.stringify({ error: message })}\n`);
    process.exit(1);
  }
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    try {
      await started.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void close());
  process.stdin.on('end', () => void close());
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify(started.ready)}\n`);
}

await main();
