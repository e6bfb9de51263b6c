import {
  RemoteRuntimeHost,
  RuntimeError,
  type RuntimeHost,
  RuntimeRegistry,
  type RuntimeRegistryApi,
} from '@runyard/runtime-registry';
import type { SqliteDatabase } from '@runyard/sqlite';
import type { Logger } from 'pino';
import type { ServeConfig } from './config.js';

/** What the embedded runtime needs from the composition. */
export interface LocalRuntimeOptions {
  config: ServeConfig;
  /** The shared `<dataDir>/runyard.db` connection. */
  db: SqliteDatabase;
  logger: Logger;
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

export const defaultRuntimeProvider: RuntimeProvider = {
  createRegistry,
  // TODO(runtime parts): createRuntime from @runyard/embedded-runtime wrapped in an
  // EmbeddedRuntimeHost with id "local", once the embedded runtime is on main.
  createLocalRuntime: async () => {
    throw new RuntimeError(
      'runtime_closed',
      'the embedded runtime is not available in this build of the workspace server',
    );
  },
  createRemoteRuntime,
};
