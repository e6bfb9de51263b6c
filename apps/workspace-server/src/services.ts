import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimeHost, RuntimeRegistryApi } from '@runyard/runtime-registry';
import { openSqliteInventory } from '@runyard/skills-reconciler/sqlite';
import { openDatabase, type SqliteDatabase } from '@runyard/sqlite';
import { openTrustStore, type SqliteTrustStore } from '@runyard/trust/sqlite';
import type { Logger } from 'pino';
import type { ServeConfig } from './config.js';
import { EventHub } from './events/hub.js';
import { lockDataDir } from './lock.js';
import { type ResolvedPython, resolvePython } from './python.js';
import {
  defaultRuntimeProvider,
  LOCAL_RUNTIME_ID,
  type RemoteRuntimeOptions,
  type RuntimeProvider,
} from './runtimes.js';
import { createSkillsService, type SkillsService } from './skills.js';
import { WorkerDirectory } from './worker-directory.js';

/** Everything the REST, WebSocket and MCP layers work on; one instance per process. */
export interface WorkspaceServices {
  readonly config: ServeConfig;
  readonly db: SqliteDatabase;
  readonly trust: SqliteTrustStore;
  readonly registry: RuntimeRegistryApi;
  readonly skills: SkillsService;
  readonly events: EventHub;
  readonly logger: Logger;
  /** The base interpreter of kernel envs (for the startup banner and `describe`). */
  readonly python: ResolvedPython;
  /** Workers created through this server, so `GET /api/workers/:id` knows where to look. */
  readonly workers: WorkerDirectory;
  /** The default runtime: every notebook operation goes here. */
  local(): RuntimeHost;
  registerRemote(options: RemoteRuntimeOptions): ReturnType<RuntimeRegistryApi['register']>;
  unregister(runtimeId: string): Promise<void>;
  /** Stops the reconciler, every runtime (kernels, workers) and closes the database. */
  close(): Promise<void>;
}

export interface OpenServicesOptions {
  logger: Logger;
  provider?: RuntimeProvider;
  env?: Readonly<Record<string, string | undefined>>;
  /** Values every runtime output is redacted of from the start (the API token). */
  redactValues?: Readonly<Record<string, string>>;
}

export async function openServices(
  config: ServeConfig,
  options: OpenServicesOptions,
): Promise<WorkspaceServices> {
  const { logger } = options;
  const provider = options.provider ?? defaultRuntimeProvider;
  const env = options.env ?? process.env;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(config.dataDir);
  let db: SqliteDatabase;
  try {
    db = openDatabase(join(config.dataDir, 'runyard.db'));
  } catch (error) {
    unlock();
    throw error;
  }
  const cleanups: (() => Promise<void> | void)[] = [
    unlock,
    () => {
      db.close();
    },
  ];
  const unwind = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.warn({ err: error }, 'cleanup failed');
      }
    }
  };
  try {
    const trust = openTrustStore({ db });
    const inventory = openSqliteInventory(db);
    const events = new EventHub();
    cleanups.push(() => events.close());
    const skills = createSkillsService({
      manifests: config.skillsManifests,
      policy: config.skillsPolicy,
      env,
      userSkillsRoot: config.skillsRoot,
      workspaceDir: config.workspace,
      inventory,
      token: env.RUNYARD_SKILLS_TOKEN,
      logger,
    });
    cleanups.push(() => skills.close());
    events.attachSkills((listener) => skills.reconciler.on(listener));

    const python = await resolvePython({ configured: config.python, env });
    const registry = provider.createRegistry(logger.child({ component: 'registry' }));
    // Closing the registry closes every host, the embedded runtime's kernels and workers too.
    cleanups.push(() => registry.close());
    const local = await provider.createLocalRuntime({
      config,
      db,
      logger: logger.child({ component: 'runtime' }),
      python,
      env,
      ...(options.redactValues ? { redactValues: options.redactValues } : {}),
    });
    if (local.id !== LOCAL_RUNTIME_ID) {
      await local.close();
      throw new Error(`the embedded runtime must be registered as "${LOCAL_RUNTIME_ID}"`);
    }
    registry.register(local, { default: true });
    events.attachRuntime(local);

    await skills.start();
    let closed: Promise<void> | undefined;
    const workers = new WorkerDirectory();
    return {
      config,
      db,
      trust,
      registry,
      skills,
      events,
      logger,
      python,
      workers,
      local: () => registry.defaultRuntime(),
      registerRemote(remote) {
        const host = provider.createRemoteRuntime(remote);
        let entry: ReturnType<RuntimeRegistryApi['register']>;
        try {
          entry = registry.register(host);
        } catch (error) {
          void host.close();
          throw error;
        }
        events.attachRuntime(host);
        // Probe now so the answer already says whether the runtime is reachable.
        void registry.probe(host.id).catch(() => undefined);
        return entry;
      },
      async unregister(runtimeId) {
        await registry.unregister(runtimeId);
        events.detachRuntime(runtimeId);
        workers.forgetRuntime(runtimeId);
      },
      close() {
        closed ??= unwind();
        return closed;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}
