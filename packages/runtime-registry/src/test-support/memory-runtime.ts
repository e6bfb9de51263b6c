// TEMPORARY test double: stands in behind `RuntimeApi` until apps/embedded-runtime's
// `createRuntime` lands on main; then the end-to-end tests should drive the real runtime too.
// It keeps notebooks and workers in memory but uses the REAL @runyard/config-bundles store
// (SQLite file) and worker resolution, so bundle sync, refusals and worker creation behave as in
// the runtime. Not exported from the package.
import {
  ConfigBundleError,
  type ConfigBundleRef,
  resolveWorkerSpec,
} from '@runyard/config-bundles';
import { type ConfigBundleStore, openConfigBundleStore } from '@runyard/config-bundles/sqlite';
import type {
  BundleAvailability,
  BundleSummary,
  CreateNotebookRequest,
  ExecuteRequest,
  ExecuteResult,
  ManageDependenciesRequest,
  PoolStatus,
  RuntimeApi,
  RuntimeDescriptor,
  RuntimeEvent,
  RuntimeHealth,
  RuntimeInfo,
  WorkerInfo,
} from '../contract.js';
import { RuntimeError } from '../errors.js';

export interface MemoryRuntimeCall {
  method: string;
  args: unknown[];
}

export class MemoryRuntime implements RuntimeApi {
  readonly calls: MemoryRuntimeCall[] = [];
  readonly store: ConfigBundleStore;
  health: RuntimeHealth['status'] = 'ok';
  /** Thrown by the next call, whatever it is. */
  failNext: Error | undefined;
  /** Resolved by `execute` of code `hang` only when released (or never). */
  readonly hanging: Array<() => void> = [];
  /** Set when a `hang` execute call arrived (lets a test act mid-call). */
  onHang: (() => void) | undefined;

  readonly #notebooks = new Map<string, RuntimeInfo>();
  readonly #workers = new Map<string, WorkerInfo>();
  readonly #listeners = new Set<(event: RuntimeEvent) => void>();
  #counter = 0;

  constructor(
    databaseFile: string,
    readonly id = 'memory-runtime',
  ) {
    this.store = openConfigBundleStore(databaseFile);
  }

  close(): void {
    this.store.close();
  }

  emit(event: RuntimeEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  #enter(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const failure = this.failNext;
    if (failure) {
      this.failNext = undefined;
      throw failure;
    }
  }

  async describe(): Promise<RuntimeDescriptor> {
    this.#enter('describe');
    return {
      id: this.id,
      version: '0.0.0-test',
      capabilities: ['notebooks', 'workers', 'config-bundles'],
      health: { status: this.health, checkedAt: new Date().toISOString() },
    };
  }

  async storeBundle(bundle: unknown): Promise<BundleAvailability> {
    this.#enter('storeBundle', bundle);
    const { summary } = this.store.put(bundle);
    return { available: true, summary: { ...summary } };
  }

  async listBundles(): Promise<BundleSummary[]> {
    this.#enter('listBundles');
    return this.store.list().map((summary) => ({ ...summary }));
  }

  async checkBundle(ref: { id: string; digest: string }): Promise<BundleAvailability> {
    this.#enter('checkBundle', ref);
    const availability = this.store.checkAvailability(ref);
    if (!availability.available) {
      throw new ConfigBundleError(availability.code, availability.message);
    }
    return { available: true, summary: { ...availability.summary } };
  }

  async createWorker(request: unknown): Promise<WorkerInfo> {
    this.#enter('createWorker', request);
    const ref = (request as { configBundle?: ConfigBundleRef } | null)?.configBundle;
    const bundle = ref === undefined ? undefined : this.store.get(ref);
    const spec = resolveWorkerSpec({ request, bundle });
    this.#counter += 1;
    const worker: WorkerInfo = {
      workerId: spec.workerId ?? `w-${this.#counter}`,
      profile: spec.profile,
      mode: spec.mode,
      kind: spec.worker.kind,
      state: 'running',
      ...(spec.configBundle === undefined ? {} : { configBundle: spec.configBundle }),
      createdAt: new Date().toISOString(),
    };
    this.#workers.set(worker.workerId, worker);
    this.emit({ type: 'worker_state', worker });
    return worker;
  }

  #worker(workerId: string): WorkerInfo {
    const worker = this.#workers.get(workerId);
    if (!worker) throw new RuntimeError('worker_not_found', 'no such worker');
    return worker;
  }

  async getWorker(workerId: string): Promise<WorkerInfo> {
    this.#enter('getWorker', workerId);
    return this.#worker(workerId);
  }

  async listWorkers(): Promise<WorkerInfo[]> {
    this.#enter('listWorkers');
    return [...this.#workers.values()];
  }

  async stopWorker(workerId: string): Promise<WorkerInfo> {
    this.#enter('stopWorker', workerId);
    const worker: WorkerInfo = { ...this.#worker(workerId), state: 'stopped', exitCode: 0 };
    this.#workers.set(workerId, worker);
    this.emit({ type: 'worker_state', worker });
    return worker;
  }

  #notebook(notebookId: string): RuntimeInfo {
    const notebook = this.#notebooks.get(notebookId);
    if (!notebook) throw new RuntimeError('notebook_not_found', 'no such notebook');
    return notebook;
  }

  #set(info: RuntimeInfo): RuntimeInfo {
    this.#notebooks.set(info.notebookId, info);
    this.emit({ type: 'lifecycle', notebookId: info.notebookId, info });
    return info;
  }

  async createNotebook(request: CreateNotebookRequest): Promise<RuntimeInfo> {
    this.#enter('createNotebook', request);
    this.#counter += 1;
    const hasDependencies = (request.dependencies?.length ?? 0) > 0;
    return this.#set({
      notebookId: `nb-${this.#counter}`,
      path: request.ephemeral ? null : (request.path ?? `untitled-${this.#counter}.ipynb`),
      runtime: request.runtime ?? 'python',
      lifecycle: 'idle',
      kernelStatus: 'idle',
      envSource: hasDependencies ? 'uv:inline' : 'uv:prewarmed',
      envHash: null,
      trust: {
        status: hasDependencies ? 'trusted' : 'no_dependencies',
        needsApproval: false,
        untrusted: [],
        warnings: [],
        fingerprint: 'sha256:test',
      },
    });
  }

  async openNotebook(path: string): Promise<RuntimeInfo> {
    this.#enter('openNotebook', path);
    if (path.startsWith('/') || path.split('/').includes('..')) {
      throw new RuntimeError('path_outside_workspace', 'the path is outside the workspace');
    }
    return this.createNotebook({ path });
  }

  async getNotebook(notebookId: string): Promise<RuntimeInfo> {
    this.#enter('getNotebook', notebookId);
    return this.#notebook(notebookId);
  }

  async listNotebooks(): Promise<RuntimeInfo[]> {
    this.#enter('listNotebooks');
    return [...this.#notebooks.values()];
  }

  async execute(notebookId: string, request: ExecuteRequest): Promise<ExecuteResult> {
    this.#enter('execute', notebookId, request);
    this.#notebook(notebookId);
    if (request.code === 'hang') {
      await new Promise<void>((resolve) => {
        this.hanging.push(resolve);
        this.onHang?.();
      });
    }
    const output = { output_type: 'stream' as const, name: 'stdout' as const, text: request.code };
    this.emit({ type: 'output', notebookId, output });
    return { status: 'ok', executionCount: 1, outputs: [output] };
  }

  async interrupt(notebookId: string): Promise<RuntimeInfo> {
    this.#enter('interrupt', notebookId);
    return this.#notebook(notebookId);
  }

  async restart(notebookId: string): Promise<RuntimeInfo> {
    this.#enter('restart', notebookId);
    return this.#set({ ...this.#notebook(notebookId), lifecycle: 'idle', kernelStatus: 'idle' });
  }

  async shutdown(notebookId: string): Promise<RuntimeInfo> {
    this.#enter('shutdown', notebookId);
    const info = this.#set({
      ...this.#notebook(notebookId),
      lifecycle: 'shutdown',
      kernelStatus: null,
    });
    return info;
  }

  async manageDependencies(
    notebookId: string,
    request: ManageDependenciesRequest,
  ): Promise<RuntimeInfo> {
    this.#enter('manageDependencies', notebookId, request);
    const info = this.#notebook(notebookId);
    return this.#set({
      ...info,
      trust: { ...info.trust, status: request.trust ? 'trusted' : info.trust.status },
    });
  }

  async pool(): Promise<PoolStatus> {
    this.#enter('pool');
    const empty = { size: 0, ready: 0, warming: 0, failures: 0 };
    return { envPool: { ...empty }, kernelPool: { ...empty } };
  }

  /** Subscriptions ever made (a reconnecting client makes a new one). */
  subscriptionsMade = 0;

  subscribe(listener: (event: RuntimeEvent) => void): () => void {
    this.subscriptionsMade += 1;
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  get subscriberCount(): number {
    return this.#listeners.size;
  }
}
