import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigBundleError,
  createEnvSecretResolver,
  type SecretResolver,
} from '@runyard/config-bundles';
import { openConfigBundleStore } from '@runyard/config-bundles/sqlite';
import { type Isolation, resolveBasePython, type Wheelhouse } from '@runyard/kernels';
import {
  type BundleAvailability,
  type BundleSummary,
  type CreateNotebookRequest,
  type ExecuteRequest,
  type ExecuteResult,
  type ManageDependenciesRequest,
  type PoolStatus,
  type RuntimeApi,
  type RuntimeDescriptor,
  RuntimeError,
  type RuntimeEvent,
  type RuntimeInfo,
  type WorkerInfo,
} from '@runyard/runtime-registry';
import { openDatabase, packageDir, type SqliteDatabase } from '@runyard/sqlite';
import { createTrustService, loadOrCreateTrustKey } from '@runyard/trust';
import { openTrustStore } from '@runyard/trust/sqlite';
import { Environments } from './environments.js';
import { type RuntimeEventOf, RuntimeEvents, type RuntimeEventType } from './events.js';
import { NotebookManager, type RestartPolicy } from './notebooks.js';
import { reapPreviousKernels } from './recovery.js';
import { openNotebookRecordStore } from './sqlite/notebook-store.js';
import { WorkerManager } from './workers.js';

export interface RuntimeOptions {
  /** SQLite (`runyard.db`) and kernel connection files. */
  dataDir: string;
  /** Environments (content-hash cache, pools). */
  cacheDir: string;
  /** The trust key. */
  configDir: string;
  /** Every notebook path and worker cwd is confined to this directory. */
  workspaceRoot: string;
  /** Base interpreter; default `RUNYARD_PYTHON`, then the first candidate with ipykernel. */
  python?: string;
  /** Warm environments and kernels kept for notebooks that declare no dependencies. */
  pool?: { envs?: number; kernels?: number };
  /** Resolves secret references of worker profiles; default `RUNYARD_SECRET_<NAME>` from `env`. */
  secrets?: SecretResolver;
  /** A connection to share with the host; else `<dataDir>/runyard.db` is opened (and closed). */
  db?: SqliteDatabase;
  clock?: () => Date;
  /** Environment of kernels and build tools; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Env isolation (default 'auto': inherit a base that has ipykernel; works with no index). */
  isolation?: Isolation;
  /** Offline package source for env builds. */
  wheelhouse?: Wheelhouse;
  preferredManager?: 'uv' | 'conda';
  restartPolicy?: Partial<RestartPolicy>;
  /** This runtime's id in `describe()`; default `embedded`. */
  id?: string;
  /** Recorded in the trust audit log for approvals made through this runtime. */
  actor?: string;
}

/** The in-process runtime: the `RuntimeApi` plus typed events and teardown. */
export interface Runtime extends RuntimeApi {
  readonly id: string;
  /** Events of one type; returns the unsubscribe function. */
  on<T extends RuntimeEventType>(type: T, listener: (event: RuntimeEventOf<T>) => void): () => void;
  /** Stops every kernel and worker this runtime started. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_POOL = { envs: 1, kernels: 1 };
const DEFAULT_RESTART_POLICY: RestartPolicy = { maxRestarts: 3, windowMs: 5 * 60_000 };

function version(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(join(packageDir(import.meta.url), 'package.json'), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Creates the runtime. At start it cleans what a crashed run left (kernels still running on this
 * data dir, their connection files, half-built envs) and lists known notebooks as `not_started`.
 */
export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const clock = options.clock ?? (() => new Date());
  const env = options.env ?? process.env;
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(options.cacheDir, { recursive: true });
  mkdirSync(options.workspaceRoot, { recursive: true });
  const workspaceRoot = realpathSync(options.workspaceRoot);
  const runtimeDir = join(options.dataDir, 'kernels');
  reapPreviousKernels(runtimeDir);

  const ownsDb = options.db === undefined;
  const db = options.db ?? openDatabase(join(options.dataDir, 'runyard.db'));
  try {
    const trustStore = openTrustStore({ db }, { now: clock });
    const bundles = openConfigBundleStore(db, { clock });
    const records = openNotebookRecordStore(db, clock);
    const key = await loadOrCreateTrustKey({ configDir: options.configDir });
    const trust = createTrustService({ store: trustStore, key, now: clock });
    const basePython = await resolveBasePython({
      ...(options.python ? { configured: options.python } : {}),
      env,
    });
    const pool = { ...DEFAULT_POOL, ...(options.pool ?? {}) };
    const environments = new Environments({
      cacheDir: options.cacheDir,
      basePython,
      isolation: options.isolation ?? 'auto',
      wheelhouse: options.wheelhouse,
      env,
      runtimeDir,
      pool: { envs: pool.envs, kernels: pool.kernels },
      workspaceRoot,
    });
    environments.cleanLeftovers();
    const events = new RuntimeEvents();
    const notebooks = new NotebookManager({
      workspaceRoot,
      environments,
      trust,
      events,
      records,
      runtimeDir,
      env,
      preferredManager: options.preferredManager ?? 'uv',
      restartPolicy: { ...DEFAULT_RESTART_POLICY, ...(options.restartPolicy ?? {}) },
      actor: options.actor ?? 'runyard-runtime',
      now: () => clock().getTime(),
    });
    notebooks.restore();
    const workers = new WorkerManager({
      workspaceRoot,
      bundles,
      secrets: options.secrets ?? createEnvSecretResolver({ env }),
      notebooks,
      events,
      path: env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      now: clock,
    });
    environments.start();
    return new EmbeddedRuntime({
      id: options.id ?? 'embedded',
      version: version(),
      clock,
      notebooks,
      workers,
      bundles,
      events,
      environments,
      basePythonHasIpykernel: basePython.hasIpykernel,
      closeDb: ownsDb ? () => db.close() : () => undefined,
    });
  } catch (error) {
    if (ownsDb) db.close();
    throw error;
  }
}

interface Parts {
  id: string;
  version: string;
  clock: () => Date;
  notebooks: NotebookManager;
  workers: WorkerManager;
  bundles: ReturnType<typeof openConfigBundleStore>;
  events: RuntimeEvents;
  environments: Environments;
  basePythonHasIpykernel: boolean;
  closeDb: () => void;
}

class EmbeddedRuntime implements Runtime {
  readonly id: string;
  private closing: Promise<void> | undefined;

  constructor(private readonly parts: Parts) {
    this.id = parts.id;
  }

  private open(): void {
    if (this.closing) throw new RuntimeError('runtime_closed', 'The runtime is shut down');
  }

  async describe(): Promise<RuntimeDescriptor> {
    const degraded = !this.parts.basePythonHasIpykernel;
    return {
      id: this.id,
      version: this.parts.version,
      capabilities: ['notebooks', 'python', 'deno', 'workers', 'config-bundles', 'events'],
      health: {
        status: this.closing ? 'unreachable' : degraded ? 'degraded' : 'ok',
        checkedAt: this.parts.clock().toISOString(),
        ...(degraded
          ? { details: 'The base interpreter has no ipykernel; every environment installs it' }
          : {}),
      },
    };
  }

  async storeBundle(bundle: unknown): Promise<BundleAvailability> {
    this.open();
    const { summary } = this.parts.bundles.put(bundle);
    return { available: true, summary: { ...summary } };
  }

  async listBundles(): Promise<BundleSummary[]> {
    this.open();
    return this.parts.bundles.list().map((summary) => ({ ...summary }));
  }

  async checkBundle(ref: { id: string; digest: string }): Promise<BundleAvailability> {
    this.open();
    const availability = this.parts.bundles.checkAvailability(ref);
    if (!availability.available)
      throw new ConfigBundleError(availability.code, availability.message);
    return { available: true, summary: { ...availability.summary } };
  }

  async createWorker(request: unknown): Promise<WorkerInfo> {
    this.open();
    return this.parts.workers.create(request);
  }

  async getWorker(workerId: string): Promise<WorkerInfo> {
    return this.parts.workers.get(workerId);
  }

  async listWorkers(): Promise<WorkerInfo[]> {
    return this.parts.workers.list();
  }

  async stopWorker(workerId: string): Promise<WorkerInfo> {
    this.open();
    return this.parts.workers.stop(workerId);
  }

  createNotebook(request: CreateNotebookRequest): Promise<RuntimeInfo> {
    return this.parts.notebooks.create(request);
  }

  openNotebook(path: string): Promise<RuntimeInfo> {
    return this.parts.notebooks.open(path);
  }

  async getNotebook(notebookId: string): Promise<RuntimeInfo> {
    return this.parts.notebooks.get(notebookId);
  }

  async listNotebooks(): Promise<RuntimeInfo[]> {
    return this.parts.notebooks.list();
  }

  execute(notebookId: string, request: ExecuteRequest): Promise<ExecuteResult> {
    return this.parts.notebooks.execute(notebookId, request);
  }

  interrupt(notebookId: string): Promise<RuntimeInfo> {
    return this.parts.notebooks.interrupt(notebookId);
  }

  restart(notebookId: string): Promise<RuntimeInfo> {
    return this.parts.notebooks.restart(notebookId);
  }

  shutdown(notebookId: string): Promise<RuntimeInfo> {
    return this.parts.notebooks.shutdown(notebookId);
  }

  manageDependencies(notebookId: string, request: ManageDependenciesRequest): Promise<RuntimeInfo> {
    return this.parts.notebooks.manageDependencies(notebookId, request);
  }

  async pool(): Promise<PoolStatus> {
    const { environments } = this.parts;
    const envStatus = environments.envPool?.status().venv;
    const kernelPool = environments.kernelPool;
    return {
      envPool: {
        size: environments.envPoolSize,
        ready: envStatus?.ready ?? 0,
        warming: envStatus?.warming ? 1 : 0,
        failures: environments.counters.envFailures,
      },
      kernelPool: {
        size: environments.kernelPoolSize,
        ready: kernelPool?.ready ?? 0,
        warming: environments.counters.kernelWarming ? 1 : 0,
        failures: environments.counters.kernelFailures,
      },
    };
  }

  subscribe(listener: (event: RuntimeEvent) => void): () => void {
    return this.parts.events.subscribe(listener);
  }

  on<T extends RuntimeEventType>(
    type: T,
    listener: (event: RuntimeEventOf<T>) => void,
  ): () => void {
    return this.parts.events.on(type, listener);
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        await Promise.all([this.parts.workers.close(), this.parts.notebooks.close()]);
        await this.parts.environments.stop();
        this.parts.closeDb();
      })();
    }
    return this.closing;
  }
}
