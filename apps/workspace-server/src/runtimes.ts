import { createEnvSecretResolver } from '@runyard/config-bundles';
import { createRuntime, type RuntimeOptions } from '@runyard/embedded-runtime';
import {
  EmbeddedRuntimeHost,
  RemoteRuntimeHost,
  type RuntimeHost,
  RuntimeRegistry,
  type RuntimeRegistryApi,
} from '@runyard/runtime-registry';
import type { SqliteDatabase } from '@runyard/sqlite';
import type { Logger } from 'pino';
import type { ServeConfig } from './config.js';
import type { ResolvedPython } from './python.js';

/** What the embedded runtime needs from the composition. */
export interface LocalRuntimeOptions {
  config: ServeConfig;
  /** The shared `<dataDir>/runyard.db` connection. */
  db: SqliteDatabase;
  logger: Logger;
  /** The base interpreter, resolved once by the composition (see python.ts). */
  python: ResolvedPython;
  /** The environment kernels, build tools and workers' secret references see. */
  env: Readonly<Record<string, string | undefined>>;
  /** Values the runtime's redactor knows from the start (the API token). */
  redactValues?: Readonly<Record<string, string>>;
}

export interface RemoteRuntimeOptions {
  id: string;
  url: string;
  token: string;
}

/**
 * Where runtimes come from. The server is written against `RuntimeRegistryApi` and
 * `RuntimeHost` only; this seam names the three constructors it needs from the runtime parts.
 */
export interface RuntimeProvider {
  createRegistry(logger: Logger): RuntimeRegistryApi;
  createLocalRuntime(options: LocalRuntimeOptions): Promise<RuntimeHost>;
  createRemoteRuntime(options: RemoteRuntimeOptions): RuntimeHost;
}

/** The id the embedded runtime is registered under (and the default for notebook routes). */
export const LOCAL_RUNTIME_ID = 'local';

/** The registry with periodic health probes; remote hosts speak the `/v1` API. */
export function createRegistry(logger: Logger): RuntimeRegistryApi {
  const registry = new RuntimeRegistry({
    onHealth: (runtimeId, health) => {
      if (health.status !== 'ok')
        logger.warn({ runtimeId, status: health.status }, 'runtime health');
    },
  });
  registry.start();
  return registry;
}

export function createRemoteRuntime(options: RemoteRuntimeOptions): RuntimeHost {
  return new RemoteRuntimeHost({ id: options.id, url: options.url, token: options.token });
}

/**
 * Variables of this process a kernel must never see: a notebook's code runs in the kernel, and
 * the API tokens would let it drive the server that started it. Worker secrets
 * (`RUNYARD_SECRET_*`) are resolved from the full environment and handed only to the workers
 * whose profile grants them.
 */
const WITHHELD_FROM_KERNELS = new Set([
  'RUNYARD_TOKEN',
  'RUNYARD_SKILLS_TOKEN',
  'RUNYARD_RUNTIME_TOKEN',
]);
const WITHHELD_PREFIX = 'RUNYARD_SECRET_';

export function kernelEnv(env: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv {
  const copy: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || WITHHELD_FROM_KERNELS.has(name) || name.startsWith(WITHHELD_PREFIX))
      continue;
    copy[name] = value;
  }
  return copy;
}

/**
 * The embedded runtime on the shared database connection, as the host `local`. Closing the
 * host closes the runtime: every kernel and worker it started is stopped.
 */
/** The embedded runtime's options from the server configuration (shared with `runtime serve`). */
export function runtimeOptionsFor(
  config: ServeConfig,
  python: ResolvedPython,
  env: Readonly<Record<string, string | undefined>>,
  extra: {
    id: string;
    db?: SqliteDatabase;
    onLog?: (line: string) => void;
    redactValues?: Readonly<Record<string, string>>;
  },
): RuntimeOptions {
  return {
    id: extra.id,
    dataDir: config.dataDir,
    cacheDir: config.cacheDir,
    configDir: config.configDir,
    workspaceRoot: config.workspace,
    python: python.python,
    pool: { envs: config.envPool, kernels: config.kernelPool },
    env: kernelEnv(env),
    secrets: createEnvSecretResolver({ env }),
    actor: 'workspace-server',
    ...(extra.db ? { db: extra.db } : {}),
    ...(config.wheelhouse ? { wheelhouse: { findLinks: [config.wheelhouse] } } : {}),
    sandbox: config.sandbox,
    outputBudgetBytes: config.outputBudget,
    maxKernels: config.maxKernels,
    ...(config.bwrap ? { bwrapPath: config.bwrap } : {}),
    ...(config.grants ? { grants: config.grants } : {}),
    ...(extra.onLog ? { onLog: extra.onLog } : {}),
    ...(extra.redactValues ? { redactValues: extra.redactValues } : {}),
  };
}

export async function createLocalRuntime(options: LocalRuntimeOptions): Promise<RuntimeHost> {
  const runtime = await createRuntime(
    runtimeOptionsFor(options.config, options.python, options.env, {
      id: LOCAL_RUNTIME_ID,
      db: options.db,
      onLog: (line) => options.logger.info(line),
      ...(options.redactValues ? { redactValues: options.redactValues } : {}),
    }),
  );
  return new EmbeddedRuntimeHost(runtime, {
    id: LOCAL_RUNTIME_ID,
    onClose: async () => {
      options.logger.info('stopping kernels and workers');
      await runtime.close();
    },
  });
}

export const defaultRuntimeProvider: RuntimeProvider = {
  createRegistry,
  createLocalRuntime,
  createRemoteRuntime,
};
