// The runtime contract: the wire shapes every runtime speaks (in-process, over /v1, and through
// the workspace server's REST/MCP surface) and the RuntimeHost interface the registry drives.
// One definition here keeps the embedded runtime, the standalone server, the remote client and
// the workspace server in agreement; each shape is a zod schema so every process boundary
// parses what it receives.
import { z } from 'zod';

export const RuntimeKindSchema = z.enum(['python', 'deno']);
export type RuntimeKind = z.infer<typeof RuntimeKindSchema>;

export const LifecycleSchema = z.enum([
  'not_started',
  'resolving',
  'awaiting_trust',
  'awaiting_env_build',
  'preparing_env',
  'launching',
  'connecting',
  'idle',
  'busy',
  'error',
  'shutdown',
]);
export type Lifecycle = z.infer<typeof LifecycleSchema>;

export const KernelStatusSchema = z.enum(['starting', 'idle', 'busy', 'dead']);
export type KernelStatus = z.infer<typeof KernelStatusSchema>;

export const TrustStatusSchema = z.enum([
  'trusted',
  'untrusted',
  'signature_invalid',
  'no_dependencies',
]);

export const DependencyRefSchema = z.object({
  ecosystem: z.enum(['pypi', 'conda']),
  name: z.string(),
  spec: z.string(),
});
export type DependencyRef = z.infer<typeof DependencyRefSchema>;

/** A machine-readable way out of a blocked state: the exact MCP call and HTTP request. */
export const NextActionSchema = z.object({
  kind: z.enum(['approve_dependencies', 'approve_env_build', 'restart_kernel']),
  message: z.string(),
  untrusted: z.array(DependencyRefSchema).optional(),
  mcp: z.object({ tool: z.string(), arguments: z.record(z.string(), z.unknown()) }),
  http: z.object({
    method: z.enum(['GET', 'POST', 'DELETE']),
    path: z.string(),
    body: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type NextAction = z.infer<typeof NextActionSchema>;

export const TrustSummarySchema = z.object({
  status: TrustStatusSchema,
  needsApproval: z.boolean(),
  untrusted: z.array(DependencyRefSchema),
  /** Trust warnings (typosquats, direct references, ...): `kind` + human `message`. */
  warnings: z.array(z.looseObject({ kind: z.string(), message: z.string() })),
  fingerprint: z.string(),
});
export type TrustSummary = z.infer<typeof TrustSummarySchema>;

/**
 * Known `error.reason` values: missing_ipykernel, env_build_failed, conda_env_yml_missing,
 * kernel_exited, kernel_start_timeout, kernel_died, unsupported_runtime, project_file_invalid,
 * notebook_invalid, invalid_dependency, restart_limit_reached.
 */
export const RuntimeErrorInfoSchema = z.object({ reason: z.string(), details: z.string() });

/** One shape for every caller that asks about a notebook's runtime. */
export const RuntimeInfoSchema = z.object({
  notebookId: z.string(),
  /** Relative to the workspace root; null for an ephemeral notebook. */
  path: z.string().nullable(),
  runtime: RuntimeKindSchema,
  lifecycle: LifecycleSchema,
  kernelStatus: KernelStatusSchema.nullable(),
  envSource: z.string().nullable(),
  envHash: z.string().nullable(),
  trust: TrustSummarySchema,
  nextAction: NextActionSchema.optional(),
  error: RuntimeErrorInfoSchema.optional(),
  /**
   * Whether this notebook's kernel runs in the sandbox (`bwrap`) or not (`off`: the kernel can
   * read what the host user can, see the runtime's README). Optional: older runtimes omit it.
   */
  sandbox: z.enum(['bwrap', 'off']).optional(),
});
export type RuntimeInfo = z.infer<typeof RuntimeInfoSchema>;

const MimeBundle = z.record(z.string(), z.unknown());

/** Kernel outputs in nbformat shape. */
export const NotebookOutputSchema = z.discriminatedUnion('output_type', [
  z.object({
    output_type: z.literal('stream'),
    name: z.enum(['stdout', 'stderr']),
    text: z.string(),
  }),
  z.object({
    output_type: z.literal('display_data'),
    data: MimeBundle,
    metadata: z.record(z.string(), z.unknown()),
  }),
  z.object({
    output_type: z.literal('execute_result'),
    execution_count: z.number().int().nullable(),
    data: MimeBundle,
    metadata: z.record(z.string(), z.unknown()),
  }),
  z.object({
    output_type: z.literal('error'),
    ename: z.string(),
    evalue: z.string(),
    traceback: z.array(z.string()),
  }),
]);
export type NotebookOutput = z.infer<typeof NotebookOutputSchema>;

export const MAX_CODE_BYTES = 1024 * 1024;

export const ExecuteRequestSchema = z.object({
  code: z.string().max(MAX_CODE_BYTES),
  timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
});
export type ExecuteRequest = z.infer<typeof ExecuteRequestSchema>;

/** What the per-execution output budget cut off (the outputs then end with a marker). */
export const OutputTruncationSchema = z.object({
  budgetBytes: z.number().int().nonnegative(),
  droppedBytes: z.number().int().nonnegative(),
  droppedOutputs: z.number().int().nonnegative(),
  /** Messages over the per-message limit, refused unread (size unknown). */
  refusedMessages: z.number().int().nonnegative(),
});

export type OutputTruncation = z.infer<typeof OutputTruncationSchema>;

export const ExecuteResultSchema = z.object({
  status: z.enum(['ok', 'error', 'aborted']),
  executionCount: z.number().int().nullable(),
  outputs: z.array(NotebookOutputSchema),
  truncated: OutputTruncationSchema.optional(),
});
export type ExecuteResult = z.infer<typeof ExecuteResultSchema>;

const DependencyList = z.array(z.string().max(1024)).max(500);

export const CreateNotebookRequestSchema = z.object({
  path: z.string().max(4096).optional(),
  runtime: RuntimeKindSchema.optional(),
  dependencies: DependencyList.optional(),
  packageManager: z.enum(['uv', 'conda']).optional(),
  ephemeral: z.boolean().optional(),
});
export type CreateNotebookRequest = z.infer<typeof CreateNotebookRequestSchema>;

export const OpenNotebookRequestSchema = z.object({ path: z.string().min(1).max(4096) });

export const ManageDependenciesRequestSchema = z.object({
  add: DependencyList.optional(),
  remove: DependencyList.optional(),
  trust: z.boolean().optional(),
  fingerprint: z.string().max(256).optional(),
  apply: z.enum(['none', 'sync', 'restart']).optional(),
});
export type ManageDependenciesRequest = z.infer<typeof ManageDependenciesRequestSchema>;

export const WorkerStateSchema = z.enum(['starting', 'running', 'stopped', 'failed']);
export type WorkerState = z.infer<typeof WorkerStateSchema>;

export const WorkerInfoSchema = z.object({
  workerId: z.string(),
  profile: z.object({ kind: z.enum(['builtin', 'named']), value: z.string() }),
  mode: z.enum(['builtin', 'bundle']),
  kind: z.enum(['kernel', 'command']),
  state: WorkerStateSchema,
  reason: z.string().optional(),
  exitCode: z.number().int().nullable().optional(),
  configBundle: z.object({ id: z.string(), digest: z.string() }).optional(),
  /** For kernel workers: the notebook-less kernel's id, usable with execute. */
  notebookId: z.string().optional(),
  createdAt: z.string(),
});
export type WorkerInfo = z.infer<typeof WorkerInfoSchema>;

export const BundleSummarySchema = z.looseObject({
  id: z.string(),
  digest: z.string(),
  revision: z.number().int(),
  workspaceId: z.string(),
  createdAt: z.string(),
});
export type BundleSummary = z.infer<typeof BundleSummarySchema>;

export const BundleAvailabilitySchema = z.object({
  available: z.literal(true),
  summary: BundleSummarySchema,
});
export type BundleAvailability = z.infer<typeof BundleAvailabilitySchema>;

export const RuntimeHealthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'unreachable']),
  checkedAt: z.string(),
  details: z.string().optional(),
});
export type RuntimeHealth = z.infer<typeof RuntimeHealthSchema>;

export const RuntimeDescriptorSchema = z.object({
  id: z.string(),
  version: z.string(),
  capabilities: z.array(z.string()),
  health: RuntimeHealthSchema,
  /**
   * The largest request body the runtime's server accepts, in bytes. Set by the `/v1` server
   * (an in-process runtime has no such limit); a client sends nothing larger.
   */
  maxRequestBytes: z.number().int().positive().optional(),
});
export type RuntimeDescriptor = z.infer<typeof RuntimeDescriptorSchema>;

/** Env and kernel pool state (sizes, ready, warming, failures); loose so pools can add detail. */
export const PoolStatusSchema = z.looseObject({
  envPool: z.looseObject({
    size: z.number(),
    ready: z.number(),
    warming: z.number(),
    failures: z.number(),
  }),
  kernelPool: z.looseObject({
    size: z.number(),
    ready: z.number(),
    warming: z.number(),
    failures: z.number(),
  }),
});
export type PoolStatus = z.infer<typeof PoolStatusSchema>;

export const RuntimeEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('lifecycle'), notebookId: z.string(), info: RuntimeInfoSchema }),
  z.object({
    type: z.literal('env_progress'),
    notebookId: z.string(),
    phase: z.string(),
    message: z.string(),
    fraction: z.number().min(0).max(1).optional(),
  }),
  z.object({ type: z.literal('output'), notebookId: z.string(), output: NotebookOutputSchema }),
  z.object({ type: z.literal('worker_state'), worker: WorkerInfoSchema }),
  z.object({
    type: z.literal('worker_output'),
    workerId: z.string(),
    stream: z.enum(['stdout', 'stderr']),
    text: z.string(),
  }),
]);
export type RuntimeEvent = z.infer<typeof RuntimeEventSchema>;

/** Topics a subscriber can pick (the workspace server adds `skills`). */
export const eventTopic = (event: RuntimeEvent): 'lifecycle' | 'env' | 'outputs' | 'workers' =>
  event.type === 'lifecycle'
    ? 'lifecycle'
    : event.type === 'env_progress'
      ? 'env'
      : event.type === 'output'
        ? 'outputs'
        : 'workers';

/**
 * What a runtime does, wherever it runs. The embedded runtime implements it in-process, the
 * standalone server exposes it under /v1, and `RemoteRuntimeHost` speaks it over HTTP.
 * Failures are typed errors with a `code` (see `runtimeErrorStatus`).
 */
export interface RuntimeApi {
  describe(): Promise<RuntimeDescriptor>;

  storeBundle(bundle: unknown): Promise<BundleAvailability>;
  listBundles(): Promise<BundleSummary[]>;
  checkBundle(ref: { id: string; digest: string }): Promise<BundleAvailability>;

  /** `request` is a config-bundles `CreateWorkerRequest`; the runtime parses it. */
  createWorker(request: unknown): Promise<WorkerInfo>;
  getWorker(workerId: string): Promise<WorkerInfo>;
  listWorkers(): Promise<WorkerInfo[]>;
  stopWorker(workerId: string): Promise<WorkerInfo>;

  createNotebook(request: CreateNotebookRequest): Promise<RuntimeInfo>;
  openNotebook(path: string): Promise<RuntimeInfo>;
  getNotebook(notebookId: string): Promise<RuntimeInfo>;
  listNotebooks(): Promise<RuntimeInfo[]>;
  execute(notebookId: string, request: ExecuteRequest): Promise<ExecuteResult>;
  interrupt(notebookId: string): Promise<RuntimeInfo>;
  restart(notebookId: string): Promise<RuntimeInfo>;
  shutdown(notebookId: string): Promise<RuntimeInfo>;
  manageDependencies(notebookId: string, request: ManageDependenciesRequest): Promise<RuntimeInfo>;

  pool(): Promise<PoolStatus>;
  /** Events as they happen; returns the unsubscribe function. */
  subscribe(listener: (event: RuntimeEvent) => void): () => void;
}

/** A runtime as the registry holds it: the API plus identity and teardown. */
export interface RuntimeHost extends RuntimeApi {
  readonly id: string;
  readonly kind: 'embedded' | 'remote';
  close(): Promise<void>;
}

export const BundleDiagnosticSchema = z.object({ code: z.string(), message: z.string() });

/** What a runtime said to a bundle sync. */
export const BundleSyncResultSchema = z.object({
  state: z.enum(['accepted', 'rejected']),
  availability: BundleAvailabilitySchema.optional(),
  diagnostics: z.array(BundleDiagnosticSchema),
});
export type BundleSyncResult = z.infer<typeof BundleSyncResultSchema>;

/** The registry's record of one runtime: health and which bundle digests it accepted or refused. */
export const RuntimeEntrySchema = z.object({
  id: z.string(),
  kind: z.enum(['embedded', 'remote']),
  default: z.boolean(),
  health: RuntimeHealthSchema,
  bundles: z.array(
    z.object({
      id: z.string(),
      digest: z.string(),
      state: z.enum(['accepted', 'rejected']),
      at: z.string(),
      diagnostics: z.array(BundleDiagnosticSchema),
    }),
  ),
});
export type RuntimeEntry = z.infer<typeof RuntimeEntrySchema>;

/** The workspace server's view of all its runtimes, local and remote, behind one interface. */
export interface RuntimeRegistryApi {
  register(host: RuntimeHost, options?: { default?: boolean }): RuntimeEntry;
  /** Closes the host; the default runtime cannot be removed. */
  unregister(runtimeId: string): Promise<void>;
  list(): RuntimeEntry[];
  entry(runtimeId: string): RuntimeEntry;
  /** Throws `runtime_not_found`. */
  get(runtimeId: string): RuntimeHost;
  defaultRuntime(): RuntimeHost;
  /** Probes now and records the result. */
  probe(runtimeId: string): Promise<RuntimeHealth>;
  syncBundle(runtimeId: string, bundle: unknown): Promise<BundleSyncResult>;
  checkBundle(runtimeId: string, ref: { id: string; digest: string }): Promise<BundleAvailability>;
  /** Syncs `bundle` first when the runtime lacks it; `worker_config_bundle_sync_rejected` if refused. */
  createWorker(runtimeId: string, request: unknown, bundle?: unknown): Promise<WorkerInfo>;
  close(): Promise<void>;
}

// The `/v1` envelopes around lists and availability: one definition for the server's routes
// and the remote client that reads them.
export const BundlesResponse = z.object({ bundles: z.array(BundleSummarySchema) });
export const AvailabilityResponse = z.object({ availability: BundleAvailabilitySchema });
export const WorkersResponse = z.object({ workers: z.array(WorkerInfoSchema) });
export const NotebooksResponse = z.object({ notebooks: z.array(RuntimeInfoSchema) });
