import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import {
  ConfigBundleError,
  createEnvSecretResolver,
  type SecretResolver,
} from '@runyard/config-bundles';
import { openConfigBundleStore } from '@runyard/config-bundles/sqlite';
import {
  type Isolation,
  kernelEnvironment,
  resolveBasePython,
  type Wheelhouse,
} from '@runyard/kernels';
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
import { isWithheldVariable, type SandboxMode } from '@runyard/sandbox';
import { openDatabase, packageDir, type SqliteDatabase } from '@runyard/sqlite';
import { createTrustService, loadOrCreateTrustKey } from '@runyard/trust';
import { openTrustStore } from '@runyard/trust/sqlite';
import {
  describeEgressEvent,
  EgressManager,
  type EgressOptions,
  type HostGrantPolicy,
} from './egress.js';
import { Environments } from './environments.js';
import { type RuntimeEventOf, RuntimeEvents, type RuntimeEventType } from './events.js';
import { DEFAULT_RESTART_POLICY, NotebookManager, type RestartPolicy } from './notebooks.js';
import { reapPreviousKernels } from './recovery.js';
import { RuntimeRedaction } from './redaction.js';
import { isInside, RuntimeSandbox, type SandboxStatus } from './sandboxing.js';
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
  /**
   * `confirm`: building an environment that is not cached yet needs consent; the notebook stops
   * at `awaiting_env_build` (`nextAction.kind: 'approve_env_build'`) until
   * `manageDependencies(id, { apply: 'sync' })`. Default `auto`: builds start at once.
   */
  envBuilds?: 'auto' | 'confirm';
  /** This runtime's id in `describe()`; default `embedded`. */
  id?: string;
  /** Recorded in the trust audit log for approvals made through this runtime. */
  actor?: string;
  /**
   * Confinement of kernels and command workers (issue 10). `auto` (default): bubblewrap when it
   * works on this machine (probed once), else unsandboxed with a notice. `required`: a typed
   * `sandbox_unavailable` error from `createRuntime` when it does not. `off`: never.
   */
  sandbox?: SandboxMode;
  /** The bwrap binary; default `bwrap` on PATH. */
  bwrapPath?: string;
  /** More paths sandboxed processes must not see; `env.HOME` is hidden by default. */
  sandboxHiddenPaths?: readonly string[];
  /** This host's definitions of the `mount:` and `network:` references profiles grant. */
  grants?: HostGrantPolicy;
  /** Egress proxy settings (extra upstream CAs, response scrubbing). */
  egress?: EgressOptions;
  /** Runtime log lines (sandbox notice, egress decisions), redacted like every other output. */
  onLog?: (line: string) => void;
  /**
   * Output one execution collects (bytes of nbformat JSON) before the rest is dropped and the
   * outputs end with a marker saying how much (default 10 MiB).
   */
  outputBudgetBytes?: number;
  /** Notebook kernels running or starting at once (default 32); more: `too_many_kernels`. */
  maxKernels?: number;
  /**
   * Values the redactor knows from the start, by name (e.g. the API token of the server
   * embedding this runtime): never in an output, event, result or error. The `env`'s
   * `RUNYARD_SECRET_*` and API-token variables are added too, so an unsandboxed kernel that
   * reads them (from a file, another process) still cannot print them.
   */
  redactValues?: Readonly<Record<string, string>>;
}

/** The in-process runtime: the `RuntimeApi` plus typed events and teardown. */
export interface Runtime extends RuntimeApi {
  readonly id: string;
  /** The sandbox mode asked for and the one in effect. */
  readonly sandbox: SandboxStatus;
  /** Events of one type; returns the unsubscribe function. */
  on<T extends RuntimeEventType>(type: T, listener: (event: RuntimeEventOf<T>) => void): () => void;
  /** Stops every kernel and worker this runtime started. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_POOL = { envs: 1, kernels: 1 };

function realDir(path: string, mode?: number): string {
  mkdirSync(path, { recursive: true, ...(mode === undefined ? {} : { mode }) });
  return realpathSync(path);
}

/**
 * Kernels have the workspace read-write, even sandboxed (the sandbox only hides these dirs with
 * an empty tmpfs), and a kernel can rename a parent of a hidden dir and put its own in its
 * place: a trust key, token or database inside the workspace is one a kernel chooses for the
 * next start. So none of them may be inside the workspace.
 */
function assertDirsOutsideWorkspace(workspaceRoot: string, dirs: Record<string, string>): void {
  for (const [name, dir] of Object.entries(dirs)) {
    if (isInside(dir, workspaceRoot)) {
      throw new RuntimeError(
        'runtime_dir_in_workspace',
        `The ${name} is inside the workspace, where kernels and workers can replace it; choose a ${name} outside the workspace (or a workspace that does not contain it)`,
      );
    }
  }
}

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
  const hostEnv = options.env ?? process.env;
  // What kernels, build tools and workers' PATH come from: never the host's RUNYARD_* (secrets,
  // tokens, settings).
  const env = kernelEnvironment(hostEnv);
  // One PATH for the sandbox's mounts and the workers' environment.
  const searchPath = env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  // Real paths: the sandbox hides and mounts by path, so a symlinked dir must not slip past.
  const dataDir = realDir(options.dataDir, 0o700);
  const cacheDir = realDir(options.cacheDir);
  const configDir = realDir(options.configDir, 0o700);
  const workspaceRoot = realDir(options.workspaceRoot);
  assertDirsOutsideWorkspace(workspaceRoot, { dataDir, cacheDir, configDir });
  const runtimeDir = join(dataDir, 'kernels');
  const log = (line: string) => {
    try {
      options.onLog?.(redaction.redact(line));
    } catch {
      // the host's logger is its own
    }
  };
  const home = hostEnv.HOME;
  // Throws sandbox_unavailable for `required` before anything is touched.
  const sandbox = new RuntimeSandbox({
    mode: options.sandbox ?? 'auto',
    ...(options.bwrapPath === undefined ? {} : { bwrapPath: options.bwrapPath }),
    dataDir,
    configDir,
    cacheDir,
    workspaceRoot,
    kernelsDir: runtimeDir,
    hiddenPaths: [
      ...(home && isAbsolute(home) && home !== '/' ? [home] : []),
      ...(options.sandboxHiddenPaths ?? []),
    ],
    hostPath: searchPath,
    env,
  });
  const redaction = new RuntimeRedaction();
  for (const [name, value] of Object.entries(hostEnv)) {
    // Named like the worker variable the secret would be granted as (`RUNYARD_SECRET_GH_TOKEN`
    // -> `GH_TOKEN`), so a marker reads the same whoever resolved the value first.
    if (value !== undefined && isWithheldVariable(name))
      redaction.add(name.replace(/^RUNYARD_SECRET_/, '') || name, value);
  }
  for (const [name, value] of Object.entries(options.redactValues ?? {}))
    redaction.add(name, value);
  if (sandbox.status.notice) log(`sandbox: ${sandbox.status.notice}`);
  reapPreviousKernels(runtimeDir);

  const ownsDb = options.db === undefined;
  const db = options.db ?? openDatabase(join(dataDir, 'runyard.db'));
  try {
    const trustStore = openTrustStore({ db }, { now: clock });
    const bundles = openConfigBundleStore(db, { clock });
    const records = openNotebookRecordStore(db, clock);
    const key = await loadOrCreateTrustKey({ configDir });
    const trust = createTrustService({ store: trustStore, key, now: clock });
    const basePython = await resolveBasePython({
      ...(options.python ? { configured: options.python } : {}),
      // RUNYARD_PYTHON is read here, from the host's environment.
      env: hostEnv,
    });
    const pool = { ...DEFAULT_POOL, ...(options.pool ?? {}) };
    const environments = new Environments({
      cacheDir,
      basePython,
      isolation: options.isolation ?? 'auto',
      wheelhouse: options.wheelhouse,
      env,
      runtimeDir,
      pool: { envs: pool.envs, kernels: pool.kernels },
      workspaceRoot,
      sandbox,
    });
    environments.cleanLeftovers();
    // Every event, from every part, passes the one redactor before any listener sees it.
    const events = new RuntimeEvents((event) => redaction.redactValue(event));
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
      envBuilds: options.envBuilds ?? 'auto',
      actor: options.actor ?? 'runyard-runtime',
      now: () => clock().getTime(),
      sandbox: sandbox.status.effective,
      outputRedactor: () => redaction.merged<'stdout' | 'stderr'>(),
      ...(options.outputBudgetBytes !== undefined
        ? { outputBudgetBytes: options.outputBudgetBytes }
        : {}),
      ...(options.maxKernels !== undefined ? { maxKernels: options.maxKernels } : {}),
      logDir: join(dataDir, 'logs'),
      hostPaths: [
        { path: workspaceRoot, label: '<workspace>' },
        { path: dataDir, label: '<data>' },
        { path: cacheDir, label: '<cache>' },
        { path: configDir, label: '<config>' },
        ...(home && isAbsolute(home) && home !== '/' ? [{ path: home, label: '~' }] : []),
      ],
    });
    await notebooks.restore();
    const egress = new EgressManager({
      dataDir,
      egress: options.egress ?? {},
      onEvent: (workerId, event) => log(describeEgressEvent(workerId, event)),
    });
    egress.cleanLeftovers();
    const workers = new WorkerManager({
      workspaceRoot,
      bundles,
      secrets: options.secrets ?? createEnvSecretResolver({ env: hostEnv }),
      notebooks,
      events,
      path: searchPath,
      now: clock,
      redaction,
      sandbox,
      egress,
      grantPolicy: options.grants ?? {},
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
      sandbox: sandbox.status,
      redaction,
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
  sandbox: SandboxStatus;
  redaction: RuntimeRedaction;
  closeDb: () => void;
}

class EmbeddedRuntime implements Runtime {
  readonly id: string;
  readonly sandbox: SandboxStatus;
  private closing: Promise<void> | undefined;

  constructor(private readonly parts: Parts) {
    this.id = parts.id;
    this.sandbox = { ...parts.sandbox };
  }

  /** Results and errors leave the runtime through the same redactor as events. */
  private async guard<T>(work: () => Promise<T> | T): Promise<T> {
    const { redaction } = this.parts;
    try {
      return redaction.redactValue(await work());
    } catch (error) {
      throw redaction.redactError(error);
    }
  }

  private open(): void {
    if (this.closing) throw new RuntimeError('runtime_closed', 'The runtime is shut down');
  }

  async describe(): Promise<RuntimeDescriptor> {
    const degraded = !this.parts.basePythonHasIpykernel;
    return {
      id: this.id,
      version: this.parts.version,
      capabilities: [
        'notebooks',
        'python',
        // Deno's kernel has no ipc transport, so it cannot run in the sandbox.
        ...(this.sandbox.effective === 'bwrap' ? [] : ['deno']),
        'workers',
        'config-bundles',
        'events',
        `sandbox:${this.sandbox.effective}`,
        'secrets:placeholder',
      ],
      health: {
        status: this.closing ? 'unreachable' : degraded ? 'degraded' : 'ok',
        checkedAt: this.parts.clock().toISOString(),
        ...(degraded || this.sandbox.notice
          ? {
              details: [
                degraded
                  ? 'The base interpreter has no ipykernel; every environment installs it'
                  : '',
                this.sandbox.notice ? `Sandbox: ${this.sandbox.notice}` : '',
              ]
                .filter((part) => part)
                .join('; '),
            }
          : {}),
      },
    };
  }

  async storeBundle(bundle: unknown): Promise<BundleAvailability> {
    return this.guard(() => {
      this.open();
      const { summary } = this.parts.bundles.put(bundle);
      return { available: true, summary: { ...summary } };
    });
  }

  async listBundles(): Promise<BundleSummary[]> {
    return this.guard(() => {
      this.open();
      return this.parts.bundles.list().map((summary) => ({ ...summary }));
    });
  }

  async checkBundle(ref: { id: string; digest: string }): Promise<BundleAvailability> {
    return this.guard(() => {
      this.open();
      const availability = this.parts.bundles.checkAvailability(ref);
      if (!availability.available)
        throw new ConfigBundleError(availability.code, availability.message);
      return { available: true, summary: { ...availability.summary } };
    });
  }

  createWorker(request: unknown): Promise<WorkerInfo> {
    return this.guard(() => {
      this.open();
      return this.parts.workers.create(request);
    });
  }

  getWorker(workerId: string): Promise<WorkerInfo> {
    return this.guard(() => this.parts.workers.get(workerId));
  }

  listWorkers(): Promise<WorkerInfo[]> {
    return this.guard(() => this.parts.workers.list());
  }

  stopWorker(workerId: string): Promise<WorkerInfo> {
    return this.guard(() => {
      this.open();
      return this.parts.workers.stop(workerId);
    });
  }

  createNotebook(request: CreateNotebookRequest): Promise<RuntimeInfo> {
    return this.guard(() => this.parts.notebooks.create(request));
  }

  openNotebook(path: string): Promise<RuntimeInfo> {
    return this.guard(() => this.parts.notebooks.open(path));
  }

  getNotebook(notebookId: string): Promise<RuntimeInfo> {
    return this.guard(() => this.parts.notebooks.get(notebookId));
  }

  listNotebooks(): Promise<RuntimeInfo[]> {
    return this.guard(() => this.parts.notebooks.list());
  }

  execute(notebookId: string, request: ExecuteRequest): Promise<ExecuteResult> {
    return this.guard(() => this.parts.notebooks.execute(notebookId, request));
  }

  interrupt(notebookId: string): Promise<RuntimeInfo> {
    return this.guard(() => this.parts.notebooks.interrupt(notebookId));
  }

  restart(notebookId: string): Promise<RuntimeInfo> {
    return this.guard(() => this.parts.notebooks.restart(notebookId));
  }

  shutdown(notebookId: string): Promise<RuntimeInfo> {
    return this.guard(() => this.parts.notebooks.shutdown(notebookId));
  }

  manageDependencies(notebookId: string, request: ManageDependenciesRequest): Promise<RuntimeInfo> {
    return this.guard(() => this.parts.notebooks.manageDependencies(notebookId, request));
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
