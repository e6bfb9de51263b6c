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
  RuntimeHost,
  RuntimeInfo,
  WorkerInfo,
} from './contract.js';
import { RuntimeError } from './errors.js';

export interface EmbeddedRuntimeHostOptions {
  /** The registry id of this runtime (default `embedded`). */
  id?: string;
  /** Runs on `close()`, e.g. the runtime's own graceful shutdown. */
  onClose?: () => Promise<void> | void;
}

/**
 * A runtime in this process as a `RuntimeHost`. Calls go straight to the runtime: its typed
 * errors pass through unchanged (they never left the process). After `close()` every call
 * fails with `runtime_closed`.
 */
export class EmbeddedRuntimeHost implements RuntimeHost {
  readonly id: string;
  readonly kind = 'embedded' as const;
  readonly #api: RuntimeApi;
  readonly #onClose: (() => Promise<void> | void) | undefined;
  readonly #unsubscribers = new Set<() => void>();
  #closed = false;

  constructor(api: RuntimeApi, options: EmbeddedRuntimeHostOptions = {}) {
    this.#api = api;
    this.id = options.id ?? 'embedded';
    this.#onClose = options.onClose;
  }

  #live(): RuntimeApi {
    if (this.#closed) throw new RuntimeError('runtime_closed', 'the runtime host is closed');
    return this.#api;
  }

  toJSON(): { id: string; kind: 'embedded' } {
    return { id: this.id, kind: this.kind };
  }

  async describe(): Promise<RuntimeDescriptor> {
    return this.#live().describe();
  }
  async storeBundle(bundle: unknown): Promise<BundleAvailability> {
    return this.#live().storeBundle(bundle);
  }
  async listBundles(): Promise<BundleSummary[]> {
    return this.#live().listBundles();
  }
  async checkBundle(ref: { id: string; digest: string }): Promise<BundleAvailability> {
    return this.#live().checkBundle(ref);
  }
  async createWorker(request: unknown): Promise<WorkerInfo> {
    return this.#live().createWorker(request);
  }
  async getWorker(workerId: string): Promise<WorkerInfo> {
    return this.#live().getWorker(workerId);
  }
  async listWorkers(): Promise<WorkerInfo[]> {
    return this.#live().listWorkers();
  }
  async stopWorker(workerId: string): Promise<WorkerInfo> {
    return this.#live().stopWorker(workerId);
  }
  async createNotebook(request: CreateNotebookRequest): Promise<RuntimeInfo> {
    return this.#live().createNotebook(request);
  }
  async openNotebook(path: string): Promise<RuntimeInfo> {
    return this.#live().openNotebook(path);
  }
  async getNotebook(notebookId: string): Promise<RuntimeInfo> {
    return this.#live().getNotebook(notebookId);
  }
  async listNotebooks(): Promise<RuntimeInfo[]> {
    return this.#live().listNotebooks();
  }
  async execute(notebookId: string, request: ExecuteRequest): Promise<ExecuteResult> {
    return this.#live().execute(notebookId, request);
  }
  async interrupt(notebookId: string): Promise<RuntimeInfo> {
    return this.#live().interrupt(notebookId);
  }
  async restart(notebookId: string): Promise<RuntimeInfo> {
    return this.#live().restart(notebookId);
  }
  async shutdown(notebookId: string): Promise<RuntimeInfo> {
    return this.#live().shutdown(notebookId);
  }
  async manageDependencies(
    notebookId: string,
    request: ManageDependenciesRequest,
  ): Promise<RuntimeInfo> {
    return this.#live().manageDependencies(notebookId, request);
  }
  async pool(): Promise<PoolStatus> {
    return this.#live().pool();
  }

  subscribe(listener: (event: RuntimeEvent) => void): () => void {
    const unsubscribe = this.#live().subscribe(listener);
    const tracked = () => {
      if (!this.#unsubscribers.delete(tracked)) return;
      unsubscribe();
    };
    this.#unsubscribers.add(tracked);
    return tracked;
  }

  /** Drops this host's subscriptions, then runs `onClose` once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const unsubscribe of [...this.#unsubscribers]) unsubscribe();
    await this.#onClose?.();
  }
}
