import { RuntimeError, type RuntimeHost, type RuntimeRegistryApi } from '@runyard/runtime-registry';
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

function missing(part: string): never {
  throw new RuntimeError(
    'runtime_closed',
    `${part} is not available in this build of the workspace server`,
  );
}

// TODO(runtime parts): switch to the real constructors once they are on main:
// createRuntimeRegistry / RemoteRuntimeHost from @runyard/runtime-registry and createRuntime +
// EmbeddedRuntimeHost from @runyard/embedded-runtime.
export const defaultRuntimeProvider: RuntimeProvider = {
  createRegistry: () => missing('the runtime registry'),
  createLocalRuntime: async () => missing('the embedded runtime'),
  createRemoteRuntime: () => missing('remote runtimes'),
};
